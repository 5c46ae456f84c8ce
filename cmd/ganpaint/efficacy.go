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
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

func init() {
	subcommands["efficacy"] = subcommand{
		summary: "measure what every brush paints and erases; writes <model>/efficacy.json and MODEL.md's table",
		run:     runEfficacy,
	}
}

func runEfficacy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("efficacy", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", "model directory (required); needs its dissection (ganpaint dissect)")
	images := fl.Int("images", 40, "held-out images the regions are drawn from")
	plausible := fl.Int("plausible", 40, "insertion regions per concept where the concept's rule holds")
	other := fl.Int("other", 12, "insertion regions per concept where it does not")
	present := fl.Int("present", 20, "regions per concept erased (the concept covers ≥ half of them)")
	everywhere := fl.Int("everywhere", 12, "images per concept erased whole")
	calibrate := fl.Bool("calibrate", false, "first sweep each brush's strength on the calibration ids and store its low/medium/high steps")
	calibImages := fl.Int("calibrate-images", 24, "held-out images of the calibration sweep")
	units := fl.Int("units", brushes.DefaultUnits, "units of the IoU-ranked brushes")
	seed := fl.Uint64("seed", 0, "selects the regions drawn from the images")
	batch := fl.Int("batch", 4, "probes per generator call")
	workers := fl.Int("workers", 0, "inference calls at once (default: CPUs)")
	concepts := fl.String("concepts", "", "comma-separated concepts to measure (default: all; with a subset nothing is written)")
	write := fl.Bool("write", true, "write efficacy.json and the table in MODEL.md (false: print only)")
	quiet := fl.Bool("quiet", false, "no progress lines")
	ortLib := ortLibFlag(fl)
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	if *model == "" {
		return errors.New("--model DIR is required")
	}
	if *calibImages <= 0 {
		return fmt.Errorf("--calibrate-images %d must be positive", *calibImages)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, fsys, err := openModel(*model, *ortLib, inference.Options{Workers: *workers, Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()
	set, res, old, err := brushes.Load(fsys, brushes.Options{Units: *units})
	if err != nil {
		return err
	}
	exclude, err := dissectionIDs(res, m.Manifest().Z.MaxID)
	if err != nil {
		return err
	}
	cfg := efficacy.Config{Images: *images, Plausible: *plausible, Other: *other, Present: *present, Everywhere: *everywhere,
		Exclude: exclude, Seed: *seed, Batch: *batch, Workers: *workers}
	if !*quiet {
		cfg.Progress = stderr
	}
	// IoU brushes at the layer the painter opens at; recipes wherever they paint.
	list := benchBrushes(set, m.Manifest().DefaultLayer)
	if only := splitList(*concepts); len(only) > 0 {
		list = slices.DeleteFunc(list, func(b efficacy.Brush) bool { return !slices.Contains(only, b.Concept) })
		if len(list) == 0 {
			return fmt.Errorf("--concepts %q: no brush paints them", *concepts)
		}
		*write = false
	}
	var cal map[string]efficacy.Calibrated
	if old != nil {
		cal = old.Calibration
	}
	if *calibrate {
		cc := cfg
		cc.Images = *calibImages
		if cal, _, err = efficacy.Calibrate(ctx, m, list, cc); err != nil {
			return err
		}
		for i := range list {
			if steps, def, ok := efficacy.CalibratedSteps(cal, list[i]); ok {
				list[i].Steps, list[i].Default = steps, def
			}
		}
	}
	withBaseline(list)
	load0, okLoad := loadAverage()
	rep, err := efficacy.Run(ctx, m, list, cfg)
	if err != nil {
		return err
	}
	if load1, ok := loadAverage(); ok && okLoad {
		rep.Load = []float64{load0, load1}
	}
	rep.CPUs = runtime.NumCPU()
	rep.Calibration = keepCalibrations(cal, list)
	rep.Brushes = efficacy.Choose(rep)
	rep.WriteMarkdown(stdout)
	if !*write {
		return nil
	}
	if err := rep.Save(*model); err != nil {
		return err
	}
	card := filepath.Join(*model, "MODEL.md")
	if err := rep.UpdateModelCard(card); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s and the table in %s\n", filepath.Join(*model, efficacy.File), card)
	return nil
}

// benchBrushes is every brush the benchmark measures: the IoU brushes at
// layer and every recipe.
func benchBrushes(set *brushes.Set, layer string) []efficacy.Brush {
	var out []efficacy.Brush
	for _, b := range set.All() {
		if b.Kind == brushes.KindIoU && b.Layer != layer {
			continue
		}
		out = append(out, b)
	}
	return out
}

// withBaseline makes sure every IoU painting brush is also measured at
// strength 1, the painter's only setting before recipes ("before").
func withBaseline(list []efficacy.Brush) {
	for i := range list {
		b := &list[i]
		if b.Kind != brushes.KindIoU || b.Remove {
			continue
		}
		if !slices.ContainsFunc(b.Steps, func(s efficacy.Step) bool { return s.Strength == 1 }) {
			b.Steps = append(slices.Clone(b.Steps), efficacy.Step{Name: efficacy.BaselineStep, Strength: 1})
		}
	}
}

// keepCalibrations keeps the calibrations of the measured brushes.
func keepCalibrations(cal map[string]efficacy.Calibrated, list []efficacy.Brush) map[string]efficacy.Calibrated {
	out := map[string]efficacy.Calibrated{}
	for _, b := range list {
		for k, c := range cal {
			if c.Fingerprint == b.Fingerprint() {
				out[k] = c
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// loadAverage reads the 1-minute load average (Linux), for the report: the
// benchmark's time depends on what else the machine runs.
func loadAverage() (float64, bool) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}

// dissectionIDs are the ids the dissection measured on (its samples and its
// causal images): the benchmark never uses them.
func dissectionIDs(res *dissection.Results, maxID int64) ([]int64, error) {
	seen := map[int64]bool{}
	var out []int64
	add := func(ids []int64) {
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	for _, l := range res.Layers {
		if l.Samples > 0 {
			ids, err := dissection.SampleIDs(l.Seed, l.Samples, maxID)
			if err != nil {
				return nil, err
			}
			add(ids)
		}
		if l.Causal != nil {
			add(l.Causal.IDs)
		}
	}
	return out, nil
}
