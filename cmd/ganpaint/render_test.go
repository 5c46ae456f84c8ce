package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
	"github.com/ganpaint-go/ganpaint/painting"
)

var plantedModelDir = testenv.PlantedModel()

func TestParseEditSpec(t *testing.T) {
	tests := []struct {
		in   string
		want painting.Edit
		err  string
	}{
		{"12+40+7:add:0,0,8,8", painting.Edit{Custom: &painting.CustomBrush{Units: []int{12, 40, 7}}, Mode: painting.Add, Rect: image.Rect(0, 0, 8, 8)}, ""},
		{"3:remove:4,5,6,7", painting.Edit{Custom: &painting.CustomBrush{Units: []int{3}}, Mode: painting.Remove, Rect: image.Rect(4, 5, 6, 7)}, ""},
		{"tree:add", painting.Edit{Concept: "tree", Mode: painting.Add, Everywhere: true}, ""},
		{" 5 + 6 :REMOVE: 1, 2, 3, 4", painting.Edit{Custom: &painting.CustomBrush{Units: []int{5, 6}}, Mode: painting.Remove, Rect: image.Rect(1, 2, 3, 4)}, ""},
		{"", painting.Edit{}, "want CONCEPT_OR_UNITS"},
		{"tree", painting.Edit{}, "want CONCEPT_OR_UNITS"},
		{"a:b:c:d", painting.Edit{}, "want CONCEPT_OR_UNITS"},
		{":add", painting.Edit{}, "no concept or units"},
		{"1+x:add", painting.Edit{}, "not a non-negative integer"},
		{"1+:add", painting.Edit{}, "not a non-negative integer"},
		{"1+-2:add", painting.Edit{}, "not a non-negative integer"},
		{"99999999999999999999:add", painting.Edit{}, "not a non-negative integer"},
		{"tr/ee:add", painting.Edit{}, "may only hold"},
		{"1:paint", painting.Edit{}, "not add or remove"},
		{"1:add:1,2,3", painting.Edit{}, "x0,y0,x1,y1"},
		{"1:add:1,2,3,x", painting.Edit{}, "not an integer"},
		{"1:add:5,0,5,4", painting.Edit{}, "x0 < x1"},
		{"1:add:-1,0,5,4", painting.Edit{}, "x0 < x1"},
		{"1:add:0,4,5,2", painting.Edit{}, "y0 < y1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseEditSpec(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseEditSpec(f *testing.F) {
	for _, s := range []string{"12+40+7:add:0,0,8,8", "tree:remove", "1:add:1,2,3", "::", "0:add:0,0,1,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseEditSpec(s)
		if err != nil {
			return
		}
		if (e.Concept == "") == (e.Custom == nil) {
			t.Fatalf("%q: exactly one of concept and units must be set: %+v", s, e)
		}
		if e.Mode != painting.Add && e.Mode != painting.Remove {
			t.Fatalf("%q: mode %v", s, e.Mode)
		}
		if !e.Everywhere && (e.Rect.Empty() || e.Rect.Min.X < 0 || e.Rect.Min.Y < 0) {
			t.Fatalf("%q: bad rectangle accepted %+v", s, e)
		}
		if _, _, err := engineEdit(e, "layer", 64, 64, brushOpts{Units: 15}, nil); err != nil && e.Concept == "" && e.Everywhere {
			t.Fatalf("%q: whole-image unit edit rejected: %v", s, err)
		}
	})
}

func renderPlanted(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "img.png")
	var stderr bytes.Buffer
	full := append([]string{"--model", plantedModelDir, "--id", "7", "--layer", "layer2", "--out", out}, args...)
	if err := runRender(context.Background(), full, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("render %v: %v (%s)", args, err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRenderPlanted(t *testing.T) {
	testenv.RequireRuntime(t)
	plain, err := png.Decode(bytes.NewReader(renderPlanted(t)))
	if err != nil {
		t.Fatal(err)
	}
	// Removing every concept unit in the left half leaves background there and
	// the right half untouched (see inference/testdata/planted/README.md).
	edited, err := png.Decode(bytes.NewReader(renderPlanted(t, "--edit", "0+1+2+3:remove:0,0,16,32")))
	if err != nil {
		t.Fatal(err)
	}
	if edited.Bounds().Dx() != 32 || edited.Bounds().Dy() != 32 {
		t.Fatalf("image is %v, want 32x32", edited.Bounds())
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, g, b, _ := edited.At(x, y).RGBA()
			if x < 16 {
				if r>>8 != 0x80 || g>>8 != 0x80 || b>>8 != 0x80 {
					t.Fatalf("pixel (%d,%d) = %v, want background grey", x, y, edited.At(x, y))
				}
			} else if edited.At(x, y) != plain.At(x, y) {
				t.Fatalf("pixel (%d,%d) changed outside the edit", x, y)
			}
		}
	}
	// Rendering is deterministic, to the byte.
	if !bytes.Equal(renderPlanted(t, "--edit", "2:add:8,8,24,24"), renderPlanted(t, "--edit", "2:add:8,8,24,24")) {
		t.Fatal("two identical renders differ")
	}
}

func TestRenderJPEGAndStdout(t *testing.T) {
	testenv.RequireRuntime(t)
	out := filepath.Join(t.TempDir(), "img.jpg")
	if err := runRender(context.Background(), []string{"--model", plantedModelDir, "--id", "1", "--out", out, "--quality", "80"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil || len(data) < 3 || data[0] != 0xff || data[1] != 0xd8 {
		t.Fatalf("not a JPEG: %v", err)
	}
	var stdout bytes.Buffer
	if err := runRender(context.Background(), []string{"--model", plantedModelDir, "--id", "1", "--out", "-"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&stdout); err != nil {
		t.Fatalf("stdout is not a PNG: %v", err)
	}
}

type fakeConcepts struct {
	edit func(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, error)
}

func (f fakeConcepts) Edit(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, error) {
	return f.edit(layer, concept, remove, o)
}

func TestEditSpecConcepts(t *testing.T) {
	spec, err := parseEditSpec("tree:remove:0,0,4,4")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := engineEdit(spec, "layer2", 32, 32, brushOpts{Units: 15}, nil); !errors.Is(err, errNoConcepts) {
		t.Fatalf("no resolver error = %v", err)
	}
	var asked string
	res := fakeConcepts{edit: func(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, error) {
		asked = fmt.Sprintf("%s/%s/%v/%s/%s/%d", layer, concept, remove, o.Brush, o.Step, o.Units)
		return inference.Edit{Units: []int{3, 1}, Mode: inference.ModeBlend, Strength: 0.75, Weights: []float32{1, 1}, Values: []float32{2, 3}}, "layer3", nil
	}}
	e, at, err := engineEdit(spec, "layer2", 32, 32, brushOpts{Brush: "tree-ace", Step: "low", Units: 15}, res)
	if err != nil {
		t.Fatal(err)
	}
	if asked != "layer2/tree/true/tree-ace/low/15" || at != "layer3" || !reflect.DeepEqual(e.Units, []int{3, 1}) || e.Mask.Width != 32 ||
		e.Mode != inference.ModeBlend || e.Strength != 0.75 {
		t.Fatalf("resolved %q to %+v", asked, e)
	}
	unknown := fakeConcepts{edit: func(string, string, bool, brushOpts) (inference.Edit, string, error) {
		return inference.Edit{}, "", errors.New("unknown concept")
	}}
	if _, _, err := engineEdit(spec, "layer2", 32, 32, brushOpts{}, unknown); err == nil || !strings.Contains(err.Error(), "unknown concept") {
		t.Fatalf("resolver error not passed on: %v", err)
	}
}

func TestRenderRejects(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := t.TempDir()
	png := filepath.Join(dir, "x.png")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"--model", plantedModelDir}, "--out"},
		{"bad extension", []string{"--model", plantedModelDir, "--out", filepath.Join(dir, "x.gif")}, "extension"},
		{"bad quality", []string{"--model", plantedModelDir, "--out", filepath.Join(dir, "x.jpg"), "--quality", "0"}, "quality"},
		{"bad pool", []string{"--model", plantedModelDir, "--out", png, "--pool", "median"}, "--pool"},
		{"bad edit", []string{"--model", plantedModelDir, "--out", png, "--edit", "1:paint"}, "not add or remove"},
		{"concept without dissection", []string{"--model", plantedModelDir, "--out", png, "--edit", "tree:add"}, "dissect"},
		{"unit out of range", []string{"--model", plantedModelDir, "--out", png, "--layer", "layer2", "--edit", "8:remove"}, "unit out of range"},
		{"rect outside image", []string{"--model", plantedModelDir, "--out", png, "--edit", "1:add:0,0,33,8"}, "outside"},
		{"unknown layer", []string{"--model", plantedModelDir, "--out", png, "--layer", "layer9"}, "unknown layer"},
		{"id out of range", []string{"--model", plantedModelDir, "--out", png, "--id", "100000"}, "out of range"},
		{"negative strength", []string{"--model", plantedModelDir, "--out", png, "--strength", "-1", "--edit", "1:add"}, "strength"},
		{"missing model dir", []string{"--model", filepath.Join(dir, "absent"), "--out", png}, "is not a directory"},
		// Without --model the embedded default model is opened, and checks
		// the edit against its own layers.
		{"default model, unit out of range", []string{"--out", png, "--edit", "100000:remove"}, "unit out of range"},
		{"stray argument", []string{"--out", png, "extra"}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runRender(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(png); !os.IsNotExist(err) {
		t.Fatalf("a failed render left %s behind", png)
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := summarize(d)
	if s.p50 != 50*time.Millisecond || s.p99 != 99*time.Millisecond || s.mean != 50500*time.Microsecond {
		t.Fatalf("summarize = %+v", s)
	}
	if s := summarize([]time.Duration{3}); s.p50 != 3 || s.p99 != 3 {
		t.Fatalf("single = %+v", s)
	}
}

// A concept name paints with the painter's default brush: on a dissected
// planted model (no recipes, no efficacy.json) that is the top 15 of the
// IoU ranking cut where IoU reaches 0, at strength 1.
func TestRenderConceptUsesPainterBrush(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	if code := runMain(context.Background(), []string{"dissect", "--model", dir, "--layers", "layer2", "--samples", "64",
		"--quantile", "0.5", "--causal-samples", "0", "--quiet"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatal("dissect failed")
	}
	render := func(args ...string) []byte {
		out := filepath.Join(t.TempDir(), "img.png")
		full := append([]string{"--model", dir, "--id", "7", "--out", out}, args...)
		if err := runRender(context.Background(), full, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("render %v: %v", args, err)
		}
		data, _ := os.ReadFile(out)
		return data
	}
	set, _, _, err := brushes.Load(os.DirFS(dir), brushes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, u := range set.Concept("layer2", "tree").Ranked[:min(15, len(set.Concept("layer2", "tree").Ranked))] {
		units = append(units, strconv.Itoa(u))
	}
	byName, byUnits := render("--edit", "tree:remove:0,0,16,32"), render("--edit", strings.Join(units, "+")+":remove:0,0,16,32")
	if !bytes.Equal(byName, byUnits) {
		t.Errorf("tree:remove differs from removing units %v at strength 1", units)
	}
	if low := render("--edit", "tree:remove:0,0,16,32", "--step", "low"); bytes.Equal(low, byName) {
		t.Error("the low step erases as much as the default")
	}
	if iou := render("--edit", "tree:remove:0,0,16,32", "--brush", "tree-iou"); !bytes.Equal(iou, byName) {
		t.Error("naming the default brush changed the image")
	}
	err = runRender(context.Background(), []string{"--model", dir, "--out", filepath.Join(t.TempDir(), "x.png"),
		"--edit", "tree:add", "--brush", "tree-ace"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "tree-ace") {
		t.Fatalf("unknown brush: %v", err)
	}
}
