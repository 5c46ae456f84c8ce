package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/ganpaint-go/ganpaint/artifacts"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
)

func init() {
	subcommands["artifacts"] = subcommand{
		summary: "rank a layer's units by how much ablating each improves realism; writes <model>/dissection/artifacts-<layer>.json",
		run:     runArtifacts,
	}
}

func runArtifacts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("artifacts", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", "model directory (required); the ranking goes next to its dissection")
	layer := fl.String("layer", "", "layer (default: the manifest's default_layer)")
	samples := fl.Int("samples", 48, "images each unit is ablated on")
	holdout := fl.Int("holdout", 200, "other images the repair (top units ablated together) is measured on")
	seed := fl.Int64("seed", 3, "draws the image ids (a dissection uses seed 0)")
	ks := fl.String("k", "5,10,20", "repair sizes to measure, comma-separated")
	repairK := fl.Int("repair-k", 10, "units the painter's repair toggle ablates")
	repairRanking := fl.String("repair-ranking", "", "ranking the toggle takes its units from: fid or discriminator (default: fid when measured)")
	batch := fl.Int("batch", 16, "images per generator call")
	top := fl.Int("top", 10, "units listed per ranking")
	sheetIDs := fl.Int("sheet-images", 3, "images in the before/after sheet (0 = no sheet)")
	sheetOnly := fl.Bool("sheet-only", false, "only redraw the sheet from the stored ranking (no measuring)")
	ortLib := ortLibFlag(fl)
	quiet := fl.Bool("quiet", false, "no progress lines")
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	if *model == "" {
		return errors.New("--model DIR is required")
	}
	if *samples < 2 || *holdout < 2 || *top < 1 || *sheetIDs < 0 || *sheetIDs > 16 {
		return fmt.Errorf("--samples (%d) and --holdout (%d) must be ≥ 2, --top ≥ 1, --sheet-images 0..16", *samples, *holdout)
	}
	var kList []int
	for _, s := range splitList(*ks) {
		var k int
		if _, err := fmt.Sscan(s, &k); err != nil || k < 1 || fmt.Sprint(k) != s {
			return fmt.Errorf("--k %q: want positive integers, comma-separated", *ks)
		}
		kList = append(kList, k)
	}
	m, fsys, err := openModel(*model, *ortLib, inference.Options{Workers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer m.Close()
	li, err := layerOrDefault(m, *layer)
	if err != nil {
		return err
	}
	cfg := artifacts.Config{Layer: li.Name, Samples: *samples, Holdout: *holdout, Seed: *seed, Ks: kList,
		RepairK: *repairK, RepairRanking: *repairRanking, Batch: *batch}
	switch ref, err := fid.LoadReference(fsys); {
	case err == nil && m.FeatureDim() > 0:
		s := ref.Stats()
		cfg.Reference = &s
	case err == nil:
		fmt.Fprintln(stderr, "artifacts: the segmenter has no features output; FID left out (see training/seg_features.py)")
	case errors.Is(err, fid.ErrNoReference):
		fmt.Fprintln(stderr, "artifacts: the model has no "+fid.ReferenceFile+"; FID left out (see ganpaint fidref)")
	default:
		return err
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	out := filepath.Join(*model, dissection.Dir, artifacts.FileName(li.Name))
	var res *artifacts.Result
	if *sheetOnly {
		if res, err = artifacts.Load(fsys, li.Name); err != nil {
			return err
		}
		if *sheetIDs == 0 {
			return errors.New("--sheet-only needs --sheet-images > 0")
		}
	} else {
		if res, err = artifacts.Rank(ctx, m, cfg); err != nil {
			return err
		}
		if err := artifacts.Save(*model, res); err != nil {
			return err
		}
		res.WriteSummary(stdout, *top)
		fmt.Fprintf(stdout, "\nwrote %s in %.0f s\n", out, res.Seconds)
	}
	if *sheetIDs > 0 {
		ids, err := dissection.SampleIDs(*seed, *sheetIDs, m.Manifest().Z.MaxID)
		if err != nil {
			return err
		}
		sheet, err := artifacts.Sheet(ctx, m, res, ids, min(*top, 8))
		if err != nil {
			return err
		}
		// JPEG: the sheet is a picture for people, and GAN texture makes a
		// PNG of it over a megabyte inside the binary's embedded model.
		jpg := strings.TrimSuffix(out, ".json") + ".jpg"
		if err := atomicfile.Write(jpg, func(w io.Writer) error { return inference.EncodeJPEG(w, sheet, 85) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: rows = the top %d units, then the repair; each pair = before | unit ablated\n", jpg, min(*top, 8))
	}
	return nil
}
