package inference_test

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

func randomFeatures(rng *rand.Rand, n, c, h, w int) *inference.Features {
	f := &inference.Features{Layer: inference.LayerInfo{Name: "layerX", Index: 1, Channels: c, Height: h, Width: w}, N: n, Data: make([]float32, n*c*h*w)}
	for i := range f.Data {
		f.Data[i] = float32(rng.NormFloat64() * 3)
	}
	return f
}

func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return -2
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestApplyEditsEmptyIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := randomFeatures(rng, 2, 6, 4, 4)
	dst := &inference.Features{}
	for _, edits := range [][]inference.Edit{nil, {}, {{Units: nil, Mode: inference.ModeRemove, Strength: 1, Mask: inference.FullMask(4, 4)}},
		{{Units: []int{1, 2}, Mode: inference.ModeRemove, Strength: 0, Mask: inference.FullMask(4, 4)}},
		{{Units: []int{3}, Mode: inference.ModeRemove, Strength: 1, Mask: inference.RectMask(4, 4, 0, 0, 0, 0)}}} {
		if err := inference.ApplyEdits(dst, src, edits, nil, inference.PoolMax); err != nil {
			t.Fatal(err)
		}
		if i := sameBits(dst.Data, src.Data); i != -1 {
			t.Fatalf("edits %v changed value %d", edits, i)
		}
	}
}

func TestApplyEditsSemantics(t *testing.T) {
	const c, h, w = 4, 2, 2
	levels := []float32{10, 20, 30, 40}
	full := inference.FullMask(4, 4)
	tests := []struct {
		name  string
		edits []inference.Edit
		x     float32 // every input value
		want  [c]float32
	}{
		{"remove", []inference.Edit{{Units: []int{1}, Mode: inference.ModeRemove, Strength: 1, Mask: full}}, 3, [c]float32{3, 0, 3, 3}},
		{"add", []inference.Edit{{Units: []int{0, 2}, Mode: inference.ModeAdd, Strength: 1, Mask: full}}, 3, [c]float32{10, 3, 30, 3}},
		{"set", []inference.Edit{{Units: []int{3}, Mode: inference.ModeSet, Value: -7, Strength: 1, Mask: full}}, 3, [c]float32{3, 3, 3, -7}},
		{"half strength fades", []inference.Edit{{Units: []int{0}, Mode: inference.ModeAdd, Strength: 0.5, Mask: full}}, 2, [c]float32{6, 2, 2, 2}},
		{"strength above one over-drives add", []inference.Edit{{Units: []int{1}, Mode: inference.ModeAdd, Strength: 2, Mask: full}}, 2, [c]float32{2, 40, 2, 2}},
		{"strength above one is plain remove", []inference.Edit{{Units: []int{1}, Mode: inference.ModeRemove, Strength: 3, Mask: full}}, 2, [c]float32{2, 0, 2, 2}},
		{"later edit wins: remove then add", []inference.Edit{
			{Units: []int{0}, Mode: inference.ModeRemove, Strength: 1, Mask: full},
			{Units: []int{0}, Mode: inference.ModeAdd, Strength: 1, Mask: full}}, 5, [c]float32{10, 5, 5, 5}},
		{"later edit wins: add then remove", []inference.Edit{
			{Units: []int{0}, Mode: inference.ModeAdd, Strength: 1, Mask: full},
			{Units: []int{0}, Mode: inference.ModeRemove, Strength: 1, Mask: full}}, 5, [c]float32{0, 5, 5, 5}},
		// α_acc = .5, v_acc = 0; new α = .5, v = 4 → α = .75, v = 2/.75 → x' = .25x + 2.
		{"over operator", []inference.Edit{
			{Units: []int{2}, Mode: inference.ModeRemove, Strength: 0.5, Mask: full},
			{Units: []int{2}, Mode: inference.ModeSet, Value: 4, Strength: 0.5, Mask: full}}, 8, [c]float32{8, 8, 4, 8}},
		// x' = x + min(s·w, 1)·(v − x): unit 0 goes a quarter of the way, unit 3 all the way.
		{"blend per-unit weights and values", []inference.Edit{{Units: []int{0, 3}, Mode: inference.ModeBlend, Strength: 1,
			Weights: []float32{0.25, 1}, Values: []float32{6, -1}, Mask: full}}, 2, [c]float32{3, 2, 2, -1}},
		{"blend strength scales the weights", []inference.Edit{{Units: []int{0, 3}, Mode: inference.ModeBlend, Strength: 0.5,
			Weights: []float32{0.5, 1}, Values: []float32{6, -2}, Mask: full}}, 2, [c]float32{3, 2, 2, 0}},
		{"blend strength above one saturates at weight one", []inference.Edit{{Units: []int{0, 3}, Mode: inference.ModeBlend, Strength: 4,
			Weights: []float32{0.5, 0.1}, Values: []float32{6, -2}, Mask: full}}, 2, [c]float32{6, 2, 2, 0.4}},
		{"blend zero weight leaves the unit", []inference.Edit{{Units: []int{1}, Mode: inference.ModeBlend, Strength: 3,
			Weights: []float32{0}, Values: []float32{9}, Mask: full}}, 2, [c]float32{2, 2, 2, 2}},
		{"blend then remove", []inference.Edit{
			{Units: []int{2}, Mode: inference.ModeBlend, Strength: 1, Weights: []float32{1}, Values: []float32{7}, Mask: full},
			{Units: []int{2}, Mode: inference.ModeRemove, Strength: 0.5, Mask: full}}, 1, [c]float32{1, 1, 3.5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &inference.Features{Layer: inference.LayerInfo{Name: "l", Channels: c, Height: h, Width: w}, N: 1, Data: make([]float32, c*h*w)}
			for i := range src.Data {
				src.Data[i] = tt.x
			}
			var dst inference.Features
			if err := inference.ApplyEdits(&dst, src, tt.edits, levels, inference.PoolMax); err != nil {
				t.Fatal(err)
			}
			for u := 0; u < c; u++ {
				for p := 0; p < h*w; p++ {
					if got := dst.Data[u*h*w+p]; math.Abs(float64(got-tt.want[u])) > 1e-5 {
						t.Fatalf("unit %d cell %d = %v, want %v", u, p, got, tt.want[u])
					}
				}
			}
		})
	}
}

