package brushes

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

// Named is what choosing a brush by name needs of it. efficacy.Brush (the
// CLI, the benchmark) and the server's brush (which may come from elsewhere
// than a Set) both are, so both resolve names here, the same way.
type Named interface {
	BrushName() string
	DefaultStep() string
	StepNames() []string
}

// Defaults fills in the names an edit leaves empty: the concept's default
// brush (the first of list) and that brush's default step. Names that are
// given are kept as they are, known or not, for Find to judge.
func Defaults[B Named](list []B, name, step string) (string, string) {
	if len(list) == 0 {
		return name, step
	}
	if name == "" {
		name = list[0].BrushName()
	}
	if i := slices.IndexFunc(list, func(b B) bool { return b.BrushName() == name }); step == "" && i >= 0 {
		step = list[i].DefaultStep()
	}
	return name, step
}

// Find returns the index of brush name in list and the index of its step
// called step. Its errors wrap ErrNoBrush or ErrNoStep (both ErrUnknown)
// and list what there is.
func Find[B Named](list []B, name, step string) (int, int, error) {
	bi := slices.IndexFunc(list, func(b B) bool { return b.BrushName() == name })
	if bi < 0 {
		names := make([]string, len(list))
		for i, b := range list {
			names[i] = b.BrushName()
		}
		return -1, -1, fmt.Errorf("%w %q (brushes: %s)", ErrNoBrush, name, strings.Join(names, ", "))
	}
	steps := list[bi].StepNames()
	si := slices.Index(steps, step)
	if si < 0 {
		return -1, -1, fmt.Errorf("%w %q of %s (steps: %s)", ErrNoStep, step, name, strings.Join(steps, ", "))
	}
	return bi, si, nil
}

// Pick resolves a brush by concept, mode and optional name ("" = the
// default brush) at layer, and a step by name ("" = that brush's default
// step), returning the brush and the step's strength.
func (s *Set) Pick(layer, concept string, remove bool, name, step string) (efficacy.Brush, efficacy.Step, error) {
	c := s.Concept(layer, concept)
	if c == nil {
		return efficacy.Brush{}, efficacy.Step{}, fmt.Errorf("%w: no brush paints %q at %s (concepts there: %s)", ErrUnknown, concept, layer, strings.Join(s.Concepts(layer), ", "))
	}
	list := c.Add
	if remove {
		list = c.Remove
	}
	if len(list) == 0 {
		return efficacy.Brush{}, efficacy.Step{}, fmt.Errorf("%w: %q has no brush of that mode at %s", ErrUnknown, concept, layer)
	}
	name, step = Defaults(list, name, step)
	bi, si, err := Find(list, name, step)
	if err != nil {
		return efficacy.Brush{}, efficacy.Step{}, fmt.Errorf("%s at %s: %w", concept, layer, err)
	}
	return list[bi], list[bi].Steps[si], nil
}

// Edit is what a stroke of the painter's brush does, without its mask: the
// brush Pick chooses, at its step's strength, switching (for an IoU brush)
// the concept's first units ranked units. It returns the layer the edit
// applies at (a recipe trained at a later layer edits there) and the
// brush and step it resolved, for tools that report them.
func (s *Set) Edit(layer, concept string, remove bool, name, step string, units int) (inference.Edit, string, efficacy.Brush, efficacy.Step, error) {
	b, st, err := s.Pick(layer, concept, remove, name, step)
	if err != nil {
		return inference.Edit{}, "", efficacy.Brush{}, efficacy.Step{}, err
	}
	e := b.Edit(st.Strength, inference.Mask{})
	if b.Kind == KindIoU {
		ranked := s.Concept(layer, concept).Ranked
		e.Units = slices.Clone(ranked[:min(units, len(ranked))])
	}
	return e, b.Layer, b, st, nil
}
