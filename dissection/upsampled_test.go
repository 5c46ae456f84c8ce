package dissection

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// shareAbove is the exact share of sorted values strictly above v.
func shareAbove(sorted []float32, v float32) float64 {
	i, _ := slices.BinarySearchFunc(sorted, v, func(a, b float32) int {
		if a <= b {
			return -1
		}
		return 1
	})
	return float64(len(sorted)-i) / float64(len(sorted))
}

// TestProbeLevels: levels interpolated between probes put the intended
// share of values above them, even when the probes come from another
// distribution (native quantiles probing upsampled values).
func TestProbeLevels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	vals := make([]float32, 200_000)
	for i := range vals {
		vals[i] = float32(r.NormFloat64()*0.7 + 0.3) // "upsampled": narrower
	}
	native := make([]float32, 50_000)
	for i := range native {
		native[i] = float32(r.NormFloat64() + 0.2)
	}
	slices.Sort(native)
	fracs := IQRFractions(100)
	var probes []float32
	for j := len(fracs) - 1; j >= 0; j-- {
		probes = append(probes, native[max(0, int(math.Ceil((1-fracs[j])*float64(len(native))))-1)])
	}
	probes = append(probes, native[len(native)-1])
	counts := make([]int64, len(probes)+1)
	for _, v := range vals {
		counts[binOf(probes, v)]++
	}
	got := probeLevels(probes, counts, int64(len(vals)), fracs)
	if !slices.IsSorted(got) {
		t.Fatal("levels are not ascending")
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	worst := 0.0
	for i, f := range fracs {
		level := got[len(fracs)-1-i]
		share := shareAbove(sorted, level)
		if f == 1 || level >= probes[len(probes)-1] {
			continue // the minimum, and shares beyond the probes' reach
		}
		rel := math.Abs(share-f) / f
		worst = max(worst, rel)
		if rel > 0.03 {
			t.Errorf("f=%.5f: level %v has %.5f above (%.1f%% off)", f, level, share, 100*rel)
		}
	}
	t.Logf("worst relative error of the share above a level: %.2f%%", 100*worst)

	// Degenerate input: every value the same.
	flat := probeLevels([]float32{1, 1, 1}, []int64{5, 0, 0, 0}, 5, []float64{0.01, 0.5, 1})
	if !slices.Equal(flat, []float32{1, 1, 1}) {
		t.Errorf("constant unit: %v", flat)
	}
}

