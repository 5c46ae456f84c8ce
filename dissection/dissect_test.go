package dissection

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

// bruteUnit computes, from scratch, a unit's exact quantile threshold (by
// sorting every native activation) and its IoU with each class, using the
// float64 reference upsampling.
func bruteUnit(t *testing.T, g Generator, ids []int64, layer string, unit int, q float64) (thr float32, ious []float64) {
	t.Helper()
	return bruteUnitAt(t, g, ids, layer, unit, q, nil)
}

// bruteUnitAt is bruteUnit at a given threshold (nil: the exact native
// quantile at q).
func bruteUnitAt(t *testing.T, g Generator, ids []int64, layer string, unit int, q float64, at *float32) (thr float32, ious []float64) {
	t.Helper()
	ctx := context.Background()
	zs, err := g.ZBatch(ids)
	if err != nil {
		t.Fatal(err)
	}
	imgs, feats, err := g.Generate(ctx, zs, len(ids), []string{layer})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := g.Segment(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	f := feats[layer]
	li := f.Layer
	hw := li.Height * li.Width
	var vals []float32
	for i := range ids {
		vals = append(vals, f.Data[(i*li.Channels+unit)*hw:(i*li.Channels+unit+1)*hw]...)
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	thr = sorted[int(math.Ceil(q*float64(len(sorted))))-1]
	if at != nil {
		thr = *at
	}
	classes := len(g.Manifest().Segmenter.Classes)
	inter := make([]float64, classes)
	label := make([]float64, classes)
	var above float64
	plane := imgs.H * imgs.W
	for i := range ids {
		up := refUpsample(vals[i*hw:(i+1)*hw], li.Height, li.Width, imgs.H, imgs.W)
		for p, v := range up {
			c := seg[i*plane+p]
			label[c]++
			if v > float64(thr) {
				above++
				inter[c]++
			}
		}
	}
	for c := range inter {
		ious = append(ious, inter[c]/(above+label[c]-inter[c]))
	}
	return thr, ious
}

func TestDissectFakeMatchesBruteForce(t *testing.T) {
	g := newFakeGen()
	for _, method := range []string{MethodQuantile, MethodIQR} {
		t.Run(method, func(t *testing.T) {
			var progress bytes.Buffer
			cfg := Config{Layers: []string{"a", "b"}, Samples: 300, Seed: 3, Method: method, Batch: 7,
				Workers: 3, Progress: &progress, Causal: CausalConfig{Samples: -1}}
			res, err := Dissect(context.Background(), g, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(progress.String(), "samples/s") || !strings.Contains(progress.String(), "\r") {
				t.Errorf("progress output %q", progress.String())
			}
			ids, _ := SampleIDs(3, 300, 1_000_000)
			la := res.Layers["a"]
			u0 := la.Units[0]
			if u0.Label != "sky" || !u0.Interpretable {
				t.Fatalf("unit 0 of a: %+v", u0)
			}
			if la.Rankings["sky"][0] != 0 {
				t.Errorf("sky ranking %v", la.Rankings["sky"])
			}
			for _, layer := range []string{"a", "b"} {
				l := res.Layers[layer]
				for u := range l.Units {
					rec := l.Units[u]
					q := rec.ThresholdQuantile
					var at *float32
					if method == MethodIQR {
						// Upsampled candidates: the threshold is not a native
						// quantile; check the IoU at the threshold itself.
						at = &rec.Threshold
					}
					thr, ious := bruteUnitAt(t, g, ids, layer, u, q, at)
					if method == MethodQuantile && math.Abs(float64(rec.Threshold-thr)) > 0.05*math.Abs(float64(thr))+0.02 {
						t.Errorf("%s/%d threshold %v, exact %v", layer, u, rec.Threshold, thr)
					}
					for c, want := range ious {
						if math.Abs(rec.ClassIoU[c]-want) > 0.01 {
							t.Errorf("%s/%d class %d: IoU %v, brute force %v", layer, u, c, rec.ClassIoU[c], want)
						}
					}
					if method == MethodQuantile {
						best := 0
						for c := range ious {
							if ious[c] > ious[best] {
								best = c
							}
						}
						if rec.Label != l.ClassNames[best] && ious[best]-ious[slices.Index(l.ClassNames, rec.Label)] > 0.01 {
							t.Errorf("%s/%d label %s, brute force %s", layer, u, rec.Label, l.ClassNames[best])
						}
					}
				}
			}
			// Levels are the 0.99 quantiles and top ids are sorted by activation.
			for _, u := range la.Units {
				if len(u.TopIDs) != 12 || !slices.IsSortedFunc(u.TopActs, func(a, b float32) int {
					return -cmpF(a, b)
				}) {
					t.Errorf("unit %d top %v %v", u.Unit, u.TopIDs, u.TopActs)
				}
			}
		})
	}
}

func cmpF(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestDissectDeterministic(t *testing.T) {
	run := func(workers, batch int) *Results {
		res, err := Dissect(context.Background(), newFakeGen(), Config{Layers: []string{"a"}, Samples: 100,
			Workers: workers, Batch: batch, InFlight: 3, Causal: CausalConfig{Samples: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(1, 5), run(4, 5)
	for u := range a.Layers["a"].Units {
		x, y := a.Layers["a"].Units[u], b.Layers["a"].Units[u]
		if x.Level != y.Level || x.IoU != y.IoU || x.Threshold != y.Threshold || !slices.Equal(x.TopIDs, y.TopIDs) {
			t.Fatalf("unit %d differs with worker count: %+v vs %+v", u, x, y)
		}
	}
}

func TestDissectCausalFake(t *testing.T) {
	g := newFakeGen()
	var out bytes.Buffer
	cfg := Config{Layers: []string{"a", "b"}, Samples: 200, Causal: CausalConfig{Samples: 20, Ks: []int{1, 2}, LocationImages: 3, LocationK: 1}}
	res, err := Dissect(context.Background(), g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Layers["a"].Causal == nil || res.Layers["b"].Causal != nil {
		t.Fatal("causal effects should be measured on the default layer only")
	}
	// A level far above the sky cut-off makes every pixel of an inserted
	// cell sky (bilinear weights inside a cell are ≥ 0.625), so insertion
	// has an exact expected outcome.
	l := res.Layers["a"]
	l.Units[0].Level = 10
	c, err := MeasureCausal(context.Background(), g, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sky := c.Effects["sky"]
	if len(sky) != 2 || sky[0].K != 1 || !slices.Equal(sky[0].Units, []int{0}) {
		t.Fatalf("sky rows %+v", sky)
	}
	// Sky is exactly "unit 0 above 1.85", so removing unit 0 removes all sky
	// and changes no other pixel.
	if sky[0].RelDrop != 1 || sky[0].Half != 1 || sky[0].Damage != 0 || sky[0].Images == 0 {
		t.Errorf("sky ablation %+v", sky[0])
	}
	// Painted far above the cut-off, every region becomes sky.
	if sky[0].SuccessAll != 1 || sky[0].Rise <= 0.5 || sky[0].LeakFar != 0 {
		t.Errorf("sky insertion %+v (level %v)", sky[0], res.Layers["a"].Units[0].Level)
	}
	lm := c.Locations["sky"]
	if lm.Rows != 4 || lm.Cols != 4 || len(lm.Rate) != 16 || lm.Images != 3 {
		t.Fatalf("location map %+v", lm)
	}
	for i, r := range lm.Rate {
		if lm.Eligible[i] == 0 || r != 1 {
			t.Errorf("region %d: rate %v of %d", i, r, lm.Eligible[i])
		}
	}
	c.WriteTable(&out, l.ClassNames)
	if !strings.Contains(out.String(), "sky") || !strings.Contains(out.String(), "100.0%") || !strings.Contains(out.String(), "location maps") {
		t.Errorf("table:\n%s", out.String())
	}
	// The causal images are the ids after the dissection's samples.
	ids, _ := SampleIDs(0, 220, 1_000_000)
	if !slices.Equal(c.IDs, ids[200:]) {
		t.Errorf("causal ids %v", c.IDs)
	}
}

func TestDissectBadInput(t *testing.T) {
	noSeg := newFakeGen()
	noSeg.manifest = func() inference.Manifest { m := fakeManifest(); m.Segmenter = nil; return m }
	failing := newFakeGen()
	failing.segment = func(ctx context.Context, imgs *inference.Images) ([]uint8, error) {
		return nil, inference.ErrBusy
	}
	badLabels := newFakeGen()
	badLabels.segment = func(ctx context.Context, imgs *inference.Images) ([]uint8, error) {
		out := make([]uint8, imgs.N*imgs.H*imgs.W)
		out[3] = 9
		return out, nil
	}
	short := newFakeGen()
	short.segment = func(ctx context.Context, imgs *inference.Images) ([]uint8, error) { return make([]uint8, 5), nil }
	cases := []struct {
		name string
		g    Generator
		cfg  Config
		want error
	}{
		{"no segmenter", noSeg, Config{Layers: []string{"a"}, Samples: 10}, inference.ErrNoSegmenter},
		{"unknown layer", newFakeGen(), Config{Layers: []string{"layer9"}, Samples: 10}, ErrUnknownLayer},
		{"unknown layer is inference's too", newFakeGen(), Config{Layers: []string{"layer9"}, Samples: 10}, inference.ErrUnknownLayer},
		{"zero samples", newFakeGen(), Config{Layers: []string{"a"}, Samples: 0}, ErrBadConfig},
		{"negative samples", newFakeGen(), Config{Layers: []string{"a"}, Samples: -5}, ErrBadConfig},
		{"no layers", newFakeGen(), Config{Samples: 10}, ErrBadConfig},
		{"bad method", newFakeGen(), Config{Layers: []string{"a"}, Samples: 10, Method: "median"}, ErrBadConfig},
		{"bad quantile", newFakeGen(), Config{Layers: []string{"a"}, Samples: 10, Quantile: 1.5}, ErrBadConfig},
		{"segmenter error", failing, Config{Layers: []string{"a"}, Samples: 10}, inference.ErrBusy},
		{"label out of range", badLabels, Config{Layers: []string{"a"}, Samples: 10}, inference.ErrBadShape},
		{"short segmentation", short, Config{Layers: []string{"a"}, Samples: 10}, inference.ErrBadShape},
		{"too many samples", newFakeGen(), Config{Layers: []string{"a"}, Samples: 2_000_000}, ErrBadConfig},
		{"unknown causal class", newFakeGen(), Config{Layers: []string{"a"}, Samples: 10, Causal: CausalConfig{Classes: []string{"dragon"}}}, ErrUnknownConcept},
		{"causal layer not dissected", newFakeGen(), Config{Layers: []string{"a"}, Samples: 10, Causal: CausalConfig{Layers: []string{"b"}}}, ErrBadConfig},
		{"causal samples beyond max_id", newFakeGen(), Config{Layers: []string{"a"}, Samples: 999_990, Causal: CausalConfig{Samples: 20}}, ErrBadConfig},
		{"bad k", newFakeGen(), Config{Layers: []string{"a"}, Samples: 10, Causal: CausalConfig{Ks: []int{0}}}, ErrBadConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Dissect(context.Background(), c.g, c.cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestDissectCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := newFakeGen()
	calls := 0
	inner := g.head
	g.head = func(c context.Context, layer string, zs []float32, n int) (*inference.Features, error) {
		calls++
		if calls == 3 {
			cancel()
		}
		if err := c.Err(); err != nil {
			return nil, err
		}
		return inner(c, layer, zs, n)
	}
	_, err := Dissect(ctx, g, Config{Layers: []string{"a"}, Samples: 1000, InFlight: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestSampleIDs(t *testing.T) {
	a, err := SampleIDs(7, 500, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SampleIDs(7, 600, 1000)
	if !slices.Equal(a, b[:500]) {
		t.Fatal("longer draw does not extend the shorter one")
	}
	seen := map[int64]bool{}
	for _, id := range b {
		if id < 0 || id >= 1000 || seen[id] {
			t.Fatalf("bad or repeated id %d", id)
		}
		seen[id] = true
	}
	all, err := SampleIDs(1, 10, 10)
	if err != nil || len(all) != 10 {
		t.Fatalf("exhaustive draw: %v %v", all, err)
	}
	if _, err := SampleIDs(1, 11, 10); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("over-draw: %v", err)
	}
}

// TestBackgroundClass: the background is never a label and gets no
// ranking, with either threshold method; the manifest's background can be
// turned off.
func TestBackgroundClass(t *testing.T) {
	for _, tc := range []struct {
		name, method, background string
		manifest                 string // the segmenter's declared background
		want                     string // the layer's background
	}{
		{"quantile, from the config", MethodQuantile, "ground", "", "ground"},
		{"iqr, from the manifest", MethodIQR, "", "ground", "ground"},
		{"iqr native, from the config", MethodIQR, "ground", "", "ground"},
		{"turned off", MethodQuantile, NoBackground, "ground", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGen()
			man := g.manifest()
			seg := *man.Segmenter
			seg.Background = tc.manifest
			man.Segmenter = &seg
			g.manifest = func() inference.Manifest { return man }
			cfg := Config{Layers: []string{"a", "b"}, Samples: 80, Method: tc.method, Background: tc.background,
				Causal: CausalConfig{Samples: 3, Ks: []int{1}, LocationImages: -1}}
			if strings.Contains(tc.name, "native") {
				cfg.Candidates = CandidatesNative
			}
			res, err := Dissect(context.Background(), g, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range res.Layers {
				if l.Background != tc.want {
					t.Errorf("%s: background %q, want %q", l.Layer, l.Background, tc.want)
				}
				_, ranked := l.Rankings["ground"]
				if ranked == (tc.want != "") {
					t.Errorf("%s: ground ranked %v", l.Layer, ranked)
				}
				for _, u := range l.Units {
					if tc.want != "" && u.Label == "ground" {
						t.Errorf("%s unit %d labelled with the background", l.Layer, u.Unit)
					}
				}
				if c := l.Causal; c != nil {
					if _, ok := c.Effects["ground"]; ok == (tc.want != "") {
						t.Errorf("%s: ground causal effect measured: %v", l.Layer, ok)
					}
				}
			}
		})
	}
	_, err := Dissect(context.Background(), newFakeGen(), Config{Layers: []string{"a"}, Samples: 8, Background: "void"})
	if !errors.Is(err, ErrUnknownConcept) {
		t.Errorf("unknown background: %v", err)
	}
	_, err = Dissect(context.Background(), newFakeGen(), Config{Layers: []string{"a"}, Samples: 8, Background: "ground",
		Causal: CausalConfig{Classes: []string{"ground"}}})
	if !errors.Is(err, ErrBadConfig) {
		t.Errorf("causal measurement of the background: %v", err)
	}
}
