package fid

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestComputeMeanAndCovariance(t *testing.T) {
	// Three 2-D vectors: mean (2, 1); covariance by hand.
	s, err := Compute([]float32{1, 0, 2, 1, 3, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 3 || s.Mean[0] != 2 || s.Mean[1] != 1 {
		t.Fatalf("stats %+v", s)
	}
	want := []float64{1, 1, 1, 1}
	for i, v := range want {
		if math.Abs(s.Cov[i]-v) > 1e-12 {
			t.Fatalf("cov = %v, want %v", s.Cov, want)
		}
	}
	bad := []struct {
		feats []float32
		dim   int
		want  error
	}{
		{[]float32{1, 2}, 2, ErrTooFew},
		{[]float32{1, 2, 3}, 2, ErrDim},
		{[]float32{1, 2}, 0, ErrDim},
		{make([]float32, 2*(MaxDim+1)), MaxDim + 1, ErrDim},
		{[]float32{1, float32(math.NaN()), 3, 4}, 2, ErrNotFinite},
		{[]float32{1, 2, float32(math.Inf(-1)), 4}, 2, ErrNotFinite},
	}
	for _, b := range bad {
		if _, err := Compute(b.feats, b.dim); !errors.Is(err, b.want) {
			t.Errorf("Compute(%v, %d) error = %v, want %v", b.feats, b.dim, err, b.want)
		}
	}
}

// Closed forms: equal Gaussians are at distance 0; a mean shift d adds |d|²;
// for diagonal covariances the trace term is Σ (√a − √b)².
func TestDistanceClosedForms(t *testing.T) {
	diag := func(vals ...float64) []float64 {
		n := len(vals)
		c := make([]float64, n*n)
		for i, v := range vals {
			c[i*n+i] = v
		}
		return c
	}
	a := Stats{N: 10, Mean: []float64{0, 1, 2}, Cov: diag(4, 1, 9)}
	cases := []struct {
		name string
		b    Stats
		want float64
	}{
		{"same", a, 0},
		{"mean shift", Stats{N: 10, Mean: []float64{3, 1, 6}, Cov: diag(4, 1, 9)}, 9 + 16},
		{"scaled covariance", Stats{N: 10, Mean: []float64{0, 1, 2}, Cov: diag(1, 4, 9)}, 1 + 1 + 0},
		{"singular covariance", Stats{N: 10, Mean: []float64{0, 1, 2}, Cov: diag(0, 1, 0)}, 4 + 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Distance(a, c.b)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-c.want) > 1e-9 {
				t.Errorf("distance %v, want %v", got, c.want)
			}
			back, _ := Distance(c.b, a)
			if math.Abs(back-got) > 1e-9 {
				t.Errorf("not symmetric: %v and %v", got, back)
			}
		})
	}
}

// A rotated Gaussian: the distance must not depend on the basis.
func TestDistanceRotationInvariant(t *testing.T) {
	rot := func(c []float64, th float64) []float64 {
		r := []float64{math.Cos(th), -math.Sin(th), math.Sin(th), math.Cos(th)}
		return mul(mul(r, c, 2), []float64{r[0], r[2], r[1], r[3]}, 2)
	}
	ca := []float64{5, 1, 1, 2}
	cb := []float64{1, -0.5, -0.5, 3}
	a := Stats{N: 5, Mean: []float64{0, 0}, Cov: ca}
	b := Stats{N: 5, Mean: []float64{1, 2}, Cov: cb}
	d0, err := Distance(a, b)
	if err != nil {
		t.Fatal(err)
	}
	th := 0.7
	rm := func(m []float64) []float64 {
		return []float64{math.Cos(th)*m[0] - math.Sin(th)*m[1], math.Sin(th)*m[0] + math.Cos(th)*m[1]}
	}
	d1, err := Distance(Stats{N: 5, Mean: rm(a.Mean), Cov: rot(ca, th)}, Stats{N: 5, Mean: rm(b.Mean), Cov: rot(cb, th)})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d0-d1) > 1e-9 || d0 <= 0 {
		t.Errorf("distance %v before rotation, %v after", d0, d1)
	}
}

// Samples from one distribution are close; from a shifted one, far.
func TestDistanceOfSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sample := func(n int, shift float64) Stats {
		f := make([]float32, n*4)
		for i := range f {
			f[i] = float32(rng.NormFloat64() + shift)
		}
		s, err := Compute(f, 4)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, c := sample(4000, 0), sample(4000, 0), sample(4000, 1)
	same, _ := Distance(a, b)
	far, _ := Distance(a, c)
	if same > 0.05 || math.Abs(far-4) > 0.3 {
		t.Errorf("same distribution %.4f (want ≈ 0), shifted by 1 in 4 dims %.4f (want ≈ 4)", same, far)
	}
}

