package dissection

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// shardedRun runs cfg as n shards through part files, giving the parts to
// the merges in reverse order.
func shardedRun(t *testing.T, g Generator, cfg Config, n int) (*Results, *Thresholds) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	var qparts []*QuantilePart
	for i := n - 1; i >= 0; i-- {
		p, err := DissectQuantiles(ctx, g, cfg, Shard{i, n})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "q.part")
		if err := WritePart(path, p); err != nil {
			t.Fatal(err)
		}
		var back QuantilePart
		if err := ReadPart(path, &back); err != nil {
			t.Fatal(err)
		}
		qparts = append(qparts, &back)
	}
	th, err := MergeQuantiles(qparts)
	if err != nil {
		t.Fatal(err)
	}
	wantUp := cfg.Method == MethodIQR && cfg.Candidates != CandidatesNative
	if th.NeedsUpsampled() != wantUp {
		t.Fatalf("round 1 merge needs the upsampled round: %v, want %v", th.NeedsUpsampled(), wantUp)
	}
	if wantUp {
		var uparts []*UpsampledPart
		for i := n - 1; i >= 0; i-- {
			p, err := DissectUpsampled(ctx, g, th, cfg, Shard{i, n})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "u.part")
			if err := WritePart(path, p); err != nil {
				t.Fatal(err)
			}
			var back UpsampledPart
			if err := ReadPart(path, &back); err != nil {
				t.Fatal(err)
			}
			uparts = append(uparts, &back)
		}
		if th, err = MergeUpsampled(th, uparts); err != nil {
			t.Fatal(err)
		}
		if th.NeedsUpsampled() {
			t.Fatal("thresholds still need the upsampled round after its merge")
		}
	}
	var cparts []*CountPart
	for i := n - 1; i >= 0; i-- {
		p, err := DissectCounts(ctx, g, th, cfg, Shard{i, n})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "c.part")
		if err := WritePart(path, p); err != nil {
			t.Fatal(err)
		}
		var back CountPart
		if err := ReadPart(path, &back); err != nil {
			t.Fatal(err)
		}
		cparts = append(cparts, &back)
	}
	res, err := MergeCounts(ctx, g, th, cparts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res, th
}

