package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

const dissectPlantedDir = "../../inference/testdata/planted"

// dissectRuntimeOrSkip initialises ONNX Runtime: a failure under CI
// (CI=true), a skip elsewhere.
func dissectRuntimeOrSkip(t *testing.T) {
	t.Helper()
	lib, err := inference.ResolveLibrary("")
	if err == nil {
		err = inference.InitRuntime(lib)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ONNX Runtime is required under CI: %v", err)
		}
		t.Skipf("ONNX Runtime not available: %v", err)
	}
}

// copyDir copies a model so the command can write its dissection into it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestDissectCommand(t *testing.T) {
	dissectRuntimeOrSkip(t)
	dir := copyDir(t, dissectPlantedDir)
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), []string{"dissect", "--model", dir, "--layers", "layer2,layer3",
		"--samples", "64", "--quantile", "0.5", "--causal-samples", "4", "--location-images", "1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"layer2 (8×8, 64 samples", "8/8 units interpretable covering 4 concepts",
		"causal effects over 4 held-out images", "location maps", "layer3 (16×16"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "samples/s") {
		t.Errorf("no progress bar on stderr: %q", stderr.String())
	}
	res, err := dissection.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := res.Ranking("layer2", "tree"); err != nil || r[0] != 1 {
		t.Errorf("tree ranking %v %v", r, err)
	}
}

func TestDissectCommandRejects(t *testing.T) {
	dissectRuntimeOrSkip(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"dissect"}, "--model"},
		{"zero samples", []string{"dissect", "--model", dissectPlantedDir, "--samples", "0"}, "--samples must be > 0"},
		{"unknown layer", []string{"dissect", "--model", copyDir(t, dissectPlantedDir), "--layers", "layer9", "--samples", "4"}, "unknown layer"},
		{"bad threshold", []string{"dissect", "--model", copyDir(t, dissectPlantedDir), "--threshold", "mean", "--samples", "4"}, "threshold method"},
		{"missing model", []string{"dissect", "--model", filepath.Join(t.TempDir(), "none"), "--samples", "4"}, "ganpaint dissect:"},
		{"stray argument", []string{"dissect", "--model", dissectPlantedDir, "extra"}, "unexpected arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runMain(context.Background(), c.args, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, stderr.String(), c.want)
			}
		})
	}
}
