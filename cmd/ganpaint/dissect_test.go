package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

var dissectPlantedDir = testenv.PlantedModel()

func TestDissectCommand(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, dissectPlantedDir)
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
	testenv.RequireRuntime(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"dissect"}, "--model"},
		{"zero samples", []string{"dissect", "--model", dissectPlantedDir, "--samples", "0"}, "--samples must be > 0"},
		{"unknown layer", []string{"dissect", "--model", testenv.CopyDir(t, dissectPlantedDir), "--layers", "layer9", "--samples", "4"}, "unknown layer"},
		{"bad threshold", []string{"dissect", "--model", testenv.CopyDir(t, dissectPlantedDir), "--threshold", "mean", "--samples", "4"}, "threshold method"},
		{"missing model", []string{"dissect", "--model", filepath.Join(t.TempDir(), "none"), "--samples", "4"}, "ganpaint dissect:"},
		{"bad candidates", []string{"dissect", "--model", testenv.CopyDir(t, dissectPlantedDir), "--threshold", "iqr", "--candidates", "sketch", "--samples", "4"}, "candidate levels"},
		{"unknown background", []string{"dissect", "--model", testenv.CopyDir(t, dissectPlantedDir), "--background", "void", "--samples", "4"}, `background "void"`},
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