// empiricalRank is the fraction of layer's unit u activations over ids
// that are ≤ v.
func empiricalRank(t *testing.T, g *fakeGen, ids []int64, layer string, u int, v float32) float64 {
	t.Helper()
	zs, _ := g.ZBatch(ids)
	f, err := g.Head(context.Background(), layer, zs, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	hw := f.Layer.Height * f.Layer.Width
	c := f.Layer.Channels
	below, n := 0, 0
	for i := range ids {
		for _, x := range f.Data[(i*c+u)*hw : (i*c+u+1)*hw] {
			n++
			if x <= v {
				below++
			}
		}
	}
	return float64(below) / float64(n)
}

// TestShardedMatchesSingleRun: 4 shards merged give a single run's
// results: identical for the quantile method (its thresholds come from the
// sketches' exact tails), and for the IQR method, with native or upsampled
// candidate levels, thresholds within the sketch's rank error and the same
// rankings.
func TestShardedMatchesSingleRun(t *testing.T) {
	g := newFakeGen()
	for _, tc := range []struct{ method, candidates string }{
		{MethodQuantile, ""}, {MethodIQR, CandidatesNative}, {MethodIQR, CandidatesUpsampled},
	} {
		method := tc.method
		t.Run(method+"/"+tc.candidates, func(t *testing.T) {
			// Enough samples that the sketches compact (64 values per image
			// at layer b), so the body of the merged sketch is approximate.
			cfg := Config{Layers: []string{"a", "b"}, Samples: 1500, Seed: 5, Method: method, Batch: 16,
				Workers: 2, InFlight: 2, Candidates: tc.candidates, Causal: CausalConfig{Samples: -1}}
			single, err := Dissect(context.Background(), g, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sharded, _ := shardedRun(t, g, cfg, 4)
			ids, _ := SampleIDs(cfg.Seed, cfg.Samples, 1_000_000)
			for _, layer := range []string{"a", "b"} {
				a, b := single.Layers[layer], sharded.Layers[layer]
				if !slices.Equal(a.ClassShare, b.ClassShare) {
					t.Errorf("%s: class shares differ: %v vs %v", layer, a.ClassShare, b.ClassShare)
				}
				if a.Candidates != b.Candidates || a.Background != b.Background || b.Quantiles == nil ||
					!slices.Equal(a.Quantiles.Q, b.Quantiles.Q) || len(b.Quantiles.Values) != len(b.Units) {
					t.Errorf("%s: candidates %q/%q, background %q/%q, quantile table %v (single run, sharded)",
						layer, a.Candidates, b.Candidates, a.Background, b.Background, b.Quantiles != nil)
				}
				for u := range a.Units {
					x, y := a.Units[u], b.Units[u]
					if x.Level != y.Level || !slices.Equal(x.TopIDs, y.TopIDs) || !slices.Equal(x.TopActs, y.TopActs) {
						t.Errorf("%s/%d: level or top images differ: %v %v vs %v %v", layer, u, x.Level, x.TopIDs, y.Level, y.TopIDs)
					}
					if method == MethodQuantile {
						if x.Threshold != y.Threshold || !slices.Equal(x.ClassIoU, y.ClassIoU) || x.Label != y.Label || x.IQR != y.IQR {
							t.Errorf("%s/%d differs:\n single  %+v\n sharded %+v", layer, u, x, y)
						}
						continue
					}
					// IQR: the chosen threshold's native rank agrees within the
					// sketch's stated rank error (0.5% at the default k).
					// (The IoU is not compared: the fake's classes are cut
					// from these very activations, so its IoU jumps at the
					// true boundary far more than a real model's.)
					rx := empiricalRank(t, g, ids, layer, u, x.Threshold)
					ry := empiricalRank(t, g, ids, layer, u, y.Threshold)
					if math.Abs(rx-ry) > 0.005 {
						t.Errorf("%s/%d: threshold rank %.4f, single run %.4f", layer, u, ry, rx)
					} else if rx != ry {
						t.Logf("%s/%d: threshold rank %.4f, single run %.4f", layer, u, ry, rx)
					}
				}
				for class, want := range a.Rankings {
					got := b.Rankings[class]
					if method == MethodQuantile && !slices.Equal(want, got) {
						t.Errorf("%s %s ranking %v, single run %v", layer, class, got, want)
					}
					if method == MethodIQR && want[0] != got[0] {
						t.Errorf("%s %s best unit %d, single run %d", layer, class, got[0], want[0])
					}
				}
			}
		})
	}
}

// TestShardedUpsampledExact: round 1b adds integer bin counts, so when the
// probes are the single run's (a sketch too large to compact keeps every
// value), sharded upsampled candidates give exactly the single run's levels,
// thresholds, IoUs and labels.
func TestShardedUpsampledExact(t *testing.T) {
	g := newFakeGen()
	cfg := Config{Layers: []string{"a", "b"}, Samples: 60, Seed: 2, Method: MethodIQR, SketchK: 1 << 14,
		Batch: 7, Workers: 2, InFlight: 2, Causal: CausalConfig{Samples: -1}}
	single, err := Dissect(context.Background(), g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sharded, _ := shardedRun(t, g, cfg, 3)
	for _, layer := range []string{"a", "b"} {
		a, b := single.Layers[layer], sharded.Layers[layer]
		if a.Candidates != CandidatesUpsampled || b.Candidates != CandidatesUpsampled {
			t.Fatalf("%s: candidates %q and %q", layer, a.Candidates, b.Candidates)
		}
		for u := range a.Units {
			x, y := a.Units[u], b.Units[u]
			if x.Threshold != y.Threshold || x.ThresholdQuantile != y.ThresholdQuantile || x.Label != y.Label ||
				x.IQR != y.IQR || !slices.Equal(x.ClassIoU, y.ClassIoU) {
				t.Errorf("%s/%d differs:\n single  %+v\n sharded %+v", layer, u, x, y)
			}
		}
		for class, want := range a.Rankings {
			if got := b.Rankings[class]; !slices.Equal(got, want) {
				t.Errorf("%s %s ranking %v, single run %v", layer, class, got, want)
			}
		}
		for u := range a.Quantiles.Values {
			if !slices.Equal(a.Quantiles.Values[u], b.Quantiles.Values[u]) {
				t.Errorf("%s/%d quantile table differs", layer, u)
			}
		}
	}
}

// TestShardRoundsChecked: each round refuses thresholds of the wrong kind,
// so an upsampled-candidates run cannot skip round 1b and a run without it
// cannot be given one.
func TestShardRoundsChecked(t *testing.T) {
	g := newFakeGen()
	ctx := context.Background()
	merged := func(c Config, n int) *Thresholds {
		t.Helper()
		var parts []*QuantilePart
		for i := 0; i < n; i++ {
			p, err := DissectQuantiles(ctx, g, c, Shard{i, n})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		th, err := MergeQuantiles(parts)
		if err != nil {
			t.Fatal(err)
		}
		return th
	}
	up := Config{Layers: []string{"a"}, Samples: 30, Method: MethodIQR, Causal: CausalConfig{Samples: -1}}
	native := up
	native.Candidates = CandidatesNative
	probes := merged(up, 2)
	if !probes.NeedsUpsampled() {
		t.Fatal("an upsampled-candidates run's round 1 merge has no probes")
	}
	if _, err := DissectCounts(ctx, g, probes, up, Shard{0, 2}); !errors.Is(err, ErrBadPart) {
		t.Errorf("counts before round 1b: %v, want ErrBadPart", err)
	}
	if _, err := MergeCounts(ctx, g, probes, nil, up); !errors.Is(err, ErrBadPart) {
		t.Errorf("merging counts before round 1b: %v, want ErrBadPart", err)
	}
	nth := merged(native, 2)
	if nth.NeedsUpsampled() {
		t.Fatal("a native-candidates run asks for the upsampled round")
	}
	if _, err := DissectUpsampled(ctx, g, nth, native, Shard{0, 2}); !errors.Is(err, ErrBadPart) {
		t.Errorf("round 1b of a native run: %v, want ErrBadPart", err)
	}
	if _, err := MergeUpsampled(nth, nil); !errors.Is(err, ErrBadPart) {
		t.Errorf("merging round 1b of a native run: %v, want ErrBadPart", err)
	}
	upPart := func(i, n int) *UpsampledPart {
		t.Helper()
		p, err := DissectUpsampled(ctx, g, probes, up, Shard{i, n})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := upPart(1, 2)
	short.Layers[0].Counts = short.Layers[0].Counts[1:]
	for _, tc := range []struct {
		name  string
		parts []*UpsampledPart
	}{
		{"none", nil},
		{"missing shard", []*UpsampledPart{upPart(0, 2)}},
		{"repeated shard", []*UpsampledPart{upPart(0, 2), upPart(0, 2)}},
		{"wrong size", []*UpsampledPart{upPart(0, 2), short}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := MergeUpsampled(probes, tc.parts); !errors.Is(err, ErrBadPart) {
				t.Errorf("MergeUpsampled = %v, want ErrBadPart", err)
			}
		})
	}
	// The background is part of the run: a shard told another one is refused.
	other := up
	other.Background = "sky"
	p0, err := DissectQuantiles(ctx, g, up, Shard{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := DissectQuantiles(ctx, g, other, Shard{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MergeQuantiles([]*QuantilePart{p0, p1}); !errors.Is(err, ErrBadPart) {
		t.Errorf("shards with different backgrounds merged: %v", err)
	}
}

func TestShardPartsChecked(t *testing.T) {
	g := newFakeGen()
	ctx := context.Background()
	cfg := Config{Layers: []string{"a"}, Samples: 40, Causal: CausalConfig{Samples: -1}}
	part := func(i, n int, c Config) *QuantilePart {
		p, err := DissectQuantiles(ctx, g, c, Shard{i, n})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := cfg
	other.Seed = 9
	for _, tc := range []struct {
		name  string
		parts []*QuantilePart
	}{
		{"none", nil},
		{"missing shard", []*QuantilePart{part(0, 3, cfg), part(2, 3, cfg)}},
		{"repeated shard", []*QuantilePart{part(0, 2, cfg), part(0, 2, cfg)}},
		{"mixed counts", []*QuantilePart{part(0, 2, cfg), part(1, 3, cfg)}},
		{"another run", []*QuantilePart{part(0, 2, cfg), part(1, 2, other)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := MergeQuantiles(tc.parts); !errors.Is(err, ErrBadPart) {
				t.Errorf("MergeQuantiles = %v, want ErrBadPart", err)
			}
		})
	}
	for _, s := range []Shard{{0, 0}, {3, 3}, {-1, 2}} {
		if _, err := DissectQuantiles(ctx, g, cfg, s); !errors.Is(err, ErrBadConfig) {
			t.Errorf("shard %v: %v, want ErrBadConfig", s, err)
		}
	}
	if err := ReadPart(filepath.Join(t.TempDir(), "none"), &QuantilePart{}); err == nil {
		t.Error("reading a missing part succeeded")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.part")
	if err := os.WriteFile(garbage, []byte("not a part file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReadPart(garbage, &QuantilePart{}); !errors.Is(err, ErrBadPart) {
		t.Errorf("reading garbage: %v, want ErrBadPart", err)
	}
	// A sketch whose fields disagree is refused when decoded.
	bad := NewSketch(16)
	bad.AddSlice([]float32{1, 2, 3})
	bad.size = 99
	b, err := bad.GobEncode()
	if err != nil {
		t.Fatal(err)
	}
	if err := new(Sketch).GobDecode(b); !errors.Is(err, ErrBadPart) {
		t.Errorf("inconsistent sketch decoded: %v", err)
	}
}