func TestDistanceRejects(t *testing.T) {
	good := Stats{N: 3, Mean: []float64{0, 0}, Cov: []float64{1, 0, 0, 1}}
	bad := []Stats{
		{N: 3, Mean: []float64{0, 0, 0}, Cov: make([]float64, 9)},
		{N: 3, Mean: []float64{0, 0}, Cov: []float64{1, 0, 0}},
		{N: 3, Mean: []float64{math.NaN(), 0}, Cov: []float64{1, 0, 0, 1}},
		{N: 3, Mean: []float64{0, 0}, Cov: []float64{1, math.Inf(1), 0, 1}},
		{},
	}
	for i, b := range bad {
		if _, err := Distance(good, b); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func TestReferenceRoundTrip(t *testing.T) {
	s, err := Compute([]float32{1, 0, 2, 1, 3, 2.5, 0, 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteReference(dir, NewReference(s, "test vectors")); err != nil {
		t.Fatal(err)
	}
	r, err := LoadReference(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	back := r.Stats()
	if d, err := Distance(s, back); err != nil || math.Abs(d) > 1e-12 || back.N != 4 || r.Source != "test vectors" {
		t.Errorf("round trip: distance %v, err %v, n %d, source %q", d, err, back.N, r.Source)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files left in the model directory, want only %s", len(entries), ReferenceFile)
	}
	if _, err := LoadReference(fstest.MapFS{}); !errors.Is(err, ErrNoReference) {
		t.Errorf("missing file: error = %v", err)
	}
	if err := WriteReference(dir, Reference{}); !errors.Is(err, ErrBadReference) {
		t.Errorf("writing an invalid reference: error = %v", err)
	}
	if err := WriteReference(filepath.Join(dir, "absent"), NewReference(s, "x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestParseReferenceRejects(t *testing.T) {
	good := `{"format":"ganpaint-fid-reference","version":1,"features":"segmenter.features","dim":2,"n":5,
		"source":"x","mean":[0,1],"cov":[[1,0.5],[0.5,2]]}`
	if _, err := ParseReference([]byte(good)); err != nil {
		t.Fatalf("good file: %v", err)
	}
	cases := map[string]string{
		"not json":       `{`,
		"trailing":       good + `{}`,
		"format":         strings.Replace(good, `ganpaint-fid-reference`, `other`, 1),
		"version":        strings.Replace(good, `"version":1`, `"version":2`, 1),
		"features":       strings.Replace(good, `segmenter.features`, `inception`, 1),
		"dim zero":       strings.Replace(good, `"dim":2`, `"dim":0`, 1),
		"dim mismatch":   strings.Replace(good, `"dim":2`, `"dim":3`, 1),
		"n one":          strings.Replace(good, `"n":5`, `"n":1`, 1),
		"short row":      strings.Replace(good, `[0.5,2]`, `[0.5]`, 1),
		"asymmetric":     strings.Replace(good, `[0.5,2]`, `[0.7,2]`, 1),
		"negative var":   strings.Replace(good, `[0.5,2]`, `[0.5,-2]`, 1),
		"huge":           `{"mean":[` + strings.Repeat("0,", maxReferenceBytes/2) + `0]}`,
		"wrong type":     strings.Replace(good, `"mean":[0,1]`, `"mean":"x"`, 1),
		"huge dim":       strings.Replace(good, `"dim":2`, `"dim":100000`, 1),
		"null cov":       strings.Replace(good, `"cov":[[1,0.5],[0.5,2]]`, `"cov":null`, 1),
		"number too big": strings.Replace(good, `"mean":[0,1]`, `"mean":[1e999,1]`, 1),
	}
	for name, data := range cases {
		if _, err := ParseReference([]byte(data)); !errors.Is(err, ErrBadReference) {
			t.Errorf("%s: error = %v, want ErrBadReference", name, err)
		}
	}
}

func FuzzParseReference(f *testing.F) {
	f.Add([]byte(`{"format":"ganpaint-fid-reference","version":1,"features":"segmenter.features","dim":2,"n":5,"source":"x","mean":[0,1],"cov":[[1,0.5],[0.5,2]]}`))
	f.Add([]byte(`{"dim":1,"mean":[1e308],"cov":[[-0]]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReference(data)
		if err != nil {
			if !errors.Is(err, ErrBadReference) {
				t.Fatalf("error %v does not wrap ErrBadReference", err)
			}
			return
		}
		// A valid reference must be usable without a panic.
		if _, err := Distance(r.Stats(), r.Stats()); err != nil {
			t.Fatalf("valid reference unusable: %v", err)
		}
	})
}

// The same full-covariance pair through training/eval_quality.py's
// frechet_distance (numpy eigh) gave 1.2296812310263476.
func TestDistanceMatchesEvalQuality(t *testing.T) {
	a := Stats{N: 9, Mean: []float64{0.1, -0.3, 0.5}, Cov: []float64{2, 0.3, -0.4, 0.3, 1.5, 0.2, -0.4, 0.2, 0.9}}
	b := Stats{N: 9, Mean: []float64{0.4, 0.2, -0.1}, Cov: []float64{1, -0.2, 0.1, -0.2, 2.5, 0.6, 0.1, 0.6, 1.2}}
	got, err := Distance(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-1.2296812310263476) > 1e-12 {
		t.Errorf("distance %.16f, eval_quality.py says 1.2296812310263476", got)
	}
}
