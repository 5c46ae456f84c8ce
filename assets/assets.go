// Package assets holds the models embedded in the ganpaint binary.
package assets

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
)

// DefaultModelName is the folder under models/ that the binary paints with
// when no --model is given.
const DefaultModelName = "scenes128v2"

//go:embed all:models
var models embed.FS

// DefaultModel returns the embedded default model, rooted at its folder.
func DefaultModel() (fs.FS, error) { return Model(DefaultModelName) }

// Model returns the embedded model in folder name, rooted at its folder.
func Model(name string) (fs.FS, error) {
	sub, err := fs.Sub(models, "models/"+name)
	if err != nil {
		return nil, fmt.Errorf("embedded model %s: %w", name, err)
	}
	if _, err := fs.Stat(sub, "manifest.json"); err != nil {
		return nil, fmt.Errorf("embedded model %s has no manifest.json: %w", name, err)
	}
	return sub, nil
}

// ModelNames lists the embedded models (the folders under models/ with a
// manifest.json): the default first, then the others by name. A server
// keeps older models embedded next to the default so that share links made
// with them keep rendering with them.
func ModelNames() ([]string, error) {
	entries, err := fs.ReadDir(models, "models")
	if err != nil {
		return nil, fmt.Errorf("embedded models: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := fs.Stat(models, "models/"+e.Name()+"/manifest.json"); err == nil {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == DefaultModelName:
			return -1
		case b == DefaultModelName:
			return 1
		case a < b:
			return -1
		}
		return 1
	})
	if len(out) == 0 || out[0] != DefaultModelName {
		return nil, fmt.Errorf("embedded models: the default %s is missing", DefaultModelName)
	}
	return out, nil
}

// FS is every embedded file, under models/ (for the size check).
func FS() fs.FS { return models }
