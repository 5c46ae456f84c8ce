package inference

// Tests of unexported helpers; everything that the package's API shows is
// tested from package inference_test, with the shared set-up of
// internal/testenv.

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestSpanMath(t *testing.T) {
	up := locality{scale: 2, halo: 1}
	same := locality{scale: 1, halo: 1}
	pix := locality{scale: 1, halo: 0}
	tests := []struct {
		name      string
		l         locality
		d         span
		inN, outN int
		reach     span
		need      span
	}{
		{"upsample+3x3, middle", up, span{3, 4}, 8, 16, span{5, 9}, span{2, 5}},
		{"upsample+3x3, top edge", up, span{0, 1}, 8, 16, span{0, 3}, span{0, 2}},
		{"upsample+3x3, bottom edge", up, span{7, 8}, 8, 16, span{13, 16}, span{6, 8}},
		{"3x3, middle", same, span{2, 4}, 8, 8, span{1, 5}, span{0, 6}},
		{"1x1", pix, span{2, 4}, 8, 8, span{2, 4}, span{2, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.l.reach(tc.d, tc.outN)
			if r != tc.reach {
				t.Errorf("reach(%v) = %v, want %v", tc.d, r, tc.reach)
			}
			if n := tc.l.need(r, tc.inN); n != tc.need {
				t.Errorf("need(%v) = %v, want %v", r, n, tc.need)
			}
		})
	}
	for _, tc := range []struct{ a, b, want int }{{-3, 2, -2}, {-4, 2, -2}, {3, 2, 1}, {0, 2, 0}, {-1, 1, -1}} {
		if got := floorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		vals []float32
		q    float64
		want float32
	}{
		{[]float32{3, 1, 2}, 0.5, 2},
		{[]float32{0, 10}, 0.99, 9.9},
		{[]float32{5}, 0.99, 5},
		{nil, 0.99, 0},
		{[]float32{4, 3, 2, 1, 0}, 1, 4},
	}
	for _, tt := range tests {
		if got := quantile(append([]float32(nil), tt.vals...), tt.q); math.Abs(float64(got-tt.want)) > 1e-6 {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.vals, tt.q, got, tt.want)
		}
	}
}

func TestResolveLibraryStopsAtModuleRoot(t *testing.T) {
	outer := t.TempDir()
	// .ort above the module root must not be picked up.
	if err := os.MkdirAll(filepath.Join(outer, ".ort"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outer, ".ort", "libonnxruntime.so.1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(outer, "mod")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirs := upToModuleRoot(filepath.Join(mod, "pkg"))
	if len(dirs) != 2 || dirs[1] != mod {
		t.Fatalf("upToModuleRoot = %v, want [pkg, module root]", dirs)
	}
}
