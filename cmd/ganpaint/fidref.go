package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/ganpaint-go/ganpaint/compare"
	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
)

func init() {
	subcommands["fidref"] = subcommand{
		summary: "store the segmenter-feature statistics of real renders (FID reference) with a model",
		run:     runFIDRef,
	}
}

func runFIDRef(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fidref", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model directory (required); writes DIR/"+fid.ReferenceFile)
	renders := fs.String("renders", "", "renders of real scenes: an .npz from training/build_dataset.py (required)")
	source := fs.String("source", "", "how the renders were made, stored in the file (default: the .npz name)")
	ortLib := ortLibFlag(fs)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" || *renders == "" {
		return fmt.Errorf("--model DIR and --renders FILE.npz are required " +
			"(make the renders with: /usr/bin/python3 training/build_dataset.py --n 2000 --size 128 --seed 9 --out FILE.npz)")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, _, err := openModel(*model, *ortLib, inference.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()
	stats, err := compare.ReferenceFromRenders(ctx, m, *renders)
	if err != nil {
		return err
	}
	src := *source
	if src == "" {
		src = filepath.Base(*renders)
	}
	if err := fid.WriteReference(*model, fid.NewReference(stats, src)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d renders, %d features\n", filepath.Join(*model, fid.ReferenceFile), stats.N, stats.Dim())
	return nil
}
