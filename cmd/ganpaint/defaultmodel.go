package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/ganpaint-go/ganpaint/assets"
	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// defaultModel returns the model embedded in the binary, rooted at its folder
// as inference.Load expects.
func defaultModel() (fs.FS, error) { return assets.DefaultModel() }

// conceptsFor returns the concept → brush resolver of a loaded model, built
// from its dissection results, recipes and brush-efficacy choices, and gives
// the model the dissection's "add" levels. A nil resolver means the model
// has no dissection: only unit lists are accepted then.
func conceptsFor(modelFS fs.FS, m *inference.Model) (conceptResolver, error) {
	set, res, _, err := brushes.Load(modelFS, brushes.Options{})
	if errors.Is(err, dissection.ErrNoResults) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := res.ApplyLevels(m); err != nil {
		return nil, err
	}
	return setResolver{set}, nil
}

// setResolver answers with the brushes the painter uses, so a
// `render --edit tree:add:…` matches a tree stroke in the browser: the same
// default brush (recipe or IoU ranking), default step and unit count.
type setResolver struct{ set *brushes.Set }

func (r setResolver) Edit(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, error) {
	e, at, _, _, err := r.set.Edit(layer, concept, remove, o.Brush, o.Step, o.Units)
	if err != nil {
		return inference.Edit{}, "", err
	}
	if o.Strength != nil {
		e.Strength = *o.Strength
	}
	return e, at, nil
}

// Units returns the first count units of the concept's IoU ranking at
// layer: what switching the concept off means where a tool compares GAN
// removal with other methods (compare), whatever brush the painter prefers.
func (r setResolver) Units(layer, concept string, count int) ([]int, error) {
	c := r.set.Concept(layer, concept)
	if c == nil || len(c.Ranked) == 0 {
		return nil, fmt.Errorf("concept %q has no ranked units at %s (concepts: %s)", concept, layer, strings.Join(r.set.Concepts(layer), ", "))
	}
	if count < 1 {
		return nil, fmt.Errorf("--units %d: must be at least 1", count)
	}
	return append([]int(nil), c.Ranked[:min(count, len(c.Ranked))]...), nil
}
