package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
	"github.com/ganpaint-go/ganpaint/web"
)

func init() {
	subcommands["report"] = subcommand{
		summary: "write the dissection report as static HTML with its images",
		run:     runReport,
	}
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("report", flag.ContinueOnError)
	fset.SetOutput(stderr)
	modelDir := fset.String("model", "", "model directory with a dissection (default: the model embedded in the binary)")
	out := fset.String("out", "", "folder to write the report into (required)")
	workers := fset.Int("workers", 0, "inference workers and image renderers (default: number of CPUs)")
	ortLib := ortLibFlag(fset)
	if err := parseArgs(fset, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return fmt.Errorf("--out %q is a file", *out)
	}
	modelFS, source, err := modelSource(*modelDir)
	if err != nil {
		return err
	}
	res, err := dissection.Load(modelFS)
	if err != nil {
		if errors.Is(err, dissection.ErrNoResults) {
			return fmt.Errorf("model %s has no dissection to report: run `ganpaint dissect --model DIR` first", source)
		}
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := loadModel(modelFS, source, *ortLib, inference.Options{Workers: *workers, Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()
	rep, err := report.New(m.Manifest(), m.Layers(), res)
	if err != nil {
		return err
	}
	n := *workers
	if n <= 0 {
		n = 2
	}
	imgs, err := report.NewImages(rep, m, report.ImagesConfig{Workers: n, CacheBytes: 16 << 20})
	if err != nil {
		return err
	}
	assets, err := web.NewAssets()
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := web.WriteStaticReport(ctx, *out, rep, imgs, assets, n, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d pages and %d images (%.1f MB) to %s in %s; open %s\n", st.Pages, st.Images,
		float64(st.Bytes)/1e6, *out, time.Since(start).Round(time.Second), report.StaticLinks().Index())
	return nil
}
