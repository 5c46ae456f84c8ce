// Package brushes assembles the brushes a model offers per layer and
// concept — the dissection's IoU rankings and its learned recipes — with
// their strength steps and the defaults the brush-efficacy benchmark chose,
// so the painter, `ganpaint render` and `ganpaint efficacy` all paint with
// exactly the same edits.
package brushes

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

// DefaultUnits is how many top IoU-ranked units an IoU brush switches (the
// reference painter's default).
const DefaultUnits = 15

// Kind of the brushes made from IoU rankings.
const KindIoU = "iou"

// ErrUnknown: no brush of that name, concept or layer.
var ErrUnknown = errors.New("brushes: unknown brush")

// ErrNoBrush and ErrNoStep say which name Find did not know.
var (
	ErrNoBrush = fmt.Errorf("%w: no brush", ErrUnknown)
	ErrNoStep  = fmt.Errorf("%w: no step", ErrUnknown)
)

// Concept is what one concept offers at one layer.
type Concept struct {
	Name string
	// Ranked is the IoU ranking cut where the IoU reaches 0 (units that
	// never coincide with the concept cannot paint it).
	Ranked []int
	// Add and Remove list the brushes, the default first.
	Add, Remove []efficacy.Brush
}

// Set is every brush of a model.
type Set struct {
	layers  map[string]map[string]*Concept // layer → concept → brushes
	effects map[effectKey]efficacy.StepEffect
}

type effectKey struct {
	layer, brush string
	remove       bool
	strength     float32
}

// Options configure New.
type Options struct {
	// Units is the size of IoU brushes. Default DefaultUnits.
	Units int
	// Layers restricts the layers brushes are made for (default: every
	// dissected layer).
	Layers []string
	// Order is the generator's layer order (manifest blocks). With it, a
	// recipe trained at a later layer (a door at layer6) is also offered at
	// the earlier dissected layers: the painter edits each layer in turn.
	// Load fills it from the model's manifest.
	Order []string
}