// Over-composition of a list must equal applying the edits one after another.
func TestApplyEditsComposeEqualsSequential(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const c, h, w = 5, 4, 4
	levels := []float32{1, 2, 3, 4, 5}
	for trial := 0; trial < 50; trial++ {
		src := randomFeatures(rng, 2, c, h, w)
		var edits []inference.Edit
		for k := rng.IntN(5) + 1; k > 0; k-- {
			mask := inference.Mask{Width: 8, Height: 8, Alpha: make([]float32, 64)}
			for i := range mask.Alpha {
				if rng.IntN(3) > 0 {
					mask.Alpha[i] = rng.Float32()
				}
			}
			e := inference.Edit{Units: []int{rng.IntN(c), rng.IntN(c)}, Mode: inference.Mode(rng.IntN(4) + 1),
				Value: float32(rng.NormFloat64()), Strength: rng.Float32() * 1.2, Mask: mask}
			if e.Mode == inference.ModeBlend {
				e.Weights = []float32{rng.Float32(), rng.Float32()}
				e.Values = []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64())}
			}
			edits = append(edits, e)
		}
		pool := inference.Pooling(rng.IntN(2))
		var all inference.Features
		if err := inference.ApplyEdits(&all, src, edits, levels, pool); err != nil {
			t.Fatal(err)
		}
		seq := &inference.Features{Layer: src.Layer, N: src.N, Data: append([]float32(nil), src.Data...)}
		for _, e := range edits {
			// Duplicate units inside one edit compose with themselves; mimic that.
			for i, u := range e.Units {
				one := e
				one.Units = []int{u}
				if e.Mode == inference.ModeBlend {
					one.Weights, one.Values = e.Weights[i:i+1], e.Values[i:i+1]
				}
				if err := inference.ApplyEdits(seq, seq, []inference.Edit{one}, levels, pool); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range all.Data {
			if d := math.Abs(float64(all.Data[i] - seq.Data[i])); d > 1e-4*(1+math.Abs(float64(seq.Data[i]))) {
				t.Fatalf("trial %d value %d: composed %v, sequential %v", trial, i, all.Data[i], seq.Data[i])
			}
		}
	}
}

func TestApplyEditsBatchAndMaskedCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := randomFeatures(rng, 3, 4, 4, 4)
	orig := append([]float32(nil), src.Data...)
	// Canvas 16×16 over a 4×4 grid: pixels x in [4,8), y in [0,4) are exactly cell (0,1).
	edits := []inference.Edit{{Units: []int{2}, Mode: inference.ModeRemove, Strength: 1, Mask: inference.RectMask(16, 16, 4, 0, 8, 4)}}
	if err := inference.ApplyEdits(src, src, edits, nil, inference.PoolMax); err != nil { // in place
		t.Fatal(err)
	}
	for n := 0; n < 3; n++ {
		for u := 0; u < 4; u++ {
			for p := 0; p < 16; p++ {
				i := (n*4+u)*16 + p
				if u == 2 && p == 1 {
					if src.Data[i] != 0 {
						t.Fatalf("image %d unit 2 cell 1 = %v, want 0", n, src.Data[i])
					}
				} else if math.Float32bits(src.Data[i]) != math.Float32bits(orig[i]) {
					t.Fatalf("image %d unit %d cell %d changed", n, u, p)
				}
			}
		}
	}
}

func TestMaskPool(t *testing.T) {
	tests := []struct {
		name   string
		mask   inference.Mask
		gw, gh int
		pool   inference.Pooling
		want   []float32
	}{
		{"max one pixel", onePixel(16, 16, 5, 2), 8, 8, inference.PoolMax, cellValue(8, 8, 2, 1, 1)},
		{"mean one pixel", onePixel(16, 16, 5, 2), 8, 8, inference.PoolMean, cellValue(8, 8, 2, 1, 0.25)},
		{"identity", onePixel(4, 4, 3, 3), 4, 4, inference.PoolMean, cellValue(4, 4, 3, 3, 1)},
		// 10 px over 4 cells: cell rows are [0,3) [2,5) [5,8) [7,10), so y=2 is in cells 0 and 1.
		{"straddling max", onePixel(10, 10, 0, 2), 4, 4, inference.PoolMax, []float32{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"straddling mean", onePixel(10, 10, 0, 2), 4, 4, inference.PoolMean, []float32{1. / 9, 0, 0, 0, 1. / 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"full", inference.FullMask(32, 32), 8, 8, inference.PoolMean, fill(64, 1)},
		{"soft max", inference.Mask{Width: 2, Height: 2, Alpha: []float32{0.2, 0.7, 0.1, 0}}, 1, 1, inference.PoolMax, []float32{0.7}},
		{"soft mean", inference.Mask{Width: 2, Height: 2, Alpha: []float32{0.2, 0.7, 0.1, 0}}, 1, 1, inference.PoolMean, []float32{0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.mask.Validate(tt.gw, tt.gh); err != nil {
				t.Fatal(err)
			}
			pooled, err := tt.mask.Pooled(tt.gw, tt.gh, tt.pool)
			if err != nil {
				t.Fatal(err)
			}
			got := pooled.Alpha
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("cell %d = %v, want %v (all %v)", i, got[i], tt.want[i], got)
				}
			}
		})
	}
}

func onePixel(w, h, x, y int) inference.Mask {
	m := inference.Mask{Width: w, Height: h, Alpha: make([]float32, w*h)}
	m.Alpha[y*w+x] = 1
	return m
}

