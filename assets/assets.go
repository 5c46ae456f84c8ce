// Package assets holds the default model embedded in the ganpaint binary.
package assets

import (
	"embed"
	"fmt"
	"io/fs"
)

// DefaultModelName is the folder under models/ that the binary paints with
// when no --model is given.
const DefaultModelName = "scenes128"

//go:embed all:models
var models embed.FS

// DefaultModel returns the embedded default model, rooted at its folder.
func DefaultModel() (fs.FS, error) {
	sub, err := fs.Sub(models, "models/"+DefaultModelName)
	if err != nil {
		return nil, fmt.Errorf("embedded model %s: %w", DefaultModelName, err)
	}
	if _, err := fs.Stat(sub, "manifest.json"); err != nil {
		return nil, fmt.Errorf("embedded model %s has no manifest.json: %w", DefaultModelName, err)
	}
	return sub, nil
}
