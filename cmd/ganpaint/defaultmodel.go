package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/ganpaint-go/ganpaint/assets"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/server"
)

// defaultModel returns the model embedded in the binary, rooted at its folder
// as inference.Load expects.
func defaultModel() (fs.FS, error) { return assets.DefaultModel() }

// conceptsFor returns the concept → units resolver of a loaded model, built
// from its dissection results, and gives the model the dissection's "add"
// levels. A nil resolver means the model has no dissection: only unit lists
// are accepted then.
func conceptsFor(modelFS fs.FS, m *inference.Model) (conceptResolver, error) {
	res, err := dissection.Load(modelFS)
	if errors.Is(err, dissection.ErrNoResults) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := res.ApplyLevels(m); err != nil {
		return nil, err
	}
	classes, err := m.Classes()
	if err != nil && !errors.Is(err, inference.ErrNoSegmenter) {
		return nil, err
	}
	palette, err := server.NewDissectionConcepts(res, classes)
	if err != nil {
		return nil, err
	}
	return paletteResolver{palette}, nil
}

// paletteResolver answers with the same units the painter would use, so a
// `render --edit tree:add:…` matches a tree stroke in the browser.
type paletteResolver struct{ palette *server.DissectionConcepts }

func (p paletteResolver) Units(layer, concept string, count int) ([]int, error) {
	units := p.palette.Ranked(layer, concept)
	if len(units) == 0 {
		var names []string
		for _, c := range p.palette.List() {
			if len(p.palette.Ranked(layer, c.Name)) > 0 {
				names = append(names, c.Name)
			}
		}
		return nil, fmt.Errorf("no unit of %s draws %q (concepts there: %s)", layer, concept, strings.Join(names, ", "))
	}
	return units[:min(count, len(units))], nil
}
