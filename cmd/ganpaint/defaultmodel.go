package main

import (
	"errors"
	"io/fs"

	"github.com/ganpaint-go/ganpaint/inference"
)

// Integration seams used by `render` and `bench`. The integrator replaces
// this file once the embedded default model and dissection results exist.

// errNoDefaultModel is returned until a model is embedded in the binary.
var errNoDefaultModel = errors.New("no embedded default model yet; pass --model DIR")

// defaultModel returns the embedded default model directory (rooted at the
// model folder, as inference.Load expects).
func defaultModel() (fs.FS, error) { return nil, errNoDefaultModel }

// conceptsFor returns the concept → units resolver for a loaded model, built
// from its dissection results; nil means the model has none and only unit
// lists are accepted by `render --edit`.
func conceptsFor(modelFS fs.FS, m *inference.Model) (conceptResolver, error) { return nil, nil }