func cellValue(gw, gh, cx, cy int, v float32) []float32 {
	out := make([]float32, gw*gh)
	out[cy*gw+cx] = v
	return out
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestRectMask(t *testing.T) {
	m := inference.RectMask(4, 3, -2, 1, 9, 2)
	want := []float32{0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}
	if sameBits(m.Alpha, want) != -1 {
		t.Fatalf("RectMask = %v, want %v", m.Alpha, want)
	}
}

func TestApplyEditsRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	good := func() inference.Edit {
		return inference.Edit{Units: []int{0}, Mode: inference.ModeRemove, Strength: 1, Mask: inference.FullMask(8, 8)}
	}
	levels := []float32{1, 2, 3}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name   string
		edit   func() inference.Edit
		levels []float32
		pool   inference.Pooling
		src    func(*inference.Features)
		want   error
	}{
		{"unit negative", func() inference.Edit { e := good(); e.Units = []int{-1}; return e }, levels, inference.PoolMax, nil, inference.ErrUnitOutOfRange},
		{"unit too big", func() inference.Edit { e := good(); e.Units = []int{0, 3}; return e }, levels, inference.PoolMax, nil, inference.ErrUnitOutOfRange},
		{"mask wrong length", func() inference.Edit { e := good(); e.Mask.Alpha = e.Mask.Alpha[:63]; return e }, levels, inference.PoolMax, nil, inference.ErrMaskSize},
		{"mask smaller than grid", func() inference.Edit { e := good(); e.Mask = inference.FullMask(2, 8); return e }, levels, inference.PoolMax, nil, inference.ErrMaskSize},
		{"mask zero", func() inference.Edit { e := good(); e.Mask = inference.Mask{}; return e }, levels, inference.PoolMax, nil, inference.ErrMaskSize},
		{"mask negative size", func() inference.Edit {
			e := good()
			e.Mask = inference.Mask{Width: -4, Height: -4, Alpha: make([]float32, 16)}
			return e
		}, levels, inference.PoolMax, nil, inference.ErrMaskSize},
		{"mask huge", func() inference.Edit { e := good(); e.Mask = inference.Mask{Width: 1 << 20, Height: 1}; return e }, levels, inference.PoolMax, nil, inference.ErrMaskSize},
		{"mask NaN", func() inference.Edit { e := good(); e.Mask.Alpha[5] = nan; return e }, levels, inference.PoolMax, nil, inference.ErrBadMask},
		{"mask above one", func() inference.Edit { e := good(); e.Mask.Alpha[5] = 1.5; return e }, levels, inference.PoolMax, nil, inference.ErrBadMask},
		{"mask negative", func() inference.Edit { e := good(); e.Mask.Alpha[5] = -0.1; return e }, levels, inference.PoolMax, nil, inference.ErrBadMask},
		{"strength NaN", func() inference.Edit { e := good(); e.Strength = nan; return e }, levels, inference.PoolMax, nil, inference.ErrBadStrength},
		{"strength negative", func() inference.Edit { e := good(); e.Strength = -1; return e }, levels, inference.PoolMax, nil, inference.ErrBadStrength},
		{"strength infinite", func() inference.Edit { e := good(); e.Strength = inf; return e }, levels, inference.PoolMax, nil, inference.ErrBadStrength},
		{"mode zero", func() inference.Edit { e := good(); e.Mode = 0; return e }, levels, inference.PoolMax, nil, inference.ErrBadMode},
		{"mode unknown", func() inference.Edit { e := good(); e.Mode = 9; return e }, levels, inference.PoolMax, nil, inference.ErrBadMode},
		{"set NaN", func() inference.Edit { e := good(); e.Mode = inference.ModeSet; e.Value = nan; return e }, levels, inference.PoolMax, nil, inference.ErrBadValue},
		{"blend without weights", func() inference.Edit { e := good(); e.Mode = inference.ModeBlend; e.Values = []float32{1}; return e }, levels, inference.PoolMax, nil, inference.ErrBadValue},
		{"blend short values", func() inference.Edit {
			e := good()
			e.Mode, e.Units, e.Weights, e.Values = inference.ModeBlend, []int{0, 1}, []float32{1, 1}, []float32{1}
			return e
		}, levels, inference.PoolMax, nil, inference.ErrBadValue},
		{"blend weight above one", func() inference.Edit {
			e := good()
			e.Mode, e.Weights, e.Values = inference.ModeBlend, []float32{1.5}, []float32{1}
			return e
		}, levels, inference.PoolMax, nil, inference.ErrBadValue},
		{"blend weight NaN", func() inference.Edit {
			e := good()
			e.Mode, e.Weights, e.Values = inference.ModeBlend, []float32{nan}, []float32{1}
			return e
		}, levels, inference.PoolMax, nil, inference.ErrBadValue},
		{"blend value infinite", func() inference.Edit {
			e := good()
			e.Mode, e.Weights, e.Values = inference.ModeBlend, []float32{0.5}, []float32{inf}
			return e
		}, levels, inference.PoolMax, nil, inference.ErrBadValue},
		{"add without levels", func() inference.Edit { e := good(); e.Mode = inference.ModeAdd; return e }, nil, inference.PoolMax, nil, inference.ErrBadLevels},
		{"add short levels", func() inference.Edit { e := good(); e.Mode = inference.ModeAdd; return e }, levels[:2], inference.PoolMax, nil, inference.ErrBadLevels},
		{"add NaN level", func() inference.Edit { e := good(); e.Mode = inference.ModeAdd; return e }, []float32{1, nan, 3}, inference.PoolMax, nil, inference.ErrBadLevels},
		{"unknown pooling", good, levels, inference.Pooling(7), nil, inference.ErrBadMask},
		{"short data", good, levels, inference.PoolMax, func(f *inference.Features) { f.Data = f.Data[:10] }, inference.ErrBadShape},
		{"zero batch", good, levels, inference.PoolMax, func(f *inference.Features) { f.N = 0 }, inference.ErrBadShape},
		{"zero channels", good, levels, inference.PoolMax, func(f *inference.Features) { f.Layer.Channels = 0 }, inference.ErrBadShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := randomFeatures(rng, 1, 3, 4, 4)
			if tt.src != nil {
				tt.src(src)
			}
			before := append([]float32(nil), src.Data...)
			dst := &inference.Features{Data: make([]float32, 48)}
			err := inference.ApplyEdits(dst, src, []inference.Edit{good(), tt.edit()}, tt.levels, tt.pool)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if sameBits(src.Data, before) != -1 {
				t.Fatal("src modified on error")
			}
			for _, v := range dst.Data {
				if v != 0 {
					t.Fatal("dst written on error")
				}
			}
		})
	}
	if err := inference.ApplyEdits(nil, randomFeatures(rng, 1, 3, 4, 4), nil, nil, inference.PoolMax); !errors.Is(err, inference.ErrBadShape) {
		t.Errorf("nil dst error = %v", err)
	}
}

