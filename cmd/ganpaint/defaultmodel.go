package main

import (
	"errors"
	"fmt"
	"io/fs"

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
	e, at, _, err := r.Named(layer, concept, remove, o)
	return e, at, err
}

// Named is Edit that also names the brush and step it chose ("tree-erase
// at medium"), for tools that report what they painted with.
func (r setResolver) Named(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, string, error) {
	e, at, b, st, err := r.set.Edit(layer, concept, remove, o.Brush, o.Step, o.Units)
	if err != nil {
		return inference.Edit{}, "", "", err
	}
	name := b.Name + " at " + st.Name
	if o.Strength != nil {
		e.Strength = *o.Strength
		name = fmt.Sprintf("%s at strength %g", b.Name, e.Strength)
	}
	return e, at, name, nil
}
