package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

func TestEfficacyCommand(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, dissectPlantedDir)
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"dissect", "--model", dir, "--layers", "layer2",
		"--samples", "64", "--quantile", "0.5", "--causal-samples", "4", "--location-images", "1", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("dissect: exit %d: %s", code, stderr.String())
	}
	os.WriteFile(filepath.Join(dir, "MODEL.md"), []byte("# planted\n"), 0o644)
	args := []string{"efficacy", "--model", dir, "--images", "6", "--plausible", "8", "--other", "4", "--present", "4",
		"--everywhere", "3", "--units", "1", "--quiet"}
	for run := 0; run < 2; run++ {
		stdout.Reset()
		stderr.Reset()
		if code := runMain(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("efficacy: exit %d: %s", code, stderr.String())
		}
	}
	for _, want := range []string{"**Painting**", "| tree | tree-iou (layer2) |", "**Erasing**", "**mean**"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, efficacy.File))
	if err != nil {
		t.Fatal(err)
	}
	var rep efficacy.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Settings.IDRange != efficacy.EvalRange || rep.Settings.Excluded != 64+4 || len(rep.IDs) != 6 {
		t.Errorf("settings %+v ids %v", rep.Settings, rep.IDs)
	}
	// The planted tree unit paints tree exactly, and its removal erases every tree pixel.
	if ch := rep.Brushes["tree"]; ch.Remove == nil || ch.Remove.Brush != "tree-iou" {
		t.Errorf("choice %+v", ch)
	}
	for _, c := range rep.Concepts {
		if c.Concept != "tree" {
			continue
		}
		for _, r := range c.Remove {
			if r.Strength == 1 && r.Drop != 1 {
				t.Errorf("tree removal at strength 1: %+v", r)
			}
		}
	}
	card, _ := os.ReadFile(filepath.Join(dir, "MODEL.md"))
	if !strings.HasPrefix(string(card), "# planted\n") || strings.Count(string(card), efficacy.BeginMarker) != 1 {
		t.Errorf("model card:\n%s", card)
	}
}

func TestEfficacyCommandRejects(t *testing.T) {
	testenv.RequireRuntime(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"efficacy"}, "--model"},
		{"no dissection", []string{"efficacy", "--model", testenv.CopyDir(t, dissectPlantedDir)}, "ganpaint dissect"},
		{"bad images", []string{"efficacy", "--model", dissectPlantedDir, "--calibrate-images", "0"}, "--calibrate-images"},
		{"stray argument", []string{"efficacy", "--model", dissectPlantedDir, "extra"}, "unexpected arguments"},
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
