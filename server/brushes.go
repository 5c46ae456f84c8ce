package server

import (
	"errors"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

// BrushSource is the optional part of Concepts that offers several brushes
// per concept — learned recipes next to the IoU ranking — each with named
// strength steps. With a Concepts that lacks it, every stroke switches the
// concept's top-ranked units at strength 1, as before recipes existed.
type BrushSource interface {
	// Brushes lists the concept's brushes at layer, the default first in
	// each list; empty lists when the concept has none there.
	Brushes(layer, concept string) ConceptBrushes
}

// ConceptBrushes are the painting and erasing brushes of a concept at a layer.
type ConceptBrushes struct {
	Add, Remove []Brush
}

// Brush is one way to paint or erase a concept.
type Brush struct {
	Name string
	Kind string // "iou" for the ranking, else the recipe's kind
	// Layer is the layer the brush edits; "" means the session's layer. A
	// recipe trained at a finer layer (a door at layer6) can be painted from
	// a session at an earlier one: the engine edits each layer in turn.
	Layer string
	// Ranked brushes switch the top `units` of the concept's ranking (the
	// stroke's units field) to their levels (or off); the others are
	// recipes: Units move towards Values with Weights (inference.ModeBlend).
	Ranked          bool
	Units           []int
	Weights, Values []float32
	Steps           []Step
	Default         string // name of the default step
}

// Step is a named strength with the effect the brush-efficacy benchmark
// measured at it (nil when it was not measured).
type Step struct {
	Name     string
	Strength float32
	Effect   *StepEffect
}

// StepEffect is what the benchmark measured (docs/efficacy.md): for painting
// the success in plausible regions, the mean rise and the leaks; for
// erasing the relative drop everywhere, the share of images losing half,
// the damage to other pixels and the drop inside regions (as -Rise).
type StepEffect struct {
	Success  float64 `json:"success,omitempty"`
	Rise     float64 `json:"rise,omitempty"`
	LeakNear float64 `json:"leak_near,omitempty"`
	LeakFar  float64 `json:"leak_far,omitempty"`
	Drop     float64 `json:"drop,omitempty"`
	Half     float64 `json:"half,omitempty"`
	Damage   float64 `json:"damage,omitempty"`
}

// HelloBrushes is one concept's brushes in the hello message.
type HelloBrushes struct {
	Add    []HelloBrush `json:"add"`
	Remove []HelloBrush `json:"remove"`
}

// HelloBrush describes a brush to the client; the first of a list is the
// default.
type HelloBrush struct {
	Name    string      `json:"name"`
	Kind    string      `json:"kind"`
	Layer   string      `json:"layer"`
	Ranked  bool        `json:"ranked"`
	Default string      `json:"default"`
	Steps   []HelloStep `json:"steps"`
}

// HelloStep is a strength step and, when measured, its effect.
type HelloStep struct {
	Name     string      `json:"name"`
	Strength float32     `json:"strength"`
	Effect   *StepEffect `json:"effect,omitempty"`
}

func helloBrushes(cb ConceptBrushes) *HelloBrushes {
	if len(cb.Add) == 0 && len(cb.Remove) == 0 {
		return nil
	}
	conv := func(list []Brush) []HelloBrush {
		out := []HelloBrush{}
		for _, b := range list {
			hb := HelloBrush{Name: b.Name, Kind: b.Kind, Layer: b.Layer, Ranked: b.Ranked, Default: b.Default}
			for _, s := range b.Steps {
				hb.Steps = append(hb.Steps, HelloStep{Name: s.Name, Strength: s.Strength, Effect: s.Effect})
			}
			out = append(out, hb)
		}
		return out
	}
	return &HelloBrushes{Add: conv(cb.Add), Remove: conv(cb.Remove)}
}

// brushesOf asks the Concepts for brushes when it offers them.
func (s *site) brushesOf(layer, concept string) ConceptBrushes {
	if bs, ok := s.concepts.(BrushSource); ok {
		return bs.Brushes(layer, concept)
	}
	return ConceptBrushes{}
}

// legacyBrush is what an edit without a brush name means: the concept's
// top-ranked units at strength 1 (the painter before recipes, and share
// links made then).
var legacyBrush = Brush{Ranked: true, Steps: []Step{{Strength: 1}}}

// resolveBrush finds the brush and step of an edit. An empty name in a
// live message means the concept's default brush (and its default step);
// stroke and eraseAll fill the names in before the edit is made, so a share
// token always records them. Names left empty here (tokens made before
// brushes existed) mean the legacy brush.
func (s *site) resolveBrush(layer, concept string, remove bool, name, step string) (Brush, Step, *protoError) {
	if name == "" && step == "" {
		return legacyBrush, legacyBrush.Steps[0], nil
	}
	list := s.brushList(layer, concept, remove)
	bi, si, err := brushes.Find(list, name, step)
	switch {
	case errors.Is(err, brushes.ErrNoStep):
		return Brush{}, Step{}, perr(codeUnknownBrush, "brush %q has no strength %q", truncate(name, 48), truncate(step, 16))
	case err != nil:
		return Brush{}, Step{}, perr(codeUnknownBrush, "no brush %q for %q at %s", truncate(name, 48), truncate(concept, 32), layer)
	}
	return list[bi], list[bi].Steps[si], nil
}

// defaultNames fills in the default brush and step of a live message.
func (s *site) defaultNames(layer, concept string, remove bool, name, step string) (string, string) {
	return brushes.Defaults(s.brushList(layer, concept, remove), name, step)
}

// brushList is the concept's painting or erasing brushes, the default first.
func (s *site) brushList(layer, concept string, remove bool) []Brush {
	cb := s.brushesOf(layer, concept)
	if remove {
		return cb.Remove
	}
	return cb.Add
}

// BrushName, DefaultStep and StepNames let brushes.Find resolve an edit's
// names the same way the CLI does.
func (b Brush) BrushName() string   { return b.Name }
func (b Brush) DefaultStep() string { return b.Default }
func (b Brush) StepNames() []string {
	out := make([]string, len(b.Steps))
	for i, st := range b.Steps {
		out[i] = st.Name
	}
	return out
}

// DissectionConcepts with brushes: NewBrushConcepts adds a brushes.Set (the
// IoU ranking and the learned recipes, with the benchmark's steps and
// defaults) to the dissection's palette.
func NewBrushConcepts(res *dissection.Results, set *brushes.Set, classes []inference.ClassSpec) (*DissectionConcepts, error) {
	dc, err := NewDissectionConcepts(res, classes)
	if err != nil {
		return nil, err
	}
	dc.set = set
	return dc, nil
}

// Brushes implements BrushSource.
func (dc *DissectionConcepts) Brushes(layer, concept string) ConceptBrushes {
	if dc.set == nil {
		return ConceptBrushes{}
	}
	c := dc.set.Concept(layer, concept)
	if c == nil {
		return ConceptBrushes{}
	}
	conv := func(list []efficacy.Brush) []Brush {
		var out []Brush
		for _, b := range list {
			sb := Brush{Name: b.Name, Kind: b.Kind, Layer: b.Layer, Ranked: b.Kind == brushes.KindIoU, Default: b.Default}
			if !sb.Ranked {
				sb.Units, sb.Weights, sb.Values = b.Units, b.Weights, b.Values
			}
			for _, st := range b.Steps {
				step := Step{Name: st.Name, Strength: st.Strength}
				if e, ok := dc.set.Effect(b, st.Strength); ok {
					step.Effect = &StepEffect{Success: e.Success, Rise: e.Rise, LeakNear: e.LeakNear, LeakFar: e.LeakFar,
						Drop: e.Drop, Half: e.Half, Damage: e.Damage}
				}
				sb.Steps = append(sb.Steps, step)
			}
			out = append(out, sb)
		}
		return out
	}
	return ConceptBrushes{Add: conv(c.Add), Remove: conv(c.Remove)}
}
