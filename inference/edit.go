package inference

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// Mode says what an edit does to its units.
type Mode int

const (
	// ModeAdd drives the units towards their level (see Model.Levels).
	ModeAdd Mode = iota + 1
	// ModeRemove drives the units towards 0 (ablation).
	ModeRemove
	// ModeSet drives the units towards Edit.Value.
	ModeSet
	// ModeBlend drives each unit Units[i] towards its own Values[i], with its
	// own weight Weights[i] in [0, 1]: a learned concept recipe.
	ModeBlend
)

func (m Mode) String() string {
	switch m {
	case ModeAdd:
		return "add"
	case ModeRemove:
		return "remove"
	case ModeSet:
		return "set"
	case ModeBlend:
		return "blend"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Edit is one intervention on a set of units of a layer.
//
// Strength s (finite, ≥ 0) acts as follows, per unit and layer cell:
// the edit's opacity is α = min(s, 1)·pooledMask(cell) and its target value
// is v = level·max(s, 1) for ModeAdd, 0 for ModeRemove and Value for ModeSet.
// So s in [0, 1] fades the edit in, and s > 1 only over-drives ModeAdd.
//
// ModeBlend (a concept recipe) gives unit Units[i] the opacity
// α = min(s·Weights[i], 1)·pooledMask(cell) and the target Values[i], i.e.
// x' = x + α·(Values[i] − x). A target replaces the unit's value rather than
// scaling it because the next block's pixel norm would undo any scaling; so
// s blends between the image and the recipe, and s > 1 only raises the
// units whose weight is below 1.
type Edit struct {
	Units    []int
	Mode     Mode
	Value    float32
	Strength float32
	Mask     Mask
	// Weights and Values, one per entry of Units, are used by ModeBlend only
	// (each weight in [0, 1], each value finite).
	Weights []float32
	Values  []float32
}

// Mask is a paint mask at canvas resolution (any size at least the layer
// grid, normally the image or a paint grid), row-major, each value in [0, 1].
// The canvas spans the whole image, so it is pooled onto each layer's grid.
type Mask struct {
	Width, Height int
	Alpha         []float32
}

// FullMask covers the whole canvas: an edit with it acts everywhere.
func FullMask(w, h int) Mask {
	a := make([]float32, w*h)
	for i := range a {
		a[i] = 1
	}
	return Mask{Width: w, Height: h, Alpha: a}
}

// RectMask covers canvas pixels x0 ≤ x < x1, y0 ≤ y < y1 (clipped to the canvas).
func RectMask(w, h, x0, y0, x1, y1 int) Mask {
	m := Mask{Width: w, Height: h, Alpha: make([]float32, max(w, 0)*max(h, 0))}
	for y := max(y0, 0); y < min(y1, h); y++ {
		for x := max(x0, 0); x < min(x1, w); x++ {
			m.Alpha[y*w+x] = 1
		}
	}
	return m
}

// Pooling says how canvas pixels covering one layer cell become its alpha.
type Pooling int

const (
	// PoolMax: any painted pixel counts fully (the reference's behaviour).
	PoolMax Pooling = iota
	// PoolMean: the cell's alpha is the painted fraction (soft edges).
	PoolMean
)

// maxMaskSide bounds canvas size so a hostile mask cannot force huge work.
const maxMaskSide = 1 << 13

// Validate checks the mask against a layer grid of gw×gh cells.
func (mk Mask) Validate(gw, gh int) error {
	if err := mk.checkSize(gw, gh); err != nil {
		return err
	}
	for i, a := range mk.Alpha {
		if !(a >= 0 && a <= 1) { // also rejects NaN
			return badAlpha(mk, i)
		}
	}
	return nil
}

func (mk Mask) checkSize(gw, gh int) error {
	if mk.Width <= 0 || mk.Height <= 0 || mk.Width > maxMaskSide || mk.Height > maxMaskSide {
		return fmt.Errorf("%w: %dx%d, each side must be in [1, %d]", ErrMaskSize, mk.Width, mk.Height, maxMaskSide)
	}
	if len(mk.Alpha) != mk.Width*mk.Height {
		return fmt.Errorf("%w: %d values for a %dx%d mask", ErrMaskSize, len(mk.Alpha), mk.Width, mk.Height)
	}
	if mk.Width < gw || mk.Height < gh {
		return fmt.Errorf("%w: %dx%d is smaller than the %dx%d layer grid", ErrMaskSize, mk.Width, mk.Height, gw, gh)
	}
	return nil
}

func badAlpha(mk Mask, i int) error {
	return fmt.Errorf("%w: alpha %v at (%d,%d) is outside [0, 1]", ErrBadMask, mk.Alpha[i], i%mk.Width, i/mk.Width)
}

// Pooled validates the mask and returns it pooled to the gw×gh grid, as a
// mask of that size. Cell (i, j) covers canvas rows ⌊i·H/gh⌋ … ⌈(i+1)·H/gh⌉−1
// (columns likewise), so when the canvas is not a multiple of the grid a
// border pixel counts for both cells it straddles. Pooling a grid-sized mask again is the identity, so a
// caller that keeps long edit lists (the painter re-applies every stroke on
// each frame) can pool each stroke's mask once and store the small one.
func (mk Mask) Pooled(gw, gh int, pool Pooling) (Mask, error) {
	if err := mk.checkSize(gw, gh); err != nil {
		return Mask{}, err
	}
	if pool != PoolMax && pool != PoolMean {
		return Mask{}, fmt.Errorf("%w: unknown pooling %d", ErrBadMask, int(pool))
	}
	out := Mask{Width: gw, Height: gh, Alpha: make([]float32, gw*gh)}
	if err := mk.pool(out.Alpha, gw, gh, pool); err != nil {
		return Mask{}, err
	}
	return out, nil
}

// pool checks every alpha value and pools into dst (gw·gh values), so
// ApplyEdits can validate and pool in one call.
func (mk Mask) pool(dst []float32, gw, gh int, pool Pooling) error {
	for i, a := range mk.Alpha {
		if !(a >= 0 && a <= 1) { // also rejects NaN
			return badAlpha(mk, i)
		}
	}
	w := mk.Width
	if w == gw && mk.Height == gh {
		copy(dst, mk.Alpha)
		return nil
	}
	for i := 0; i < gh; i++ {
		y0, y1 := i*mk.Height/gh, ceilDiv((i+1)*mk.Height, gh)
		for j := 0; j < gw; j++ {
			x0, x1 := j*w/gw, ceilDiv((j+1)*w, gw)
			var acc float32
			for y := y0; y < y1; y++ {
				row := mk.Alpha[y*w+x0 : y*w+x1]
				if pool == PoolMean {
					for _, a := range row {
						acc += a
					}
				} else {
					for _, a := range row {
						if a > acc {
							acc = a
						}
					}
				}
			}
			if pool == PoolMean {
				acc /= float32((y1 - y0) * (x1 - x0))
			}
			dst[i*gw+j] = acc
		}
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// ValidateEdits checks edits against a layer without applying them. levels
// may be nil when no edit uses ModeAdd.
func ValidateEdits(layer LayerInfo, edits []Edit, levels []float32) error {
	needLevels := false
	for i, e := range edits {
		if err := validateEdit(layer, e); err != nil {
			return fmt.Errorf("edit %d: %w", i, err)
		}
		needLevels = needLevels || e.Mode == ModeAdd
	}
	if needLevels {
		if err := checkLevels(levels, layer.Channels); err != nil {
			return fmt.Errorf("layer %s: %w", layer.Name, err)
		}
	}
	return nil
}

func validateEdit(layer LayerInfo, e Edit) error {
	switch e.Mode {
	case ModeAdd, ModeRemove:
	case ModeSet:
		if math.IsNaN(float64(e.Value)) || math.IsInf(float64(e.Value), 0) {
			return fmt.Errorf("%w: %v", ErrBadValue, e.Value)
		}
	case ModeBlend:
		if len(e.Weights) != len(e.Units) || len(e.Values) != len(e.Units) {
			return fmt.Errorf("%w: blend edit has %d units, %d weights and %d values", ErrBadValue, len(e.Units), len(e.Weights), len(e.Values))
		}
		for i := range e.Units {
			if w := e.Weights[i]; !(w >= 0 && w <= 1) {
				return fmt.Errorf("%w: weight %v of unit %d is outside [0, 1]", ErrBadValue, w, e.Units[i])
			}
			if v := float64(e.Values[i]); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: value %v of unit %d", ErrBadValue, e.Values[i], e.Units[i])
			}
		}
	default:
		return fmt.Errorf("%w: %d", ErrBadMode, int(e.Mode))
	}
	if s := float64(e.Strength); math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return fmt.Errorf("%w: %v (must be finite and ≥ 0)", ErrBadStrength, e.Strength)
	}
	for _, u := range e.Units {
		if u < 0 || u >= layer.Channels {
			return fmt.Errorf("%w: unit %d, layer %s has units 0..%d", ErrUnitOutOfRange, u, layer.Name, layer.Channels-1)
		}
	}
	return e.Mask.Validate(layer.Width, layer.Height)
}

// validateEditHeader is validateEdit without scanning mask values, which
// ApplyEdits checks while pooling.
func validateEditHeader(layer LayerInfo, e Edit) error {
	m := e.Mask
	e.Mask = Mask{}
	if err := validateEdit(layer, e); err != nil && !errors.Is(err, ErrMaskSize) {
		return err
	}
	return m.checkSize(layer.Width, layer.Height)
}

// editScratch holds the per-call accumulation buffers of ApplyEdits.
type editScratch struct {
	slot   []int32   // unit → index into alpha/value, −1 when untouched
	alpha  []float32 // [slots, H·W]
	value  []float32 // [slots, H·W]
	pooled []float32 // [edits, H·W]
	cells  []int32   // cells the current edit touches
}

var editScratchPool = sync.Pool{New: func() any { return new(editScratch) }}

// ApplyEdits writes src with edits applied into dst (dst may be src, but
// must not otherwise share src's memory). Every
// image of the batch gets the same edits. Edits compose in order with the
// "over" operator, per unit and cell, and the result replaces x by
// x·(1−α)+v·α; units no edit touches, and cells with α = 0, are copied bit for
// bit, so an empty edit list reproduces src exactly. levels (one per unit,
// usually Model.Levels) is needed only by ModeAdd. Nothing is written when an
// edit is invalid.
func ApplyEdits(dst, src *Features, edits []Edit, levels []float32, pool Pooling) error {
	if src == nil || dst == nil {
		return fmt.Errorf("%w: nil features", ErrBadShape)
	}
	li := src.Layer
	if li.Channels <= 0 || li.Height <= 0 || li.Width <= 0 || src.N <= 0 || len(src.Data) != src.N*li.Size() {
		return fmt.Errorf("%w: features of %s: %d values for %d images of %dx%dx%d", ErrBadShape, li.Name,
			len(src.Data), src.N, li.Channels, li.Height, li.Width)
	}
	if pool != PoolMax && pool != PoolMean {
		return fmt.Errorf("%w: unknown pooling %d", ErrBadMask, int(pool))
	}
	needLevels := false
	for i, e := range edits {
		if err := validateEditHeader(li, e); err != nil {
			return fmt.Errorf("edit %d: %w", i, err)
		}
		needLevels = needLevels || e.Mode == ModeAdd
	}
	if needLevels {
		if err := checkLevels(levels, li.Channels); err != nil {
			return fmt.Errorf("layer %s: %w", li.Name, err)
		}
	}
	plane := li.Height * li.Width
	sc := editScratchPool.Get().(*editScratch)
	defer editScratchPool.Put(sc)
	if cap(sc.slot) < li.Channels {
		sc.slot = make([]int32, li.Channels)
	}
	sc.slot = sc.slot[:li.Channels]
	for i := range sc.slot {
		sc.slot[i] = -1
	}
	nSlots := 0
	for _, e := range edits {
		for _, u := range e.Units {
			if sc.slot[u] < 0 {
				sc.slot[u] = int32(nSlots)
				nSlots++
			}
		}
	}
	// Pool (and value-check) every mask before anything is written, so an
	// invalid edit leaves dst untouched.
	sc.pooled = grow(sc.pooled, len(edits)*plane)
	for i, e := range edits {
		if err := e.Mask.pool(sc.pooled[i*plane:(i+1)*plane], li.Width, li.Height, pool); err != nil {
			return fmt.Errorf("edit %d: %w", i, err)
		}
	}
	sc.alpha = grow(sc.alpha, nSlots*plane)
	sc.value = grow(sc.value, nSlots*plane)
	clear(sc.alpha)
	clear(sc.value)
	for i, e := range edits {
		if len(e.Units) == 0 {
			continue
		}
		pooled := sc.pooled[i*plane : (i+1)*plane]
		opacity := min(e.Strength, 1)
		if opacity == 0 {
			continue
		}
		// Brush strokes touch few cells: visit only those, for every unit.
		sc.cells = sc.cells[:0]
		for p, m := range pooled {
			if m != 0 {
				sc.cells = append(sc.cells, int32(p))
			}
		}
		for i, u := range e.Units {
			var v float32
			unitOpacity := opacity
			switch e.Mode {
			case ModeAdd:
				v = levels[u] * max(e.Strength, 1)
			case ModeSet:
				v = e.Value
			case ModeBlend:
				v = e.Values[i]
				unitOpacity = min(e.Strength*e.Weights[i], 1)
				if unitOpacity == 0 {
					continue
				}
			}
			s := int(sc.slot[u]) * plane
			accA, accV := sc.alpha[s:s+plane], sc.value[s:s+plane]
			for _, p := range sc.cells {
				an := unitOpacity * pooled[p]
				if an == 0 { // opacity·m can underflow
					continue
				}
				aa := accA[p]
				a := 1 - (1-an)*(1-aa)
				accV[p] = (accV[p]*aa*(1-an) + v*an) / a
				accA[p] = a
			}
		}
	}
	out := dst.Data
	if dst != src {
		out = grow(dst.Data, len(src.Data))
	}
	for n := 0; n < src.N; n++ {
		for c := 0; c < li.Channels; c++ {
			off := (n*li.Channels + c) * plane
			x, y := src.Data[off:off+plane], out[off:off+plane]
			s := sc.slot[c]
			if s < 0 {
				copy(y, x)
				continue
			}
			a := sc.alpha[int(s)*plane : (int(s)+1)*plane]
			v := sc.value[int(s)*plane : (int(s)+1)*plane]
			for p := range y {
				if a[p] == 0 {
					y[p] = x[p]
				} else {
					y[p] = x[p]*(1-a[p]) + v[p]*a[p]
				}
			}
		}
	}
	dst.Layer, dst.N, dst.Data = li, src.N, out
	return nil
}
