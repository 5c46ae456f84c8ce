package brushes

import (
	"errors"
	"slices"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

// results has one layer "l" of 4 units and classes sky, tree: tree is drawn
// by units 2 and 0 (IoU > 0), sky by unit 1 only; tree has a recipe and an
// erasing recipe.
func results() *dissection.Results {
	unit := func(u int, sky, tree float64) dissection.Unit {
		return dissection.Unit{Unit: u, Level: float32(u + 1), ClassIoU: []float64{sky, tree}}
	}
	l := &dissection.Layer{Layer: "l", Channels: 4, ClassNames: []string{"sky", "tree"},
		Units:    []dissection.Unit{unit(0, 0, 0.1), unit(1, 0.5, 0), unit(2, 0, 0.3), unit(3, 0, 0)},
		Rankings: map[string][]int{"sky": {1, 0, 2, 3}, "tree": {2, 0, 1, 3}},
		Recipes: map[string]*dissection.Recipe{
			"tree-dense": {Concept: "tree", Kind: "dense", Units: []int{0, 1, 2, 3}, Weights: []float32{1, 1, 1, 1}, Values: []float32{1, 2, 3, 4}},
			"tree-erase": {Concept: "tree", Kind: "erase", Remove: true, Units: []int{2}, Weights: []float32{1}, Values: []float32{0}},
		}}
	return &dissection.Results{Model: "m", Layers: map[string]*dissection.Layer{"l": l}}
}

func TestNewWithoutReport(t *testing.T) {
	s, err := New(results(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tree := s.Concept("l", "tree")
	if tree == nil || !slices.Equal(tree.Ranked, []int{2, 0}) {
		t.Fatalf("tree %+v", tree)
	}
	if len(tree.Add) != 2 || tree.Add[0].Name != "tree-iou" || tree.Add[0].Mode != inference.ModeAdd ||
		!slices.Equal(tree.Add[0].Units, []int{2, 0}) || tree.Add[1].Name != "tree-dense" || tree.Add[1].Mode != inference.ModeBlend {
		t.Fatalf("add brushes %+v", tree.Add)
	}
	if len(tree.Remove) != 2 || tree.Remove[0].Mode != inference.ModeRemove || tree.Remove[1].Name != "tree-erase" {
		t.Fatalf("remove brushes %+v", tree.Remove)
	}
	b, st, err := s.Pick("l", "tree", false, "", "")
	if err != nil || b.Name != "tree-iou" || st != (efficacy.Step{Name: "medium", Strength: 1}) {
		t.Fatalf("default %s %+v %v", b.Name, st, err)
	}
	if sky := s.Concept("l", "sky"); len(sky.Add) != 1 || !slices.Equal(sky.Add[0].Units, []int{1}) {
		t.Fatalf("sky %+v", sky)
	}
	if got := len(s.All()); got != 6 {
		t.Fatalf("%d brushes", got)
	}
	if one, _ := New(results(), nil, Options{Units: 1}); !slices.Equal(one.Concept("l", "tree").Add[0].Units, []int{2}) {
		t.Fatal("units option ignored")
	}
}

func TestNewWithReport(t *testing.T) {
	plain, _ := New(results(), nil, Options{})
	dense := plain.Concept("l", "tree").Add[1]
	rep := &efficacy.Report{
		Brushes: map[string]efficacy.Choice{"tree": {Add: &efficacy.ChosenBrush{Brush: "tree-dense", Layer: "l", Default: "high"}}},
		Calibration: map[string]efficacy.Calibrated{"tree-dense:add": {Fingerprint: dense.Fingerprint(),
			Steps: []efficacy.Step{{Name: "low", Strength: 0.25}, {Name: "medium", Strength: 0.5}, {Name: "high", Strength: 0.9}}, Default: "medium"}},
	}
	s, err := New(results(), rep, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, st, err := s.Pick("l", "tree", false, "", "")
	if err != nil || b.Name != "tree-dense" || st != (efficacy.Step{Name: "high", Strength: 0.9}) {
		t.Fatalf("default %s %+v %v", b.Name, st, err)
	}
	if b, st, err := s.Pick("l", "tree", false, "tree-iou", "low"); err != nil || b.Kind != KindIoU || st.Strength != 0.5 {
		t.Fatalf("iou low: %s %+v %v", b.Name, st, err)
	}
	// A calibration of another recipe is ignored.
	rep.Calibration["tree-dense:add"] = efficacy.Calibrated{Fingerprint: "other", Steps: []efficacy.Step{{Name: "x", Strength: 9}}}
	s, _ = New(results(), rep, Options{})
	if b, _, _ := s.Pick("l", "tree", false, "tree-dense", ""); b.Steps[2].Strength != 1 {
		t.Fatalf("stale calibration used: %+v", b.Steps)
	}
	for name, c := range map[string]struct {
		layer, concept, brush, step string
		remove                      bool
	}{
		"layer":   {"k", "tree", "", "", false},
		"concept": {"l", "dragon", "", "", false},
		"brush":   {"l", "tree", "tree-ace", "", false},
		"step":    {"l", "tree", "", "max", false},
		"mode":    {"l", "sky", "tree-erase", "", true},
	} {
		if _, _, err := s.Pick(c.layer, c.concept, c.remove, c.brush, c.step); !errors.Is(err, ErrUnknown) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A recipe trained at a later layer is offered at the earlier one too, and
// the benchmark's choice of it becomes the default there.
func TestCrossLayerRecipes(t *testing.T) {
	res := results()
	fine := &dissection.Layer{Layer: "m", Channels: 2, ClassNames: []string{"sky", "tree"},
		Units:    []dissection.Unit{{Unit: 0, Level: 1, ClassIoU: []float64{0, 0.2}}, {Unit: 1, Level: 1, ClassIoU: []float64{0.1, 0}}},
		Rankings: map[string][]int{"sky": {1, 0}, "tree": {0, 1}},
		Recipes: map[string]*dissection.Recipe{"tree-dense-m": {Concept: "tree", Kind: "dense-m", Units: []int{0, 1},
			Weights: []float32{1, 1}, Values: []float32{1, 1}}}}
	res.Layers["m"] = fine
	rep := &efficacy.Report{Brushes: map[string]efficacy.Choice{"tree": {Add: &efficacy.ChosenBrush{Brush: "tree-dense-m", Layer: "m", Default: "low"}}}}
	s, err := New(res, rep, Options{Order: []string{"k", "l", "m"}})
	if err != nil {
		t.Fatal(err)
	}
	b, st, err := s.Pick("l", "tree", false, "", "")
	if err != nil || b.Name != "tree-dense-m" || b.Layer != "m" || st.Name != "low" {
		t.Fatalf("default at l: %s@%s %+v %v", b.Name, b.Layer, st, err)
	}
	if len(s.Concept("l", "tree").Add) != 3 || len(s.Concept("m", "tree").Add) != 2 {
		t.Fatalf("lists %d %d", len(s.Concept("l", "tree").Add), len(s.Concept("m", "tree").Add))
	}
	n := 0
	for _, x := range s.All() {
		if x.Name == "tree-dense-m" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("All lists the cross-layer recipe %d times", n)
	}
	// Without the layer order nothing crosses.
	plain, _ := New(res, rep, Options{})
	if len(plain.Concept("l", "tree").Add) != 2 {
		t.Fatal("recipe crossed layers without an order")
	}
}
