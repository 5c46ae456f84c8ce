package main

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ganpaint-go/ganpaint/artifacts"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

func TestArtifactsCommand(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), []string{"artifacts", "--model", dir, "--layer", "layer2", "--samples", "4",
		"--holdout", "4", "--k", "1,2", "--repair-k", "2", "--top", "3", "--sheet-images", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"planted layer2: 8 units ablated", "top units by discriminator", "repair on 4 held-out images",
		"artifacts-layer2.json", "artifacts-layer2.jpg"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "FID left out") || !strings.Contains(stderr.String(), "8/8 units") {
		t.Errorf("stderr %q", stderr.String())
	}
	r, err := artifacts.Load(os.DirFS(dir), "layer2")
	if err != nil || r.RepairK != 2 || len(r.Top()) != 2 {
		t.Fatalf("saved ranking: %v %+v", err, r)
	}
	sheet := filepath.Join(dir, "dissection", "artifacts-layer2.jpg")
	f, err := os.Open(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := jpeg.Decode(f); err != nil || img.Bounds().Dy() != 4*(32+4)-4 {
		t.Errorf("sheet: %v", err)
	}
	f.Close()
	// --sheet-only redraws the picture from the stored ranking.
	os.Remove(sheet)
	stdout.Reset()
	if code := runMain(context.Background(), []string{"artifacts", "--model", dir, "--layer", "layer2", "--sheet-only",
		"--sheet-images", "1", "--top", "2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--sheet-only: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(sheet); err != nil || strings.Contains(stdout.String(), "top units by") {
		t.Errorf("--sheet-only: %v, output %q", err, stdout.String())
	}
	for _, bad := range [][]string{
		{"artifacts"},
		{"artifacts", "--model", dir, "--samples", "1"},
		{"artifacts", "--model", dir, "--k", "0"},
		{"artifacts", "--model", dir, "--k", "x"},
		{"artifacts", "--model", dir, "--layer", "layer9"},
		{"artifacts", "--model", dir, "--layer", "layer3", "--sheet-only"},
	} {
		stderr.Reset()
		if code := runMain(context.Background(), bad, &stdout, &stderr); code == 0 {
			t.Errorf("%q: exit 0", bad)
		}
	}
}

func TestLoadRepairs(t *testing.T) {
	res := &dissection.Results{Layers: map[string]*dissection.Layer{"layer2": {}, "layer3": {}}}
	good := `{"schema_version":1,"model":"planted","layer":"layer2","units":[{"unit":0},{"unit":1},{"unit":2}],
		"discriminator":true,"rankings":{"discriminator":[2,0,1]},"repair_k":2,"repair_ranking":"discriminator"}`
	got, err := loadRepairs(fstest.MapFS{"dissection/artifacts-layer2.json": {Data: []byte(good)}}, res)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got.Repair("layer2"), []int{2, 0}) || got.Repair("layer3") != nil {
		t.Fatalf("loadRepairs = %v, %v", got, err)
	}
	if _, err := loadRepairs(fstest.MapFS{"dissection/artifacts-layer3.json": {Data: []byte("{")}}, res); !errors.Is(err, artifacts.ErrBadFile) {
		t.Errorf("broken file: %v", err)
	}
}
