package efficacy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/ganpaint-go/ganpaint/inference"
)

// Step is one named strength of a brush ("low", "medium", "high").
type Step struct {
	Name     string  `json:"name"`
	Strength float32 `json:"strength"`
}

// Brush is one way of painting or erasing a concept: the units a stroke
// switches at a layer and how (an inference.Edit without its mask), plus the
// strength steps it is measured at.
type Brush struct {
	// Name identifies the brush: "<concept>-<kind>", e.g. "tree-iou", "tree-ace".
	Name    string
	Concept string
	// Kind says where the units come from: "iou" (dissection ranking, each
	// unit at its level), or the recipe's kind ("ace", "dense", "remove", …).
	Kind   string
	Layer  string
	Remove bool // erases the concept rather than painting it
	Mode   inference.Mode
	Units  []int
	// Weights and Values are the recipe (ModeBlend only).
	Weights, Values []float32
	// Levels are the layer's per-unit add levels (ModeAdd only).
	Levels []float32
	Steps  []Step
	// Default names the step the painter starts at.
	Default string
}

// Edit is the brush at strength s under mask, as the painter applies it.
func (b Brush) Edit(s float32, mask inference.Mask) inference.Edit {
	return inference.Edit{Units: b.Units, Mode: b.Mode, Strength: s, Mask: mask, Weights: b.Weights, Values: b.Values}
}

// BrushName, DefaultStep and StepNames let brushes.Find choose among brushes.
func (b Brush) BrushName() string   { return b.Name }
func (b Brush) DefaultStep() string { return b.Default }
func (b Brush) StepNames() []string {
	out := make([]string, len(b.Steps))
	for i, s := range b.Steps {
		out[i] = s.Name
	}
	return out
}

// Validate checks the brush against its layer.
func (b Brush) Validate(li inference.LayerInfo) error {
	if b.Name == "" || b.Concept == "" {
		return fmt.Errorf("%w: brush needs a name and a concept", ErrBadBrush)
	}
	if len(b.Steps) == 0 {
		return fmt.Errorf("%w: brush %s has no strength steps", ErrBadBrush, b.Name)
	}
	for _, s := range b.Steps {
		if s.Name == "" || !(s.Strength > 0) || math.IsInf(float64(s.Strength), 0) {
			return fmt.Errorf("%w: brush %s: step %q strength %v", ErrBadBrush, b.Name, s.Name, s.Strength)
		}
	}
	if b.Mode == inference.ModeAdd && len(b.Levels) != li.Channels {
		return fmt.Errorf("%w: brush %s adds at levels but has %d levels for %d units", ErrBadBrush, b.Name, len(b.Levels), li.Channels)
	}
	if err := inference.ValidateEdits(li, []inference.Edit{b.Edit(1, inference.FullMask(li.Width, li.Height))}, b.Levels); err != nil {
		return fmt.Errorf("%w: brush %s: %w", ErrBadBrush, b.Name, err)
	}
	return nil
}

// Fingerprint identifies what the brush does (layer, mode, units, weights,
// values, levels of its units), so a calibration stored for one recipe is
// not reused for a retrained one of the same name.
func (b Brush) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%d|%t|", b.Layer, b.Mode, len(b.Units), b.Remove)
	var buf [4]byte
	put := func(v float32) {
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
		h.Write(buf[:])
	}
	for i, u := range b.Units {
		binary.LittleEndian.PutUint32(buf[:], uint32(u))
		h.Write(buf[:])
		if i < len(b.Weights) {
			put(b.Weights[i])
		}
		if i < len(b.Values) {
			put(b.Values[i])
		}
		if u < len(b.Levels) {
			put(b.Levels[u])
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Default strength steps when nothing calibrated them. Insertion at levels
// keeps the painter's old meaning at "medium" (strength 1); blend recipes
// fade in; erasing fades out.
var (
	DefaultAddSteps    = []Step{{"low", 0.5}, {"medium", 1}, {"high", 2}}
	DefaultBlendSteps  = []Step{{"low", 0.5}, {"medium", 0.75}, {"high", 1}}
	DefaultRemoveSteps = []Step{{"low", 0.5}, {"medium", 0.75}, {"high", 1}}
)

// DefaultStep is the uncalibrated default step: strength 1, which is what
// the painter did before steps existed (IoU ranking at level, or off).
func DefaultStep(mode inference.Mode, remove bool) string {
	if remove || mode != inference.ModeAdd {
		return "high"
	}
	return "medium"
}

// DefaultSteps are the uncalibrated steps for a brush of that mode.
func DefaultSteps(mode inference.Mode, remove bool) []Step {
	switch {
	case remove:
		return append([]Step(nil), DefaultRemoveSteps...)
	case mode == inference.ModeAdd:
		return append([]Step(nil), DefaultAddSteps...)
	}
	return append([]Step(nil), DefaultBlendSteps...)
}

// Candidate strengths a calibration sweeps (Calibrate).
var (
	addCandidates    = []float32{0.5, 1, 1.5, 2, 3}
	blendCandidates  = []float32{0.25, 0.5, 0.75, 1, 1.5, 2}
	removeCandidates = []float32{0.25, 0.5, 0.75, 1}
)

func candidates(b Brush) []float32 {
	switch {
	case b.Remove && b.Mode != inference.ModeBlend:
		return removeCandidates
	case b.Remove:
		return append(append([]float32(nil), removeCandidates...), 1.5, 2)
	case b.Mode == inference.ModeAdd:
		return addCandidates
	}
	return blendCandidates
}
