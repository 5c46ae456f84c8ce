package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/ganpaint-go/ganpaint/inference"
)

// modelSource resolves --model: a model directory, or the model embedded in
// the binary when dir is "". The name is for messages.
func modelSource(dir string) (fsys fs.FS, name string, err error) {
	if dir == "" {
		if fsys, err = defaultModel(); err != nil {
			return nil, "", fmt.Errorf("no --model given and %w", err)
		}
		return fsys, "embedded", nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, "", fmt.Errorf("--model %q is not a directory", dir)
	}
	return os.DirFS(dir), dir, nil
}

// loadModel starts ONNX Runtime (--ort-lib, a file or its folder) and loads
// the model in fsys; name is modelSource's.
func loadModel(fsys fs.FS, name, ortLib string, opts inference.Options) (*inference.Model, error) {
	lib, err := resolveORT(ortLib)
	if err != nil {
		return nil, err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return nil, err
	}
	m, err := inference.Load(fsys, opts)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", name, err)
	}
	return m, nil
}

// openModel is modelSource then loadModel: what every subcommand that runs
// the generator does first.
func openModel(dir, ortLib string, opts inference.Options) (*inference.Model, fs.FS, error) {
	fsys, name, err := modelSource(dir)
	if err != nil {
		return nil, nil, err
	}
	m, err := loadModel(fsys, name, ortLib, opts)
	if err != nil {
		return nil, nil, err
	}
	return m, fsys, nil
}

// ortLibUsage is the help of every subcommand's --ort-lib.
const ortLibUsage = "ONNX Runtime library file or its folder (default: $" + inference.EnvLibrary + ", then .ort/, then system paths)"

// ortLibFlag defines --ort-lib on fl.
func ortLibFlag(fl *flag.FlagSet) *string { return fl.String("ort-lib", "", ortLibUsage) }

// parseArgs parses the flags and rejects positional arguments, which no
// subcommand takes.
func parseArgs(fl *flag.FlagSet, args []string) error {
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	return nil
}
