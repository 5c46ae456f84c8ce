package main

import (
	"bytes"
	"context"
	"errors"
	"image/png"
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
		"artifacts-layer2.json", "artifacts-layer2.png"} {
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
	f, err := os.Open(filepath.Join(dir, "dissection", "artifacts-layer2.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dy() != 4*(32+4)-4 {
		t.Errorf("sheet: %v", err)
	}
	for _, bad := range [][]string{
		{"artifacts"},
		{"artifacts", "--model", dir, "--samples", "1"},
		{"artifacts", "--model", dir, "--k", "0"},
		{"artifacts", "--model", dir, "--k", "x"},
		{"artifacts", "--model", dir, "--layer", "layer9"},
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
