package dissection

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refUpsample is the textbook formula in float64, written independently of
// the axis tables.
func refUpsample(src []float32, h, w, H, W int) []float64 {
	coord := func(t, n, N int) (int, int, float64) {
		s := (float64(t)+0.5)*float64(n)/float64(N) - 0.5
		s = math.Max(0, math.Min(s, float64(n-1)))
		i0 := int(math.Floor(s))
		i1 := min(i0+1, n-1)
		return i0, i1, s - float64(i0)
	}
	out := make([]float64, H*W)
	for y := 0; y < H; y++ {
		y0, y1, wy := coord(y, h, H)
		for x := 0; x < W; x++ {
			x0, x1, wx := coord(x, w, W)
			at := func(r, c int) float64 { return float64(src[r*w+c]) }
			top := at(y0, x0)*(1-wx) + at(y0, x1)*wx
			bot := at(y1, x0)*(1-wx) + at(y1, x1)*wx
			out[y*W+x] = top*(1-wy) + bot*wy
		}
	}
	return out
}

func TestUpsampleMatchesFormula(t *testing.T) {
	cases := []struct{ h, w, H, W int }{
		{1, 1, 5, 3}, {2, 2, 4, 4}, {8, 8, 128, 128}, {16, 16, 128, 128}, {4, 4, 4, 4}, {3, 5, 7, 11}, {8, 8, 4, 4},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		src := make([]float32, c.h*c.w)
		for i := range src {
			src[i] = float32(r.NormFloat64())
		}
		u, err := NewUpsampler(c.h, c.w, c.H, c.W)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, c.H*c.W)
		u.Upsample(got, src)
		want := refUpsample(src, c.h, c.w, c.H, c.W)
		for i := range got {
			if math.Abs(float64(got[i])-want[i]) > 1e-5 {
				t.Fatalf("%v: pixel %d = %v, want %v", c, i, got[i], want[i])
			}
		}
	}
	// A hand-checked case: 2 → 4 samples at source 0, 0.25, 0.75, 1 (clamped).
	u, _ := NewUpsampler(1, 2, 1, 4)
	got := make([]float32, 4)
	u.Upsample(got, []float32{0, 4})
	if !slices.Equal(got, []float32{0, 1, 3, 4}) {
		t.Fatalf("1×2→1×4 = %v", got)
	}
	if _, err := NewUpsampler(0, 1, 1, 1); err == nil {
		t.Fatal("zero size accepted")
	}
}

type tallyCase struct {
	h, w, H, W, classes int
	act                 []float32
	seg                 []uint8
}

func randomTallyCase(r *rand.Rand) tallyCase {
	c := tallyCase{h: 1 + r.IntN(8), w: 1 + r.IntN(8), H: 1 + r.IntN(40), W: 1 + r.IntN(40), classes: 1 + r.IntN(6)}
	c.act = make([]float32, c.h*c.w)
	for i := range c.act {
		switch r.IntN(4) {
		case 0: // plateaus and exact ties exercise the patch shortcuts
			c.act[i] = float32(r.IntN(3))
		default:
			c.act[i] = float32(r.NormFloat64())
		}
	}
	c.seg = make([]uint8, c.H*c.W)
	for i := range c.seg {
		c.seg[i] = uint8(r.IntN(c.classes))
	}
	return c
}

func TestTallyThresholdMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 300; trial++ {
		c := randomTallyCase(r)
		u, _ := NewUpsampler(c.h, c.w, c.H, c.W)
		full := make([]float32, c.H*c.W)
		u.Upsample(full, c.act)
		thrs := []float32{c.act[r.IntN(len(c.act))], float32(r.NormFloat64()), 0, 1, -10, 10}
		for _, thr := range thrs {
			wantInter := make([]int64, c.classes)
			var wantAbove int64
			for i, v := range full {
				if v > thr {
					wantInter[c.seg[i]]++
					wantAbove++
				}
			}
			p := patchIndex{up: u, classes: c.classes}
			hist := make([]int32, p.numPatches()*c.classes)
			if err := p.fillHist(hist, c.seg); err != nil {
				t.Fatal(err)
			}
			gotInter := make([]int64, c.classes)
			var gotAbove int64
			p.tallyThreshold(c.act, thr, c.seg, hist, gotInter, &gotAbove)
			if gotAbove != wantAbove || !slices.Equal(gotInter, wantInter) {
				t.Fatalf("trial %d thr %v: got %v/%d want %v/%d", trial, thr, gotInter, gotAbove, wantInter, wantAbove)
			}
		}
	}
}

func TestTallyHistMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for trial := 0; trial < 300; trial++ {
		c := randomTallyCase(r)
		u, _ := NewUpsampler(c.h, c.w, c.H, c.W)
		full := make([]float32, c.H*c.W)
		u.Upsample(full, c.act)
		levels := make([]float32, 1+r.IntN(12))
		for i := range levels {
			if r.IntN(3) == 0 {
				levels[i] = c.act[r.IntN(len(c.act))]
			} else {
				levels[i] = float32(r.NormFloat64())
			}
		}
		slices.Sort(levels)
		nb := len(levels) + 1
		want := make([]int64, c.classes*nb)
		for i, v := range full {
			bin := 0
			for _, l := range levels {
				if v > l {
					bin++
				}
			}
			want[int(c.seg[i])*nb+bin]++
		}
		p := patchIndex{up: u, classes: c.classes}
		hist := make([]int32, p.numPatches()*c.classes)
		if err := p.fillHist(hist, c.seg); err != nil {
			t.Fatal(err)
		}
		got := make([]int64, c.classes*nb)
		p.tallyHist(c.act, levels, c.seg, hist, got)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: got %v want %v", trial, got, want)
		}
	}
}

func TestFillHistRejectsBadLabel(t *testing.T) {
	u, _ := NewUpsampler(2, 2, 4, 4)
	p := patchIndex{up: u, classes: 3}
	seg := make([]uint8, 16)
	seg[5] = 3
	if err := p.fillHist(make([]int32, p.numPatches()*3), seg); err == nil {
		t.Fatal("label 3 of 3 classes accepted")
	}
}

// bruteIQR evaluates the IQR search directly from per-level pixel counts.
func bruteIQR(full []float32, seg []uint8, classes int, levels []float32) (bestC, bestJ int, bestQ float64) {
	n := float64(len(full))
	bestJ = len(levels) - 1
	found := false
	for c := 0; c < classes; c++ {
		var lab float64
		for _, s := range seg {
			if int(s) == c {
				lab++
			}
		}
		if lab/n < 1e-3 {
			continue
		}
		for j := 1; j < len(levels); j++ {
			if levels[j] <= 0 {
				continue
			}
			var cnt [2][2]int // [unit on][class]
			for i, v := range full {
				a, b := 1, 1
				if v > levels[j] {
					a = 0
				}
				if int(seg[i]) == c {
					b = 0
				}
				cnt[a][b]++
			}
			var m [2][2]float64
			for a := range m {
				for b := range m[a] {
					m[a][b] = float64(cnt[a][b]) / n
				}
			}
			if m[0][0]+m[1][1] <= 0.8 {
				continue
			}
			var mi, je float64
			for a := 0; a < 2; a++ {
				for b := 0; b < 2; b++ {
					p := m[a][b]
					if p == 0 {
						continue
					}
					pa := m[a][0] + m[a][1]
					pb := m[0][b] + m[1][b]
					mi += p * math.Log(p/(pa*pb))
					je -= p * math.Log(p)
				}
			}
			q := 0.0
			if je > 0 {
				q = math.Max(mi, 0) / je
			}
			if !found || q > bestQ {
				bestC, bestJ, bestQ, found = c, j, q, true
			}
		}
	}
	return
}

func TestChooseIQRMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 100; trial++ {
		c := randomTallyCase(r)
		// Make the unit informative about class 0 in some trials.
		u, _ := NewUpsampler(c.h, c.w, c.H, c.W)
		full := make([]float32, c.H*c.W)
		u.Upsample(full, c.act)
		if trial%2 == 0 {
			for i, v := range full {
				if v > 0.5 {
					c.seg[i] = 0
				}
			}
		}
		s := NewSketch(64)
		s.AddSlice(full)
		fr := IQRFractions(20)
		qs := make([]float64, len(fr))
		for i, f := range fr {
			qs[len(fr)-1-i] = 1 - f
		}
		levels, _ := s.Quantiles(qs)
		nb := len(levels) + 1
		p := patchIndex{up: u, classes: c.classes}
		hist := make([]int32, p.numPatches()*c.classes)
		_ = p.fillHist(hist, c.seg)
		h := make([]int64, c.classes*nb)
		p.tallyHist(c.act, levels, c.seg, hist, h)
		labels := make([]int64, c.classes)
		for _, sv := range c.seg {
			labels[sv]++
		}
		got := chooseIQR(h, levels, labels, int64(len(full)), -1)
		wc, wj, wq := bruteIQR(full, c.seg, c.classes, levels)
		if math.Abs(got.iqr-wq) > 1e-9 || (wq > 0 && (got.class != wc || levels[got.bin] != levels[wj])) {
			t.Fatalf("trial %d: got %+v, want class %d bin %d iqr %v", trial, got, wc, wj, wq)
		}
	}
}

func TestIQRFractions(t *testing.T) {
	f := IQRFractions(100)
	if len(f) != 100 || math.Abs(f[0]-1e-3) > 1e-15 || f[99] != 1 {
		t.Fatalf("ends %v %v", f[0], f[99])
	}
	for i := 1; i < len(f); i++ {
		if r := f[i] / f[i-1]; math.Abs(r-math.Pow(1000, 1.0/99)) > 1e-9 {
			t.Fatalf("ratio %v at %d", r, i)
		}
	}
}

func TestTopK(t *testing.T) {
	tk := topK{k: 3}
	for i, a := range []float32{1, 5, 3, 5, 2, 9, float32(math.NaN())} {
		tk.add(int64(i), a)
	}
	if !slices.Equal(tk.ids, []int64{5, 1, 3}) || !slices.Equal(tk.acts, []float32{9, 5, 5}) {
		t.Fatalf("top3 %v %v", tk.ids, tk.acts)
	}
}

// tallyBench is the shared input of the tally benchmarks: an 8×8 unit
// upsampled to a 128×128 segmentation of 12 classes.
type tallyBench struct {
	r    *rand.Rand
	p    patchIndex
	act  []float32
	seg  []uint8
	hist []int32
}

func newTallyBench() tallyBench {
	r := rand.New(rand.NewPCG(1, 1))
	u, _ := NewUpsampler(8, 8, 128, 128)
	tb := tallyBench{r: r, p: patchIndex{up: u, classes: 12}, act: make([]float32, 64), seg: make([]uint8, 128*128)}
	for i := range tb.act {
		tb.act[i] = float32(r.NormFloat64())
	}
	for i := range tb.seg {
		tb.seg[i] = uint8(r.IntN(12))
	}
	tb.hist = make([]int32, tb.p.numPatches()*12)
	_ = tb.p.fillHist(tb.hist, tb.seg)
	return tb
}

func BenchmarkTallyThreshold(b *testing.B) {
	tb := newTallyBench()
	inter := make([]int64, 12)
	var above int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.p.tallyThreshold(tb.act, 1.5, tb.seg, tb.hist, inter, &above)
	}
}

func BenchmarkTallyHist(b *testing.B) {
	tb := newTallyBench()
	levels := make([]float32, 100)
	for i := range levels {
		levels[i] = float32(tb.r.NormFloat64())
	}
	slices.Sort(levels)
	out := make([]int64, 12*101)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.p.tallyHist(tb.act, levels, tb.seg, tb.hist, out)
	}
}
