package dissection

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// rankRange is the interval of normalised ranks that v occupies in sorted.
func rankRange(sorted []float32, v float32) (lo, hi float64) {
	n := float64(len(sorted))
	below := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= v })
	upto := sort.Search(len(sorted), func(i int) bool { return sorted[i] > v })
	return float64(below) / n, float64(upto) / n
}

func TestSketchRankError(t *testing.T) {
	qs := []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1}
	gens := []struct {
		name string
		gen  func(r *rand.Rand) float32
	}{
		{"uniform", func(r *rand.Rand) float32 { return r.Float32() }},
		{"normal", func(r *rand.Rand) float32 { return float32(r.NormFloat64()) }},
		{"heavy-tail", func(r *rand.Rand) float32 { return float32(math.Exp(3 * r.NormFloat64())) }},
		{"leaky-relu", func(r *rand.Rand) float32 {
			v := float32(r.NormFloat64())
			if v < 0 {
				v *= 0.2
			}
			return v
		}},
		{"few-values", func(r *rand.Rand) float32 { return float32(r.IntN(5)) }},
	}
	for _, g := range gens {
		for _, n := range []int{10, 5000, 300_000} {
			t.Run(g.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 7))
				data := make([]float32, n)
				s := NewSketch(DefaultSketchK)
				for i := range data {
					data[i] = g.gen(r)
					s.Add(data[i])
				}
				if s.Count() != int64(n) {
					t.Fatalf("count %d, want %d", s.Count(), n)
				}
				slices.Sort(data)
				got, err := s.Quantiles(qs)
				if err != nil {
					t.Fatal(err)
				}
				for i, q := range qs {
					lo, hi := rankRange(data, got[i])
					if q < lo-0.005 || q > hi+0.005 {
						t.Errorf("n=%d q=%v: value %v has rank [%v,%v], error > 0.5%%", n, q, got[i], lo, hi)
					}
				}
				if got[0] != data[0] || got[len(got)-1] != data[n-1] {
					t.Errorf("min/max %v %v, want %v %v", got[0], got[len(got)-1], data[0], data[n-1])
				}
			})
		}
	}
}

func TestTailSketchExact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const n = 200_000
	s := NewTailSketch(64, 4000) // a coarse stack: only the tail is exact
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(r.ExpFloat64())
		s.Add(data[i])
	}
	slices.Sort(data)
	qs := []float64{0.981, 0.99, 0.995, 0.999, 0.99999}
	got, _ := s.Quantiles(qs)
	for i, q := range qs {
		want := data[int(math.Ceil(q*n))-1]
		if got[i] != want {
			t.Errorf("q=%v: %v, exact %v", q, got[i], want)
		}
	}
	// Below the tail the stack answers, within its (coarser) error.
	med, _ := s.Quantiles([]float64{0.5})
	if lo, hi := rankRange(data, med[0]); lo > 0.53 || hi < 0.47 {
		t.Errorf("median rank [%v,%v]", lo, hi)
	}
	// Merging tail sketches keeps the union's tail exact.
	a, b := NewTailSketch(64, 500), NewTailSketch(64, 500)
	var all []float32
	for i := 0; i < 30_000; i++ {
		v := float32(r.NormFloat64())
		all = append(all, v)
		if i%3 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	a.Merge(b)
	slices.Sort(all)
	q, _ := a.Quantiles([]float64{0.99})
	if want := all[int(math.Ceil(0.99*float64(len(all))))-1]; q[0] != want || a.Count() != int64(len(all)) {
		t.Errorf("merged 0.99 quantile %v, exact %v (count %d)", q[0], want, a.Count())
	}
}

func TestSketchMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all []float32
	merged := NewSketch(DefaultSketchK)
	for part := 0; part < 7; part++ {
		s := NewSketch(DefaultSketchK)
		for i := 0; i < 40_000+part*1000; i++ {
			v := float32(r.NormFloat64()) + float32(part)
			s.Add(v)
			all = append(all, v)
		}
		merged.Merge(s)
	}
	if merged.Count() != int64(len(all)) {
		t.Fatalf("count %d want %d", merged.Count(), len(all))
	}
	slices.Sort(all)
	qs := []float64{0.001, 0.05, 0.3, 0.5, 0.7, 0.99, 0.999}
	got, err := merged.Quantiles(qs)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		lo, hi := rankRange(all, got[i])
		if q < lo-0.005 || q > hi+0.005 {
			t.Errorf("q=%v: rank [%v,%v]", q, lo, hi)
		}
	}
	// Memory stays bounded by the resolution, not the sample count.
	if merged.size > 4*DefaultSketchK {
		t.Errorf("sketch holds %d items", merged.size)
	}
}

func TestSketchDeterministic(t *testing.T) {
	build := func() []float32 {
		r := rand.New(rand.NewPCG(5, 5))
		s := NewSketch(64)
		for i := 0; i < 100_000; i++ {
			s.Add(r.Float32())
		}
		q, _ := s.Quantiles([]float64{0.1, 0.5, 0.99})
		return q
	}
	a, b := build(), build()
	if !slices.Equal(a, b) {
		t.Fatalf("same input gave %v and %v", a, b)
	}
}

func TestSketchBadInput(t *testing.T) {
	s := NewSketch(16)
	if _, err := s.Quantiles([]float64{0.5}); !errors.Is(err, ErrEmptySketch) {
		t.Fatalf("empty sketch: %v", err)
	}
	s.Add(float32(math.NaN()))
	if s.Count() != 0 {
		t.Fatal("NaN was counted")
	}
	s.Add(1)
	for _, q := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := s.Quantiles([]float64{q}); err == nil {
			t.Errorf("quantile %v accepted", q)
		}
	}
}

func BenchmarkSketchAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	vals := make([]float32, 1<<16)
	for i := range vals {
		vals[i] = float32(r.NormFloat64())
	}
	s := NewSketch(DefaultSketchK)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.AddSlice(vals)
	}
	b.SetBytes(int64(len(vals) * 4))
}