// FuzzApplyEdits decodes arbitrary bytes into features, a mask and edits (as a
// client could send them) and checks validation never panics and always
// reports a typed error.
func FuzzApplyEdits(f *testing.F) {
	f.Add([]byte{3, 4, 4, 8, 8, 1, 0, 1, 0x3f, 0x80, 0, 0})
	f.Add([]byte{1, 1, 1, 0, 0, 9, 200, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{2, 2, 3, 5, 7, 3, 1, 0x7f, 0xc0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		nextF := func() float32 {
			var b [4]byte
			for i := range b {
				b[i] = next()
			}
			return math.Float32frombits(binary.BigEndian.Uint32(b[:]))
		}
		c, h, w := int(next()%8), int(next()%8), int(next()%8)
		mw, mh := int(next()%40)-2, int(next()%40)-2
		src := &inference.Features{Layer: inference.LayerInfo{Name: "f", Channels: c, Height: h, Width: w}, N: 1, Data: make([]float32, c*h*w)}
		alphaLen := max(mw*mh, 0)
		if next()%4 == 0 {
			alphaLen++
		}
		mask := inference.Mask{Width: mw, Height: mh, Alpha: make([]float32, alphaLen)}
		for i := range mask.Alpha {
			mask.Alpha[i] = float32(next()) / 200
		}
		var edits []inference.Edit
		for k := int(next() % 4); k > 0; k-- {
			e := inference.Edit{Units: []int{int(int8(next()))}, Mode: inference.Mode(next() % 6), Value: nextF(), Strength: nextF(), Mask: mask}
			if next()%2 == 0 {
				e.Weights, e.Values = []float32{nextF()}, []float32{nextF()}
			}
			edits = append(edits, e)
		}
		var levels []float32
		for i := int(next() % 9); i > 0; i-- {
			levels = append(levels, nextF())
		}
		var dst inference.Features
		err := inference.ApplyEdits(&dst, src, edits, levels, inference.Pooling(next()%3))
		if err == nil {
			if len(dst.Data) != len(src.Data) {
				t.Fatalf("dst has %d values, src %d", len(dst.Data), len(src.Data))
			}
			return
		}
		for _, typed := range []error{inference.ErrBadShape, inference.ErrUnitOutOfRange, inference.ErrMaskSize, inference.ErrBadMask, inference.ErrBadStrength, inference.ErrBadValue, inference.ErrBadMode, inference.ErrBadLevels} {
			if errors.Is(err, typed) {
				return
			}
		}
		t.Fatalf("untyped error: %v", err)
	})
}

func TestMaskPooledIsIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	src := randomFeatures(rng, 1, 3, 8, 8)
	levels := []float32{1, 2, 3}
	for _, pool := range []inference.Pooling{inference.PoolMax, inference.PoolMean} {
		mask := inference.Mask{Width: 50, Height: 37, Alpha: make([]float32, 50*37)}
		for i := range mask.Alpha {
			mask.Alpha[i] = rng.Float32()
		}
		small, err := mask.Pooled(8, 8, pool)
		if err != nil {
			t.Fatal(err)
		}
		if small.Width != 8 || small.Height != 8 {
			t.Fatalf("pooled mask is %dx%d", small.Width, small.Height)
		}
		var a, b inference.Features
		big := []inference.Edit{{Units: []int{0, 2}, Mode: inference.ModeAdd, Strength: 0.7, Mask: mask}}
		pre := []inference.Edit{{Units: []int{0, 2}, Mode: inference.ModeAdd, Strength: 0.7, Mask: small}}
		if err := inference.ApplyEdits(&a, src, big, levels, pool); err != nil {
			t.Fatal(err)
		}
		if err := inference.ApplyEdits(&b, src, pre, levels, pool); err != nil {
			t.Fatal(err)
		}
		if i := sameBits(a.Data, b.Data); i != -1 {
			t.Fatalf("pool %d: pre-pooled mask gives a different result at %d", pool, i)
		}
	}
	bad := inference.FullMask(16, 16)
	bad.Alpha[3] = float32(math.NaN())
	if _, err := bad.Pooled(8, 8, inference.PoolMax); !errors.Is(err, inference.ErrBadMask) {
		t.Errorf("NaN mask error = %v", err)
	}
	if _, err := inference.FullMask(4, 4).Pooled(8, 8, inference.PoolMax); !errors.Is(err, inference.ErrMaskSize) {
		t.Errorf("small mask error = %v", err)
	}
	if _, err := inference.FullMask(8, 8).Pooled(8, 8, inference.Pooling(3)); !errors.Is(err, inference.ErrBadMask) {
		t.Errorf("bad pooling error = %v", err)
	}
}
