package server

import (
	"context"
	"image/color"
	"testing"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// A recipe brush reaches the model as a blend edit: on the planted model a
// recipe that switches the tree unit on and the other drawing units off
// turns exactly the brushed cells into tree.
func TestPlantedRecipeBrush(t *testing.T) {
	deps := plantedDeps(t)
	res := plantedResults()
	res.Layers["layer2"].Recipes = map[string]*dissection.Recipe{"tree-exact": {Concept: "tree", Kind: "test",
		Units: []int{1, 0, 2, 3}, Weights: []float32{1, 1, 1, 1}, Values: []float32{1.5, 0, 0, 0}}}
	set, err := brushes.New(res, nil, brushes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	classes := []inference.ClassSpec{{Name: "background", Color: "#808080"}, {Name: "sky", Color: "#87ceeb"},
		{Name: "tree", Color: "#228b22"}, {Name: "door", Color: "#8b4513"}, {Name: "grass", Color: "#7cfc00"}}
	concepts, err := NewBrushConcepts(res, set, classes)
	if err != nil {
		t.Fatal(err)
	}
	deps.Concepts = concepts
	s, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if hb := s.def.hello.Layers[0].Brushes["tree"]; hb == nil || len(hb.Add) != 2 || hb.Add[0].Name != "tree-iou" || hb.Add[1].Name != "tree-exact" {
		t.Fatalf("hello brushes %+v", hb)
	}
	p := s.def.defaultPainter()
	if _, err := applyRaw(p, `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":1,"radius":1,"points":[[2,2]],"brush":"tree-exact","strength":"high"}`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := s.def.engine.Features(ctx, "layer2", p.id)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.def.engine.Render(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.def.engine.Render(ctx, f, engineEdits(p.edits()))
	if err != nil {
		t.Fatal(err)
	}
	tree := [3]uint8{0x22, 0x8b, 0x22}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			// A radius-1 dot at (2,2) touches only the 4×4-pixel cell (0,0).
			in := x < 4 && y < 4
			a, b := rgbAt(before, x, y), rgbAt(after, x, y)
			if in && !near(b, tree) {
				t.Fatalf("brushed pixel (%d,%d) is %v, want tree", x, y, b)
			}
			if !in && a != b {
				t.Fatalf("pixel (%d,%d) outside the stroke changed", x, y)
			}
		}
	}
}

// A recipe trained at layer3 (16×16) painted from a layer2 session: its mask
// is drawn on layer3's grid, the engine runs to layer3 and edits there, and
// the edit list reports the session-grid cells it touches.
func TestPlantedCrossLayerRecipe(t *testing.T) {
	deps := plantedDeps(t)
	res := plantedResults()
	l3 := *res.Layers["layer2"]
	l3.Layer, l3.Height, l3.Width = "layer3", 16, 16
	l3.Recipes = map[string]*dissection.Recipe{"tree-fine": {Concept: "tree", Kind: "dense-layer3",
		Units: []int{1, 0, 2, 3}, Weights: []float32{1, 1, 1, 1}, Values: []float32{1.5, 0, 0, 0}}}
	res.Layers["layer3"] = &l3
	set, err := brushes.New(res, nil, brushes.Options{Order: []string{"layer1", "layer2", "layer3"}})
	if err != nil {
		t.Fatal(err)
	}
	classes := []inference.ClassSpec{{Name: "background", Color: "#808080"}, {Name: "sky", Color: "#87ceeb"},
		{Name: "tree", Color: "#228b22"}, {Name: "door", Color: "#8b4513"}, {Name: "grass", Color: "#7cfc00"}}
	concepts, err := NewBrushConcepts(res, set, classes)
	if err != nil {
		t.Fatal(err)
	}
	deps.Concepts = concepts
	s, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	p := s.def.defaultPainter()
	if p.layer.info.Name != "layer2" {
		t.Fatalf("session at %s", p.layer.info.Name)
	}
	if _, err := applyRaw(p, `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":1,"radius":1,"points":[[1,1]],"brush":"tree-fine","strength":"high"}`); err != nil {
		t.Fatal(err)
	}
	e := p.edits()[0]
	if e.env.info.Name != "layer3" || len(e.mask) != 256 || e.mask[0] == 0 || e.mask[17] != 0 {
		t.Fatalf("edit at %s with %d mask cells", e.env.info.Name, len(e.mask))
	}
	if sum := summarize(p.edits(), p.layer.grid); sum[0].Cells != "8000000000000000" {
		t.Fatalf("session-grid cells %q", sum[0].Cells)
	}
	ctx := context.Background()
	f, err := s.def.engine.Features(ctx, "layer2", p.id)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.def.engine.Render(ctx, f, nil)
	after, err := s.def.engine.Render(ctx, f, engineEdits(p.edits()))
	if err != nil {
		t.Fatal(err)
	}
	tree := [3]uint8{0x22, 0x8b, 0x22}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			// The dot touches some of layer3's 2×2-pixel cells near the corner.
			in := e.mask[(y/2)*16+x/2] != 0
			a, b := rgbAt(before, x, y), rgbAt(after, x, y)
			if in && !near(b, tree) {
				t.Fatalf("brushed pixel (%d,%d) is %v, want tree", x, y, b)
			}
			if !in && a != b {
				t.Fatalf("pixel (%d,%d) outside the stroke changed", x, y)
			}
		}
	}
	// The cached features are untouched: rendering without edits again gives the original.
	again, _ := s.def.engine.Render(ctx, f, nil)
	if !bytesEqualImages(before, again) {
		t.Fatal("a layered render changed the cached features")
	}
}

func bytesEqualImages(a, b interface{ At(x, y int) color.Color }) bool {
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}
