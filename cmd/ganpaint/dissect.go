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
	if len(args) > 0 && args[0] == "merge" {
		return runDissectMerge(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("dissect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", "model directory (required); results go to DIR/dissection/")
	layers := fs.String("layers", "", "comma-separated layers to dissect (default: the manifest's default_layer)")
	samples := fs.Int("samples", 1000, "number of generated images")
	seed := fs.Int64("seed", 0, "selects the image ids (same seed, same ids)")
	threshold := fs.String("threshold", dissection.MethodQuantile, "unit threshold: quantile (fixed top quantile) or iqr (IQR-maximising level)")
	quantile := fs.Float64("quantile", 0.99, "threshold quantile for --threshold quantile")
	iouMin := fs.Float64("iou", 0.05, "a unit is interpretable above this IoU with its label")
	candidates := fs.String("candidates", dissection.CandidatesUpsampled, "where --threshold iqr takes its candidate levels: upsampled (quantiles of the activations upsampled to the segmentation, as the reference) or native (at the layer's resolution)")
	background := fs.String("background", "", "class never used as a label (default: the segmenter's declared background; none: no background)")
	causalSamples := fs.Int("causal-samples", 24, "held-out images per causal measurement (0 = skip causal effects)")
	causalLayers := fs.String("causal-layers", "", "layers to measure causal effects on (default: the default_layer if dissected, else the first)")
	causalClasses := fs.String("causal-classes", "", "classes to measure (default: every class covering ≥ 0.1% of pixels)")
	locationImages := fs.Int("location-images", 8, "images whose every region the location map paints (0 = no map)")
	batch := fs.Int("batch", 8, "images per inference call")
	workers := fs.Int("workers", 0, "inference workers and tally goroutines (default: number of CPUs)")
	ortLib := ortLibFlag(fs)
	quiet := fs.Bool("quiet", false, "no progress bar")
	shardFlag := fs.String("shard", "", "run part i/n of a sharded dissection (0 ≤ i < n) and write it to --parts; see 'ganpaint dissect merge'")
	stage := fs.String("stage", "quantiles", "with --shard: quantiles (round 1), upsampled (round 1b, iqr with upsampled candidates only; reads --parts/probes.part) or counts (round 2, reads --parts/thresholds.part)")
	partsDir := fs.String("parts", "", "with --shard: folder shared by the shards and the merges")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ganpaint dissect --model DIR [flags]\n       ganpaint dissect --model DIR --shard i/n --stage quantiles|upsampled|counts --parts FOLDER [flags]\n       ganpaint dissect merge --parts FOLDER [--stage upsampled | --model DIR]\n\nA sharded run: every shard runs --stage quantiles, then 'merge' writes the thresholds;\nfor --threshold iqr with upsampled candidates (the default candidates) it writes probes instead,\nevery shard runs --stage upsampled and 'merge --stage upsampled' writes the thresholds.\nThen every shard runs --stage counts (the later stages take only --model, --shard, --parts\nand machine flags), and 'merge --model DIR' writes DIR/dissection/ (docs/dissection-format.md).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("--model DIR is required")
	}
	if *samples <= 0 {
		return fmt.Errorf("--samples must be > 0 (got %d)", *samples)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, _, err := openModel(*model, *ortLib, inference.Options{Workers: *workers, Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()

	cfg := dissection.Config{
		Layers: splitList(*layers), Samples: *samples, Seed: *seed, Method: *threshold,
		Quantile: *quantile, IoUThreshold: *iouMin, Batch: *batch, InFlight: *workers, Workers: *workers,
		Candidates: *candidates, Background: *background,
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
	if *shardFlag != "" {
		shard, err := parseShard(*shardFlag)
		if err != nil {
			return err
		}
		return runShard(ctx, m, cfg, shard, *stage, *partsDir, stdout)
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