// TestUpsampledCandidatesBruteForce dissects the planted model (with its
// "background" class declared) and compares every unit against a brute-force
// computation: every activation upsampled, every candidate level an exact
// quantile of those upsampled values, every table counted pixel by pixel.
func TestUpsampledCandidatesBruteForce(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedDir)
	path := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	raw["segmenter"].(map[string]any)["background"] = "background"
	data, _ = json.Marshal(raw)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, dir)
	const samples = 120
	cfg := Config{Layers: []string{"layer2"}, Samples: samples, Seed: 4, Method: MethodIQR, Logger: quietLogger(),
		Causal: CausalConfig{Samples: 4, Ks: []int{1}, LocationImages: -1}}
	res, err := Dissect(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers["layer2"]
	if l.Background != "background" || l.Candidates != CandidatesUpsampled {
		t.Errorf("layer records background %q, candidates %q", l.Background, l.Candidates)
	}
	if _, ok := l.Rankings["background"]; ok {
		t.Error("the background has a ranking")
	}
	if _, ok := l.Causal.Effects["background"]; ok {
		t.Error("the background has a causal measurement")
	}

	// Brute force: all upsampled activations and labels of the samples.
	ids, _ := SampleIDs(cfg.Seed, samples, m.Manifest().Z.MaxID)
	zs, _ := m.ZBatch(ids)
	imgs, feats, err := m.Generate(context.Background(), zs, samples, []string{"layer2"})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := m.Segment(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	f := feats["layer2"]
	li := f.Layer
	hw, plane := li.Height*li.Width, imgs.H*imgs.W
	up, _ := NewUpsampler(li.Height, li.Width, imgs.H, imgs.W)
	classes := len(l.ClassNames)
	labels := make([]float64, classes)
	for _, c := range seg {
		labels[c]++
	}
	total := float64(len(seg))
	fracs := IQRFractions(100)
	buf := make([]float32, plane)
	for u := 0; u < li.Channels; u++ {
		all := make([]float32, 0, samples*plane)
		for i := 0; i < samples; i++ {
			up.Upsample(buf, f.Data[(i*li.Channels+u)*hw:(i*li.Channels+u+1)*hw])
			all = append(all, buf...)
		}
		sorted := slices.Clone(all)
		slices.Sort(sorted)
		rec := l.Units[u]
		// The reported quantile is exact: the share of upsampled values at
		// or below the threshold.
		if got, want := rec.ThresholdQuantile, 1-shareAbove(sorted, rec.Threshold); math.Abs(got-want) > 1e-12 {
			t.Errorf("unit %d: threshold quantile %v, brute force %v", u, got, want)
		}
		// IoU with every class, counted at the threshold.
		tally := func(level float32) (inter []float64, above float64) {
			inter = make([]float64, classes)
			for p, v := range all {
				if v > level {
					above++
					inter[seg[p]]++
				}
			}
			return inter, above
		}
		inter, above := tally(rec.Threshold)
		for c := range inter {
			want := inter[c] / (above + labels[c] - inter[c])
			if math.Abs(rec.ClassIoU[c]-want) > 1e-12 {
				t.Errorf("unit %d class %s: IoU %v, brute force %v", u, l.ClassNames[c], rec.ClassIoU[c], want)
			}
		}
		// The reference's choice with exact upsampled quantiles as the
		// candidates: the best (class, level) by IQR, background excluded.
		bestIQR, bestClass, bestLevel := -1.0, -1, float32(0)
		for j, fr := range fracs {
			if j == len(fracs)-1 { // f = 1: no information
				continue
			}
			level := sorted[max(0, int(math.Ceil((1-fr)*float64(len(sorted))))-1)]
			if level <= 0 {
				continue
			}
			in, ab := tally(level)
			for c := 0; c < classes; c++ {
				if l.ClassNames[c] == "background" || labels[c]/total < 1e-3 {
					continue
				}
				tb := makeTable(int64(in[c]), int64(ab), int64(labels[c]), int64(total))
				if tb.both+tb.neither <= 0.8 {
					continue
				}
				if q := tb.iqr(); q > bestIQR {
					bestIQR, bestClass, bestLevel = q, c, level
				}
			}
		}
		if bestClass < 0 {
			continue
		}
		if rec.Label == "background" {
			t.Errorf("unit %d is labelled background", u)
		}
		t.Logf("unit %d: %s IQR %.4f at %.4f (%.4f above); brute force %s IQR %.4f at %.4f (%.4f above)", u, rec.Label, rec.IQR,
			rec.Threshold, shareAbove(sorted, rec.Threshold), l.ClassNames[bestClass], bestIQR, bestLevel, shareAbove(sorted, bestLevel))
		// The candidates sit where the brute force's do up to the
		// interpolation inside a probe interval, so the best IQR agrees
		// closely and so does the label (units 0–3 draw one class each;
		// units 4–7 draw none and may tie between classes).
		if math.Abs(rec.IQR-bestIQR) > 0.03*bestIQR+1e-6 {
			t.Errorf("unit %d: IQR %v, brute force %v", u, rec.IQR, bestIQR)
		}
		if (u < 4 || bestIQR > 0.1) && rec.Label != l.ClassNames[bestClass] {
			t.Errorf("unit %d: label %s, brute force %s", u, rec.Label, l.ClassNames[bestClass])
		}
	}
}
