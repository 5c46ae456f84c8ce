package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

func TestReportFlagErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", nil, "--out DIR is required"},
		{"out is a file", []string{"--out", file}, "is a file"},
		{"stray argument", []string{"--out", t.TempDir(), "x"}, "unexpected arguments"},
		{"missing model", []string{"--out", t.TempDir(), "--model", filepath.Join(t.TempDir(), "nope")}, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runReport(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReportNeedsDissection(t *testing.T) {
	dir := testenv.CopyDir(t, plantedModelDir)
	err := runReport(context.Background(), []string{"--model", dir, "--out", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ganpaint dissect") {
		t.Errorf("err = %v, want a hint to run ganpaint dissect", err)
	}
}

// TestReportStaticSite writes the planted model's report and follows every
// link and image of every page: each must be a file of the report.
func TestReportStaticSite(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	if err := runDissect(context.Background(), []string{"--model", dir, "--layers", "layer2,layer3", "--samples", "48",
		"--causal-samples", "4", "--location-images", "1", "--quiet"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("dissect: %v", err)
	}
	out := filepath.Join(t.TempDir(), "site")
	var stdout bytes.Buffer
	if err := runReport(context.Background(), []string{"--model", dir, "--out", out, "--workers", "2"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "wrote 19 pages") { // index, 2 layers, 8+8 units
		t.Errorf("summary: %s", stdout.String())
	}
	pages, err := filepath.Glob(filepath.Join(out, "*.html"))
	if err != nil || len(pages) != 19 {
		t.Fatalf("%d pages: %v", len(pages), err)
	}
	ref := regexp.MustCompile(`(?:href|src)="([^"]+)"`)
	checked := 0
	for _, p := range pages {
		html, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(html, []byte(`href="/`)) || bytes.Contains(html, []byte(`src="/`)) {
			t.Errorf("%s has a site-absolute link; the static report must be relocatable", filepath.Base(p))
		}
		for _, m := range ref.FindAllSubmatch(html, -1) {
			target := string(m[1])
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "?")
			if st, err := os.Stat(filepath.Join(out, filepath.FromSlash(target))); err != nil || st.Size() == 0 {
				t.Errorf("%s links to %s, which is missing", filepath.Base(p), target)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Errorf("only %d links checked", checked)
	}
	unit := readFile(t, filepath.Join(out, "layer2-unit0.html"))
	for _, want := range []string{"img/seg/", "img/heat/layer2/0/", "IoU with every class"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit page lacks %q", want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
