package dissection

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

var plantedDir = testenv.PlantedModel()

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// loadModel loads an ONNX model directory. Without ONNX Runtime the test
// fails under CI (CI=true, where `make test` provisions it) and is skipped
// elsewhere.
func loadModel(t testing.TB, dir string) *inference.Model {
	t.Helper()
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(dir, inference.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestPlantedModel dissects the planted model, whose layer2 units 0–3 each
// paint one class (README of the test model), and checks every unit's IoU
// against a brute-force computation over the same images.
func TestPlantedModel(t *testing.T) {
	m := loadModel(t, plantedDir)
	// Units 0–3 are A_k where on and exactly 0 elsewhere: the top-1% quantile
	// equals A_k and nothing is strictly above it, so the planted structure
	// is only visible at a threshold inside the "off" mass. Quantile 0.5 puts
	// it at 0 — the unit's on-region, widened by the bilinear upsampling.
	cfg := Config{Layers: []string{"layer2", "layer3"}, Samples: 200, Seed: 1, Quantile: 0.5,
		Logger: quietLogger(), Causal: CausalConfig{Samples: 16, Ks: []int{1, 2}, LocationImages: 2, LocationK: 1}}
	res, err := Dissect(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := SampleIDs(cfg.Seed, cfg.Samples, m.Manifest().Z.MaxID)
	classes := []string{"sky", "tree", "door", "grass"}
	for _, layer := range []string{"layer2", "layer3"} {
		l := res.Layers[layer]
		for u := 0; u < 8; u++ {
			rec := l.Units[u]
			thr, ious := bruteUnit(t, m, ids, layer, u, 0.5)
			if rec.Threshold != thr {
				t.Errorf("%s unit %d: threshold %v, exact 0.5 quantile %v", layer, u, rec.Threshold, thr)
			}
			for c := range ious {
				if math.Abs(rec.ClassIoU[c]-ious[c]) > 0.01 {
					t.Errorf("%s unit %d class %s: IoU %v, brute force %v", layer, u, l.ClassNames[c], rec.ClassIoU[c], ious[c])
				}
			}
			if u < 4 {
				if rec.Label != classes[u] || !rec.Interpretable || rec.IoU < 0.3 {
					t.Errorf("%s unit %d: label %s IoU %v interpretable %v, want %s", layer, u, rec.Label, rec.IoU, rec.Interpretable, classes[u])
				}
				if r := l.Rankings[classes[u]]; r[0] != u {
					t.Errorf("%s ranking of %s starts %v", layer, classes[u], r[:3])
				}
			}
		}
	}
	// Levels are the units' 0.99 quantiles: exactly A_k for units 0–3.
	for u, a := range []float32{1, 1.5, 2, 2.5} {
		if got := res.Layers["layer2"].Units[u].Level; got != a {
			t.Errorf("layer2 unit %d level %v, want %v", u, got, a)
		}
	}
	// Ablating the top unit of a class removes that class completely.
	c := res.Layers["layer2"].Causal
	if c == nil {
		t.Fatal("no causal effects for the default layer")
	}
	// Insertion adds the unit's colour on top of whatever unit is already on
	// in a cell, so the nearest-colour segmenter sees a blend; only some
	// classes win it, none may lose ground.
	rises := 0
	for _, name := range classes {
		e := c.Effects[name][0]
		if e.RelDrop != 1 || e.Half != 1 || e.Damage != 0 || e.Images == 0 {
			t.Errorf("%s ablation %+v", name, e)
		}
		if e.Rise < 0 {
			t.Errorf("%s insertion %+v", name, e)
		}
		if e.Rise > 0 {
			rises++
		}
	}
	if rises == 0 {
		t.Error("insertion never raised any class")
	}
	// The result loads back and feeds the engine's SetLevels.
	dir := t.TempDir()
	if err := Save(dir, res); err != nil {
		t.Fatal(err)
	}
	back, err := Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := back.Levels("layer2")
	if err := m.SetLevels("layer2", lv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, Dir, "layer3.json")); err != nil {
		t.Fatal(err)
	}
}

func TestPlantedModelBadInput(t *testing.T) {
	m := loadModel(t, plantedDir)
	// The same model without its segmenter.
	noSegDir := testenv.CopyDir(t, plantedDir)
	data, err := os.ReadFile(filepath.Join(noSegDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "segmenter")
	data, _ = json.Marshal(raw)
	if err := os.WriteFile(filepath.Join(noSegDir, "manifest.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(noSegDir, "segmenter.onnx"))
	noSeg := loadModel(t, noSegDir)
	if _, err := Dissect(context.Background(), noSeg, Config{Layers: []string{"layer2"}, Samples: 8, Logger: quietLogger()}); !errors.Is(err, inference.ErrNoSegmenter) {
		t.Fatalf("model without segmenter: %v", err)
	}
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"unknown layer", Config{Layers: []string{"layer7"}, Samples: 8}, inference.ErrUnknownLayer},
		{"zero samples", Config{Layers: []string{"layer2"}, Samples: 0}, ErrBadConfig},
		{"more samples than ids", Config{Layers: []string{"layer2"}, Samples: 200_000}, ErrBadConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Logger = quietLogger()
			if _, err := Dissect(context.Background(), m, c.cfg); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// BenchmarkDissect1000 dissects 1,000 samples of one layer and reports
// samples/s. GANPAINT_BENCH_MODEL points at a model directory (default: the
// planted test model) and GANPAINT_BENCH_LAYER picks the layer (default: the
// manifest's default_layer); GANPAINT_BENCH_METHOD may be "iqr".
func BenchmarkDissect1000(b *testing.B) {
	dir := os.Getenv("GANPAINT_BENCH_MODEL")
	if dir == "" {
		dir = plantedDir
	}
	m := loadModel(b, dir)
	layer := os.Getenv("GANPAINT_BENCH_LAYER")
	if layer == "" {
		layer = m.Manifest().DefaultLayer
	}
	cfg := Config{Layers: []string{layer}, Samples: 1000, Method: os.Getenv("GANPAINT_BENCH_METHOD"),
		Logger: quietLogger(), Causal: CausalConfig{Samples: -1}}
	if os.Getenv("GANPAINT_BENCH_PROGRESS") != "" {
		cfg.Progress = os.Stderr
	}
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := Dissect(context.Background(), m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if len(res.Layers[layer].Units) == 0 {
			b.Fatal("no units")
		}
	}
	rate := float64(b.N*cfg.Samples) / total.Seconds()
	b.ReportMetric(rate, "samples/s")
	b.Logf("%s %s: %.1f samples/s (%d samples in %s)", filepath.Base(dir), layer, rate, cfg.Samples, (total / time.Duration(b.N)).Round(time.Millisecond))
}
