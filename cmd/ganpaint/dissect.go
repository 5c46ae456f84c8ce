package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

func init() {
	subcommands["dissect"] = subcommand{
		summary: "find which units draw which concepts; writes <model>/dissection/",
		run:     runDissect,
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runDissect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dissect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model directory (required); results go to DIR/dissection/")
	layers := fs.String("layers", "", "comma-separated layers to dissect (default: the manifest's default_layer)")
	samples := fs.Int("samples", 1000, "number of generated images")
	seed := fs.Int64("seed", 0, "selects the image ids (same seed, same ids)")
	threshold := fs.String("threshold", dissection.MethodQuantile, "unit threshold: quantile (fixed top quantile) or iqr (IQR-maximising level)")
	quantile := fs.Float64("quantile", 0.99, "threshold quantile for --threshold quantile")
	iouMin := fs.Float64("iou", 0.05, "a unit is interpretable above this IoU with its label")
	causalSamples := fs.Int("causal-samples", 24, "held-out images per causal measurement (0 = skip causal effects)")
	causalLayers := fs.String("causal-layers", "", "layers to measure causal effects on (default: the default_layer if dissected, else the first)")
	causalClasses := fs.String("causal-classes", "", "classes to measure (default: every class covering ≥ 0.1% of pixels)")
	locationImages := fs.Int("location-images", 8, "images whose every region the location map paints (0 = no map)")
	batch := fs.Int("batch", 8, "images per inference call")
	workers := fs.Int("workers", 0, "inference workers and tally goroutines (default: number of CPUs)")
	ortLib := fs.String("ort-lib", "", "ONNX Runtime library (default: $ONNXRUNTIME_LIB, then ./.ort/)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *model == "" {
		return fmt.Errorf("--model DIR is required")
	}
	if *samples <= 0 {
		return fmt.Errorf("--samples must be > 0 (got %d)", *samples)
	}
	lib, err := inference.ResolveLibrary(*ortLib)
	if err != nil {
		return err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := inference.LoadDir(*model, inference.Options{Workers: *workers, Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()

	cfg := dissection.Config{
		Layers: splitList(*layers), Samples: *samples, Seed: *seed, Method: *threshold,
		Quantile: *quantile, IoUThreshold: *iouMin, Batch: *batch, InFlight: *workers, Workers: *workers,
		Logger: logger,
		Causal: dissection.CausalConfig{Samples: *causalSamples, Layers: splitList(*causalLayers),
			Classes: splitList(*causalClasses), LocationImages: *locationImages},
	}
	if len(cfg.Layers) == 0 {
		cfg.Layers = []string{m.Manifest().DefaultLayer}
	}
	if *causalSamples == 0 {
		cfg.Causal.Samples = -1
	}
	if *locationImages == 0 {
		cfg.Causal.LocationImages = -1
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	start := time.Now()
	res, err := dissection.Dissect(ctx, m, cfg)
	if err != nil {
		return err
	}
	if err := dissection.Save(*model, res); err != nil {
		return err
	}
	for _, name := range cfg.Layers {
		l, ok := res.Layers[name]
		if !ok {
			continue
		}
		l.WriteSummary(stdout)
		if l.Causal != nil {
			l.Causal.WriteTable(stdout, l.ClassNames)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "wrote %s/%s/ in %s\n", strings.TrimRight(*model, "/"), dissection.Dir, time.Since(start).Round(time.Second))
	return nil
}
