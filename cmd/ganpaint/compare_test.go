package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

func TestCompareCommand(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	var stdout, stderr bytes.Buffer
	run := func(args ...string) int {
		stdout.Reset()
		stderr.Reset()
		return runMain(context.Background(), args, &stdout, &stderr)
	}
	// Before a dissection there are no concept names.
	if code := run("compare", "--model", dir, "--concept", "tree", "--layer", "layer2", "--samples", "2"); code == 0 ||
		!strings.Contains(stderr.String(), "dissect") {
		t.Fatalf("without dissection: exit %d, %q", code, stderr.String())
	}
	if code := run("dissect", "--model", dir, "--layers", "layer2", "--samples", "32", "--quantile", "0.5",
		"--causal-samples", "0", "--quiet"); code != 0 {
		t.Fatalf("dissect: %s", stderr.String())
	}
	if code := run("compare", "--model", dir, "--concept", "tree", "--layer", "layer2", "--samples", "3", "--units", "1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"Removing \"tree\" at layer2 with tree-iou at high (remove, strength 1, 1 units) from 3 images", "| stroke | GAN removal | 3 | 1.000 | 0.000 |",
		"| everywhere | Learned inpainting | 3 | 1.000 | 0.000 |", "| everywhere | Telea | 3 |", "FID: not measured"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "no fid_reference.json") || !strings.Contains(stderr.String(), "image 3/3") {
		t.Errorf("stderr: %q", stderr.String())
	}
	for _, bad := range [][]string{
		{"compare", "--model", dir},
		{"compare", "--model", dir, "--concept", "tree", "--samples", "0"},
		{"compare", "--model", dir, "--concept", "tree", "--min-share", "2"},
		{"compare", "--model", dir, "--concept", "tree", "--dilate", "-1"},
		{"compare", "--model", dir, "--concept", "dragon", "--layer", "layer2"},
		{"compare", "--model", dir, "--concept", "tree", "--layer", "layer9"},
		{"compare", "--model", dir, "--concept", "tree", "extra"},
		{"compare", "--model", dir, "--concept", "tree", "--layer", "layer2", "--brush", "tree-ace"},
		{"compare", "--model", dir, "--concept", "tree", "--layer", "layer2", "--step", "max"},
	} {
		if code := run(bad...); code == 0 {
			t.Errorf("%q: exit 0", bad)
		}
	}
}
