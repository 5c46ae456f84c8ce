package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

func init() {
	subcommands["slim"] = subcommand{
		summary: "copy a model with only what painting and its share links need (to keep an old model embedded)",
		run:     runSlim,
	}
}

// slimKeep says which optional parts a slimmed model keeps. Rendering and
// painting a share token needs only the generator, the dissection (rankings,
// levels and recipes), efficacy.json (each brush's steps) and the artifact
// rankings (the "repair" toggle); the segmenter, discriminator and inpainter
// serve the analysis tools (compare panel, growth overlay, the report's
// segmentations, artifact ranking), and fid_reference.json the FID tool.
type slimKeep struct {
	Segmenter bool
}

// slimResult is what slimModel copied and left out.
type slimResult struct {
	Kept, Dropped []string
	KeptBytes     int64
	DroppedBytes  int64
}

func runSlim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("slim", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", "model directory to slim (default: the embedded default model)")
	out := fl.String("out", "", "new model directory (required; must not exist or be empty)")
	keepSeg := fl.Bool("keep-segmenter", false, "keep the segmenter: the compare panel, growth overlay and report segmentations stay on")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: ganpaint slim [--model DIR] --out DIR [--keep-segmenter]\n\n"+
			"Copies the model with only what painting and rendering its share links need: the\n"+
			"generator, the dissection (rankings, levels, recipes, artifact rankings) and\n"+
			"efficacy.json. Share links render byte-identically with the copy.\n\n")
		fl.PrintDefaults()
	}
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	src, name, err := modelSource(*model)
	if err != nil {
		return err
	}
	res, err := slimModel(src, *out, slimKeep{Segmenter: *keepSeg})
	if err != nil {
		return fmt.Errorf("slimming %s: %w", name, err)
	}
	fmt.Fprintf(stdout, "wrote %s: kept %d files (%.1f MB), left out %s (%.1f MB)\n", *out, len(res.Kept),
		float64(res.KeptBytes)/(1<<20), strings.Join(res.Dropped, ", "), float64(res.DroppedBytes)/(1<<20))
	return nil
}

// slimModel copies the model in src to the directory out, keeping only the
// files painting needs (slimKeep) and rewriting the manifest without the
// parts left out; without the segmenter the manifest keeps its classes as
// the palette, so the painter's colours stay.
func slimModel(src fs.FS, out string, keep slimKeep) (*slimResult, error) {
	data, err := fs.ReadFile(src, "manifest.json")
	if err != nil {
		return nil, err
	}
	man, err := inference.ParseManifest(data)
	if err != nil {
		return nil, err
	}
	if _, err := dissection.Load(src); err != nil {
		return nil, fmt.Errorf("a slimmed model paints with its dissection: %w", err)
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("--out %s is not empty", out)
	}
	keepFiles := map[string]bool{efficacy.File: true, "MODEL.md": true, "metrics.json": true}
	for _, b := range man.Generator.Blocks {
		keepFiles[path.Clean(b.File)] = true
	}
	keepFiles[path.Clean(man.Generator.ToRGB.File)] = true
	if keep.Segmenter && man.Segmenter != nil {
		keepFiles[path.Clean(man.Segmenter.File)] = true
	}
	if !keep.Segmenter && man.Segmenter != nil {
		man.Palette = append([]inference.ClassSpec(nil), man.Segmenter.Classes...)
		man.Segmenter = nil
	}
	man.Discriminator, man.Inpainter = nil, nil

	res := &slimResult{}
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "manifest.json" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// The dissection's data (index, layers, artifact rankings) is
		// JSON; its figures are not needed to paint.
		dis := path.Dir(p) == dissection.Dir && path.Ext(p) == ".json"
		if !keepFiles[p] && !dis {
			res.Dropped = append(res.Dropped, p)
			res.DroppedBytes += info.Size()
			return nil
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(out, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		res.Kept = append(res.Kept, p)
		res.KeptBytes += int64(len(b))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(man); err != nil {
		return nil, err
	}
	if _, err := inference.ParseManifest(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("the slimmed manifest does not parse: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "manifest.json"), buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	res.Kept = append(res.Kept, "manifest.json")
	res.KeptBytes += int64(buf.Len())
	slices.Sort(res.Kept)
	return res, nil
}