// Load reads the dissection and, when present, efficacy.json of the model
// rooted at fsys and builds its brushes. A model without a dissection gives
// dissection.ErrNoResults.
func Load(fsys fs.FS, opts Options) (*Set, *dissection.Results, *efficacy.Report, error) {
	res, err := dissection.Load(fsys)
	if err != nil {
		return nil, nil, nil, err
	}
	var rep *efficacy.Report
	if data, err := fs.ReadFile(fsys, efficacy.File); err == nil {
		if rep, err = efficacy.Load(data); err != nil {
			return nil, nil, nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("brushes: %w", err)
	}
	if len(opts.Order) == 0 {
		if data, err := fs.ReadFile(fsys, "manifest.json"); err == nil {
			if man, err := inference.ParseManifest(data); err == nil {
				for _, b := range man.Generator.Blocks {
					opts.Order = append(opts.Order, b.Name)
				}
			}
		}
	}
	set, err := New(res, rep, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	return set, res, rep, nil
}

// New builds the brushes of res. rep (may be nil) supplies calibrated
// strength steps and the benchmark's choice of default brush and step per
// concept; without it every concept paints with its IoU brush at the
// "medium" step, as before recipes existed.
func New(res *dissection.Results, rep *efficacy.Report, opts Options) (*Set, error) {
	if res == nil {
		return nil, errors.New("brushes: no dissection results")
	}
	if opts.Units == 0 {
		opts.Units = DefaultUnits
	}
	if opts.Units < 0 {
		return nil, fmt.Errorf("brushes: units %d", opts.Units)
	}
	var cal map[string]efficacy.Calibrated
	var choice map[string]efficacy.Choice
	if rep != nil {
		cal, choice = rep.Calibration, rep.Brushes
	}
	s := &Set{layers: map[string]map[string]*Concept{}, effects: effectsOf(rep)}
	for name, l := range res.Layers {
		if len(opts.Layers) > 0 && !slices.Contains(opts.Layers, name) {
			continue
		}
		byConcept := map[string]*Concept{}
		levels := l.Levels()
		for ci, concept := range l.ClassNames {
			var ranked []int
			for _, u := range l.Rankings[concept] {
				if u < 0 || u >= len(l.Units) || ci >= len(l.Units[u].ClassIoU) {
					return nil, fmt.Errorf("brushes: dissection of %s ranks unit %d for %q without its IoU", name, u, concept)
				}
				if l.Units[u].ClassIoU[ci] <= 0 {
					break
				}
				ranked = append(ranked, u)
			}
			if len(ranked) == 0 {
				continue
			}
			units := slices.Clone(ranked[:min(opts.Units, len(ranked))])
			c := &Concept{Name: concept, Ranked: ranked}
			c.Add = append(c.Add, efficacy.Brush{Name: concept + "-" + KindIoU, Concept: concept, Kind: KindIoU, Layer: name,
				Mode: inference.ModeAdd, Units: units, Levels: levels})
			c.Remove = append(c.Remove, efficacy.Brush{Name: concept + "-" + KindIoU, Concept: concept, Kind: KindIoU, Layer: name,
				Remove: true, Mode: inference.ModeRemove, Units: units})
			byConcept[concept] = c
		}
		names := make([]string, 0, len(l.Recipes))
		for n := range l.Recipes {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			rc := l.Recipes[n]
			c := byConcept[rc.Concept]
			if c == nil {
				c = &Concept{Name: rc.Concept}
				byConcept[rc.Concept] = c
			}
			b := efficacy.Brush{Name: n, Concept: rc.Concept, Kind: rc.Kind, Layer: name, Remove: rc.Remove,
				Mode: inference.ModeBlend, Units: slices.Clone(rc.Units), Weights: slices.Clone(rc.Weights), Values: slices.Clone(rc.Values)}
			if rc.Remove {
				c.Remove = append(c.Remove, b)
			} else {
				c.Add = append(c.Add, b)
			}
		}
		s.layers[name] = byConcept
	}
	// Recipes trained at a later layer are offered at earlier ones too.
	pos := map[string]int{}
	for i, n := range opts.Order {
		pos[n] = i
	}
	for from, byConcept := range s.layers {
		pf, ok := pos[from]
		if !ok {
			continue
		}
		for to, other := range s.layers {
			if pt, ok := pos[to]; !ok || pt <= pf {
				continue
			}
			for name, oc := range other {
				c := byConcept[name]
				if c == nil {
					continue // not paintable at this layer at all
				}
				for _, b := range oc.Add {
					if b.Kind != KindIoU && b.Layer == to {
						c.Add = append(c.Add, b)
					}
				}
				for _, b := range oc.Remove {
					if b.Kind != KindIoU && b.Layer == to {
						c.Remove = append(c.Remove, b)
					}
				}
			}
		}
	}
	for name, byConcept := range s.layers {
		at := efficacy.ChooseAt(rep, name)
		for _, c := range byConcept {
			setSteps(c.Add, cal, choiceOf(choice, at, c.Name, false, c.Add))
			setSteps(c.Remove, cal, choiceOf(choice, at, c.Name, true, c.Remove))
		}
	}
	return s, nil
}

// choiceOf is the benchmark's choice for the concept when that brush is in
// list, else the best brush measured at the list's layer (nil: none).
func choiceOf(global, atLayer map[string]efficacy.Choice, concept string, remove bool, list []efficacy.Brush) *efficacy.ChosenBrush {
	for _, m := range []map[string]efficacy.Choice{global, atLayer} {
		ch := m[concept]
		b := ch.Add
		if remove {
			b = ch.Remove
		}
		if b != nil && slices.ContainsFunc(list, func(x efficacy.Brush) bool { return x.Name == b.Brush && x.Layer == b.Layer }) {
			return b
		}
	}
	return nil
}

// effectsOf indexes the measured effect of every brush at every strength.
func effectsOf(rep *efficacy.Report) map[effectKey]efficacy.StepEffect {
	out := map[effectKey]efficacy.StepEffect{}
	if rep == nil {
		return out
	}
	for _, c := range rep.Concepts {
		for _, r := range c.Insert {
			out[effectKey{r.Layer, r.Brush, false, r.Strength}] = efficacy.StepEffect{Step: efficacy.Step{Name: r.Step, Strength: r.Strength},
				Success: r.Success, Rise: r.Rise, LeakNear: r.LeakNear, LeakFar: r.LeakFar}
		}
		for _, r := range c.Remove {
			out[effectKey{r.Layer, r.Brush, true, r.Strength}] = efficacy.StepEffect{Step: efficacy.Step{Name: r.Step, Strength: r.Strength},
				Drop: r.Drop, Half: r.Half, Damage: r.Damage, LeakNear: r.LeakNear, LeakFar: r.LeakFar, Rise: -r.RegionDrop}
		}
	}
	return out
}

// Effect is the benchmark's measurement of brush b at strength s, if any.
func (s *Set) Effect(b efficacy.Brush, strength float32) (efficacy.StepEffect, bool) {
	e, ok := s.effects[effectKey{b.Layer, b.Name, b.Remove, strength}]
	return e, ok
}

// setSteps gives every brush its steps (calibrated when the calibration was
// measured on that very brush, else the defaults of its mode) and default
// step, and moves the benchmark's choice, with its chosen step, to the front.
func setSteps(list []efficacy.Brush, cal map[string]efficacy.Calibrated, chosen *efficacy.ChosenBrush) {
	for i := range list {
		b := &list[i]
		if steps, def, ok := efficacy.CalibratedSteps(cal, *b); ok {
			b.Steps, b.Default = steps, def
		} else {
			b.Steps, b.Default = efficacy.DefaultSteps(b.Mode, b.Remove), efficacy.DefaultStep(b.Mode, b.Remove)
		}
	}
	if chosen == nil {
		return
	}
	for i := range list {
		if list[i].Name == chosen.Brush && list[i].Layer == chosen.Layer && hasStep(list[i], chosen.Default) {
			list[i].Default = chosen.Default
			first := list[i]
			copy(list[1:i+1], list[:i])
			list[0] = first
			return
		}
	}
}

func hasStep(b efficacy.Brush, name string) bool {
	for _, s := range b.Steps {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Layers lists the layers that have brushes, sorted.
func (s *Set) Layers() []string {
	out := make([]string, 0, len(s.layers))
	for n := range s.layers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Concept returns what concept offers at layer, or nil.
func (s *Set) Concept(layer, concept string) *Concept { return s.layers[layer][concept] }

// Concepts lists the concepts that have brushes at layer, sorted.
func (s *Set) Concepts(layer string) []string {
	out := make([]string, 0, len(s.layers[layer]))
	for n := range s.layers[layer] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// All returns every brush offered at the given layers (all layers when none
// is given) once, painting brushes of a concept before its erasing ones.
func (s *Set) All(layers ...string) []efficacy.Brush {
	if len(layers) == 0 {
		layers = s.Layers()
	}
	type key struct {
		name, layer string
		remove      bool
	}
	seen := map[key]bool{}
	var out []efficacy.Brush
	for _, l := range layers {
		for _, c := range s.Concepts(l) {
			cc := s.layers[l][c]
			for _, b := range append(slices.Clone(cc.Add), cc.Remove...) {
				k := key{b.Name, b.Layer, b.Remove}
				if !seen[k] {
					seen[k] = true
					out = append(out, b)
				}
			}
		}
	}
	return out
}
