package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/ganpaint-go/ganpaint/assets"
	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
	"github.com/ganpaint-go/ganpaint/server"
)

// embeddedPrefix names an embedded model in --model: "embedded:scenes128",
// so a new model from a directory can be served next to an embedded one.
const embeddedPrefix = "embedded:"

// modelSrc is one model to serve: its files and, for messages, where they
// come from.
type modelSrc struct {
	fsys   fs.FS
	source string
}

// modelSources resolves serve's --model list: each a directory or
// "embedded:NAME"; none means every embedded model, the default first.
func modelSources(dirs []string) ([]modelSrc, error) {
	if len(dirs) == 0 {
		names, err := assets.ModelNames()
		if err != nil {
			return nil, fmt.Errorf("no --model given and %w", err)
		}
		for _, n := range names {
			dirs = append(dirs, embeddedPrefix+n)
		}
	}
	var out []modelSrc
	for _, d := range dirs {
		if name, ok := strings.CutPrefix(d, embeddedPrefix); ok {
			fsys, err := assets.Model(name)
			if err != nil {
				names, _ := assets.ModelNames()
				return nil, fmt.Errorf("--model %s: %w (embedded: %s)", d, err, strings.Join(names, ", "))
			}
			out = append(out, modelSrc{fsys: fsys, source: d})
			continue
		}
		fsys, source, err := modelSource(d)
		if err != nil {
			return nil, err
		}
		out = append(out, modelSrc{fsys: fsys, source: source})
	}
	return out, nil
}

// servedModel is a loaded model with its dissection and brushes.
type servedModel struct {
	m      *inference.Model
	res    *dissection.Results
	set    *brushes.Set
	fsys   fs.FS
	source string
}

// loadServedModel loads one model for the painter; it must have a
// dissection (its brushes).
func loadServedModel(src modelSrc, ortLib string, opts inference.Options) (*servedModel, error) {
	m, err := loadModel(src.fsys, src.source, ortLib, opts)
	if err != nil {
		return nil, err
	}
	set, res, _, err := brushes.Load(src.fsys, brushes.Options{})
	if err != nil {
		m.Close()
		if errors.Is(err, dissection.ErrNoResults) {
			return nil, fmt.Errorf("model %s has no dissection, so there is nothing to paint with: run `ganpaint dissect --model DIR` first", src.source)
		}
		return nil, fmt.Errorf("model %s: %w", src.source, err)
	}
	return &servedModel{m: m, res: res, set: set, fsys: src.fsys, source: src.source}, nil
}

// servedNames are the models' names, for the start-up log.
func servedNames(models []*servedModel) []string {
	out := make([]string, len(models))
	for i, sm := range models {
		out[i] = sm.m.Manifest().Name + " (" + sm.source + ")"
	}
	return out
}

// modelClasses are the palette's classes: the segmenter's, else the
// manifest's palette (a slimmed model keeps its colours without the
// segmenter), else none (grey concepts in dissection order).
func modelClasses(m *inference.Model) ([]inference.ClassSpec, error) {
	classes, err := m.Classes()
	if errors.Is(err, inference.ErrNoSegmenter) {
		return m.Manifest().Palette, nil
	}
	return classes, err
}

// modelLinks are where a model's report pages point: the default model's
// report at /report with the API at /api and the painter at /; the other
// models' under server.ModelPrefix, painting at /?model=NAME.
func modelLinks(name string, isDefault bool, version string) report.Links {
	if isDefault {
		return report.ServerLinks("/report", version)
	}
	prefix := server.ModelPrefix(name)
	return report.ServerLinks(prefix+"/report", version).ForModel("/?"+server.ModelParam+"="+url.QueryEscape(name), prefix+"/api")
}
