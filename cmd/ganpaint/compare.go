package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/compare"
	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
)

func init() {
	subcommands["compare"] = subcommand{
		summary: "GAN removal (the painter's default eraser) against learned, Navier–Stokes and Telea inpainting over many images (table)",
		run:     runCompare,
	}
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("compare", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", "model directory (default: the embedded default model)")
	concept := fl.String("concept", "", "concept to remove, a segmenter class with dissected units (required)")
	samples := fl.Int("samples", 200, "images where the concept is present")
	layer := fl.String("layer", "", "layer the GAN removes at (default: the manifest's default_layer)")
	brush := fl.String("brush", "", "erasing brush of the concept, e.g. tree-iou (default: the painter's default eraser)")
	step := fl.String("step", "", "its strength step: low, medium or high (default: the brush's default step)")
	units := fl.Int("units", brushes.DefaultUnits, "units of IoU-ranked brushes (the painter's default)")
	firstID := fl.Int64("first-id", 0, "images are tried in id order from this id")
	minShare := fl.Float64("min-share", 0.01, "an image counts when the concept covers at least this share of it")
	cellShare := fl.Float64("cell-share", 0.25, "stroke scope: a layer cell is brushed when the concept covers at least this share of it")
	radius := fl.Float64("radius", compare.DefaultRadius, "radius of the Navier–Stokes and Telea methods, pixels")
	dilate := fl.Int("dilate", compare.DefaultDilate, "everywhere scope: grow the segmenter's mask by this many pixels (0 = not at all)")
	ortLib := ortLibFlag(fl)
	quiet := fl.Bool("quiet", false, "no progress lines")
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	if *concept == "" {
		return errors.New("--concept NAME is required, e.g. --concept tree")
	}
	if *samples <= 0 || *units <= 0 {
		return fmt.Errorf("--samples (%d) and --units (%d) must be positive", *samples, *units)
	}
	if !(*minShare > 0 && *minShare <= 1) || !(*cellShare > 0 && *cellShare <= 1) {
		return fmt.Errorf("--min-share (%v) and --cell-share (%v) must be in (0, 1]", *minShare, *cellShare)
	}
	if *dilate < 0 || *dilate > 32 {
		return fmt.Errorf("--dilate %d must be 0..32", *dilate)
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
	concepts, err := conceptsFor(fsys, m)
	if err != nil {
		return err
	}
	if concepts == nil {
		return errNoConcepts
	}
	named, ok := concepts.(namedResolver)
	if !ok {
		return errNoConcepts
	}
	// The painter's eraser, resolved as a stroke in the browser is: a
	// recipe trained at a later layer removes there.
	gan, at, name, err := named.Named(li.Name, *concept, true, brushOpts{Brush: *brush, Step: *step, Units: *units})
	if err != nil {
		return err
	}
	cfg := compare.Config{
		Layer: at, GAN: gan, Brush: name, Concept: *concept, Samples: *samples, FirstID: *firstID,
		MinShare: *minShare, CellShare: *cellShare, Radius: *radius, Dilate: *dilate,
	}
	if *dilate == 0 {
		cfg.Dilate = -1
	}
	switch ref, err := fid.LoadReference(fsys); {
	case err == nil && m.FeatureDim() > 0:
		s := ref.Stats()
		cfg.Reference = &s
	case err == nil:
		fmt.Fprintln(stderr, "compare: the segmenter has no features output; FID left out (see training/seg_features.py)")
	case errors.Is(err, fid.ErrNoReference):
		fmt.Fprintln(stderr, "compare: the model has no "+fid.ReferenceFile+"; FID left out (see ganpaint fidref)")
	default:
		return err
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	start := time.Now()
	t, err := compare.Evaluate(ctx, m, cfg)
	if err != nil {
		return err
	}
	t.Write(stdout)
	fmt.Fprintf(stdout, "\n%d images in %s\n", len(t.IDs), time.Since(start).Round(time.Second))
	return nil
}

// namedResolver resolves a brush and names it (setResolver does).
type namedResolver interface {
	Named(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, string, error)
}
