package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// Part file names inside the --parts folder. Round 1's merge writes
// probesFile instead of thresholdsFile when the run needs round 1b
// (--threshold iqr with upsampled candidates), whose merge then writes
// thresholdsFile: no merge rewrites its own input, so each can be retried.
const (
	thresholdsFile = "thresholds.part"
	probesFile     = "probes.part"
)

func partName(stage string, s dissection.Shard) string {
	return fmt.Sprintf("%s-%d-of-%d.part", stage, s.Index, s.Count)
}

var partRE = regexp.MustCompile(`^(quantiles|upsampled|counts)-(\d+)-of-(\d+)\.part$`)

// parseShard reads "i/n".
func parseShard(v string) (dissection.Shard, error) {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return dissection.Shard{}, fmt.Errorf("--shard %q: want i/n with 0 ≤ i < n, e.g. 0/4", v)
	}
	return dissection.Shard{Index: i, Count: n}, nil
}

// runShard runs one shard of one round and writes its part.
func runShard(ctx context.Context, m *inference.Model, cfg dissection.Config, shard dissection.Shard, stage, dir string, stdout io.Writer) error {
	if dir == "" {
		return errors.New("--shard needs --parts FOLDER (shared by the shards and the merges)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	var part any
	var err error
	switch stage {
	case "quantiles":
		part, err = dissection.DissectQuantiles(ctx, m, cfg, shard)
	case "upsampled":
		var th dissection.Thresholds
		if err := dissection.ReadPart(filepath.Join(dir, probesFile), &th); err != nil {
			return fmt.Errorf("round 1b needs the merged probes (run 'ganpaint dissect merge --parts %s' after every quantiles shard of an iqr run with upsampled candidates): %w", dir, err)
		}
		part, err = dissection.DissectUpsampled(ctx, m, &th, cfg, shard)
	case "counts":
		var th dissection.Thresholds
		if err := dissection.ReadPart(filepath.Join(dir, thresholdsFile), &th); err != nil {
			if _, perr := os.Stat(filepath.Join(dir, probesFile)); perr == nil {
				return fmt.Errorf("round 2 needs the merged thresholds, and this run's candidate levels come from round 1b: run every shard with --stage upsampled, then 'ganpaint dissect merge --parts %s --stage upsampled'", dir)
			}
			return fmt.Errorf("round 2 needs the merged thresholds (run 'ganpaint dissect merge --parts %s' after every quantiles shard): %w", dir, err)
		}
		part, err = dissection.DissectCounts(ctx, m, &th, cfg, shard)
	default:
		return fmt.Errorf("--stage %q: want quantiles, upsampled or counts", stage)
	}
	if err != nil {
		return err
	}
	path := filepath.Join(dir, partName(stage, shard))
	if err := dissection.WritePart(path, part); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s in %s\n", path, time.Since(start).Round(time.Second))
	return nil
}

// runDissectMerge merges the quantile parts into thresholds (or probes),
// with --stage upsampled the round 1b parts into thresholds, or with --model
// the count parts into the model's results. Which round is meant is said by
// the flags, not guessed from the folder: a round-2 merge that ran before
// its shards finished must fail (and be retried), not quietly redo round 1.
func runDissectMerge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dissect merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("parts", "", "the folder the shards wrote to (required)")
	model := fs.String("model", "", "model directory: merging the counts writes its dissection/ (round 2 only)")
	workers := fs.Int("workers", 0, "inference workers for the causal effects (default: number of CPUs)")
	ortLib := ortLibFlag(fs)
	quiet := fs.Bool("quiet", false, "no progress bar")
	stage := fs.String("stage", "", "the round to merge: quantiles (round 1), upsampled (round 1b) or counts (round 2, needs --model); default: counts with --model, else quantiles")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--parts FOLDER is required")
	}
	if *stage == "" {
		*stage = "quantiles"
		if *model != "" {
			*stage = "counts"
		}
	}
	switch {
	case *stage != "quantiles" && *stage != "upsampled" && *stage != "counts":
		return fmt.Errorf("--stage %q: want quantiles, upsampled or counts", *stage)
	case *stage == "counts" && *model == "":
		return errors.New("merging the counts writes the results: it needs --model DIR")
	case *stage != "counts" && *model != "":
		return fmt.Errorf("--model is for the counts merge (round 2), not --stage %s", *stage)
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return err
	}
	byStage := map[string][]string{}
	for _, e := range entries {
		if m := partRE.FindStringSubmatch(e.Name()); m != nil {
			byStage[m[1]] = append(byStage[m[1]], filepath.Join(*dir, e.Name()))
		}
	}
	switch *stage {
	case "quantiles":
		if len(byStage["quantiles"]) == 0 {
			return fmt.Errorf("%s holds no quantiles-I-of-N.part files", *dir)
		}
		var parts []*dissection.QuantilePart
		for _, p := range byStage["quantiles"] {
			var qp dissection.QuantilePart
			if err := dissection.ReadPart(p, &qp); err != nil {
				return err
			}
			parts = append(parts, &qp)
		}
		th, err := dissection.MergeQuantiles(parts)
		if err != nil {
			return err
		}
		name, next := thresholdsFile, "every shard with --stage counts"
		if th.NeedsUpsampled() {
			name, next = probesFile, "every shard with --stage upsampled, then 'merge --stage upsampled'"
		}
		out := filepath.Join(*dir, name)
		if err := dissection.WritePart(out, th); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "merged %d quantile parts into %s; next: %s\n", len(parts), out, next)
		return nil
	case "upsampled":
		if len(byStage["upsampled"]) == 0 {
			return fmt.Errorf("%s holds no upsampled-I-of-N.part files (round 1b has not run)", *dir)
		}
		var probes dissection.Thresholds
		if err := dissection.ReadPart(filepath.Join(*dir, probesFile), &probes); err != nil {
			return err
		}
		var parts []*dissection.UpsampledPart
		for _, p := range byStage["upsampled"] {
			var up dissection.UpsampledPart
			if err := dissection.ReadPart(p, &up); err != nil {
				return err
			}
			parts = append(parts, &up)
		}
		th, err := dissection.MergeUpsampled(&probes, parts)
		if err != nil {
			return err
		}
		out := filepath.Join(*dir, thresholdsFile)
		if err := dissection.WritePart(out, th); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "merged %d upsampled parts into %s; next: every shard with --stage counts\n", len(parts), out)
		return nil
	}
	if len(byStage["counts"]) == 0 {
		return fmt.Errorf("%s holds no counts-I-of-N.part files (round 2 has not run)", *dir)
	}
	var th dissection.Thresholds
	if err := dissection.ReadPart(filepath.Join(*dir, thresholdsFile), &th); err != nil {
		return err
	}
	var parts []*dissection.CountPart
	for _, p := range byStage["counts"] {
		var cp dissection.CountPart
		if err := dissection.ReadPart(p, &cp); err != nil {
			return err
		}
		parts = append(parts, &cp)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, _, err := openModel(*model, *ortLib, inference.Options{Workers: *workers, Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()
	local := dissection.Config{InFlight: *workers, Workers: *workers, Logger: logger}
	if !*quiet {
		local.Progress = stderr
	}
	start := time.Now()
	res, err := dissection.MergeCounts(ctx, m, &th, parts, local)
	if err != nil {
		return err
	}
	if err := dissection.Save(*model, res); err != nil {
		return err
	}
	for _, l := range th.Spec.Layers {
		if rl, ok := res.Layers[l.Name]; ok {
			rl.WriteSummary(stdout)
			if rl.Causal != nil {
				rl.Causal.WriteTable(stdout, rl.ClassNames)
			}
			fmt.Fprintln(stdout)
		}
	}
	fmt.Fprintf(stdout, "merged %d count parts; wrote %s/%s/ in %s\n", len(parts), strings.TrimRight(*model, "/"), dissection.Dir, time.Since(start).Round(time.Second))
	return nil
}
