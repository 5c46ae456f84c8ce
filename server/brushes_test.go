package server

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// brushConcepts is testConcepts plus brushes for tree at layer4: a recipe
// (the default, at its "high" step) and the IoU ranking; erasing has the
// IoU ranking only.
type brushConcepts struct {
	fakeConcepts
	brushes func(layer, concept string) ConceptBrushes
}

func (b brushConcepts) Brushes(layer, concept string) ConceptBrushes {
	return b.brushes(layer, concept)
}

var treeRecipe = Brush{Name: "tree-dense", Kind: "dense", Units: []int{3, 1}, Weights: []float32{1, 0.5}, Values: []float32{2, -1},
	Default: "high", Steps: []Step{{Name: "low", Strength: 0.5}, {Name: "medium", Strength: 0.75},
		{Name: "high", Strength: 1, Effect: &StepEffect{Success: 0.8, Rise: 0.6, LeakNear: 0.2, LeakFar: 0.01}}}}

func withBrushes() brushConcepts {
	iou := Brush{Name: "tree-iou", Kind: "iou", Ranked: true, Default: "medium",
		Steps: []Step{{Name: "low", Strength: 0.5}, {Name: "medium", Strength: 1}, {Name: "high", Strength: 2}}}
	return brushConcepts{fakeConcepts: testConcepts(), brushes: func(layer, concept string) ConceptBrushes {
		if layer == "layer4" && concept == "tree" {
			return ConceptBrushes{Add: []Brush{treeRecipe, iou}, Remove: []Brush{iou}}
		}
		return ConceptBrushes{}
	}}
}

func brushServer(t *testing.T) *Server {
	t.Helper()
	deps := testDeps(detEngine(nil, 0))
	deps.Concepts = withBrushes()
	s, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHelloListsBrushes(t *testing.T) {
	s := brushServer(t)
	var h Hello
	if err := json.Unmarshal(s.def.modelJSON, &h); err != nil {
		t.Fatal(err)
	}
	var l4 HelloLayer
	for _, l := range h.Layers {
		if l.Name == "layer4" {
			l4 = l
		}
	}
	tree := l4.Brushes["tree"]
	if tree == nil || len(tree.Add) != 2 || tree.Add[0].Name != "tree-dense" || tree.Add[0].Default != "high" ||
		tree.Add[1].Ranked != true || len(tree.Remove) != 1 {
		t.Fatalf("tree brushes %+v", tree)
	}
	if e := tree.Add[0].Steps[2].Effect; e == nil || e.Success != 0.8 {
		t.Fatalf("measured effect missing: %+v", tree.Add[0].Steps)
	}
	if _, ok := l4.Brushes["sky"]; ok {
		t.Fatal("sky has no brushes beyond its ranking")
	}
	// A Concepts without brushes gives the old hello.
	if plain := testServer(t, Config{}); plain.def.hello.Layers[0].Brushes != nil {
		t.Fatal("brushes in a hello without BrushSource")
	}
}

func TestStrokeBrushes(t *testing.T) {
	cases := []struct {
		name      string
		msg       string
		brush     string
		step      string
		strength  float32
		units     []int
		recipe    bool
		wantError string
	}{
		{"default brush and step", `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[9,9]]}`,
			"tree-dense", "high", 1, []int{3, 1}, true, ""},
		{"named step", `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[9,9]],"strength":"low"}`,
			"tree-dense", "low", 0.5, []int{3, 1}, true, ""},
		{"IoU ranking keeps its units", `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":3,"radius":2,"points":[[9,9]],"brush":"tree-iou"}`,
			"tree-iou", "medium", 1, []int{3, 1, 4}, false, ""},
		{"erasing", `{"t":"stroke","seq":1,"concept":"tree","mode":"remove","units":2,"radius":2,"points":[[9,9]],"strength":"high"}`,
			"tree-iou", "high", 2, []int{3, 1}, false, ""},
		{"concept without brushes", `{"t":"stroke","seq":1,"concept":"sky","mode":"add","units":2,"radius":2,"points":[[9,9]]}`,
			"", "", 1, []int{20, 21}, false, ""},
		{"unknown brush", `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[9,9]],"brush":"tree-ace"}`,
			"", "", 0, nil, false, codeUnknownBrush},
		{"unknown step", `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[9,9]],"strength":"max"}`,
			"", "", 0, nil, false, codeUnknownBrush},
		{"recipe cannot erase", `{"t":"stroke","seq":1,"concept":"tree","mode":"remove","units":2,"radius":2,"points":[[9,9]],"brush":"tree-dense"}`,
			"", "", 0, nil, false, codeUnknownBrush},
		{"strength needs brushes", `{"t":"stroke","seq":1,"concept":"sky","mode":"add","units":2,"radius":2,"points":[[9,9]],"strength":"low"}`,
			"", "", 0, nil, false, codeUnknownBrush},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := brushServer(t).def.defaultPainter()
			_, err := applyRaw(p, c.msg)
			if c.wantError != "" {
				if err == nil || err.Code != c.wantError {
					t.Fatalf("error %v, want %s", err, c.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := p.edits()[0]
			if e.Brush != c.brush || e.Step != c.step || e.strength != c.strength || !slices.Equal(e.unitList, c.units) {
				t.Fatalf("edit %q/%q strength %v units %v", e.Brush, e.Step, e.strength, e.unitList)
			}
			ee := engineEdits(p.edits())[0]
			if (ee.Weights != nil) != c.recipe || ee.Strength != c.strength {
				t.Fatalf("engine edit %+v", ee)
			}
			if c.recipe && (!reflect.DeepEqual(ee.Weights, treeRecipe.Weights) || !reflect.DeepEqual(ee.Values, treeRecipe.Values)) {
				t.Fatalf("recipe not passed on: %+v", ee)
			}
		})
	}
}

func TestBrushesInShareTokensAndContinuations(t *testing.T) {
	s := brushServer(t)
	p := s.def.defaultPainter()
	msgs := []string{
		`{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[9,9]],"strength":"low","stroke":4}`,
		`{"t":"stroke","seq":2,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[20,9]],"strength":"low","stroke":4}`,
		`{"t":"erase_all","seq":3,"concept":"tree","units":1}`,
	}
	for _, m := range msgs {
		if _, err := applyRaw(p, m); err != nil {
			t.Fatal(m, err)
		}
	}
	if _, err := applyRaw(p, `{"t":"stroke","seq":4,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[30,9]],"strength":"high","stroke":4}`); err != nil {
		t.Fatal(err)
	}
	if len(p.edits()) != 3 {
		t.Fatalf("%d edits: a part after another message starts a new stroke", len(p.edits()))
	}
	if _, err := applyRaw(p, `{"t":"stroke","seq":5,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[40,9]],"strength":"low","stroke":4}`); err == nil {
		t.Fatal("a continued stroke changed its strength")
	}
	st := shareOf(s.def.info.Name, p.layer, p.id, p.edits(), false)
	tok, err := painting.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := painting.DecodeState(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("token round trip:\n%+v\n%+v", back, st)
	}
	q, perr := s.def.painterFromShare(back)
	if perr != nil {
		t.Fatal(perr)
	}
	if !reflect.DeepEqual(engineEdits(q.edits()), engineEdits(p.edits())) {
		t.Fatal("a share link paints other edits than the session")
	}
	if e := q.edits()[1]; e.Brush != "tree-iou" || e.Step != "medium" || !e.Everywhere {
		t.Fatalf("erase_all edit %+v", e)
	}
}

// Tokens made before brushes (no brush flag) keep meaning the IoU ranking at
// strength 1, even for a concept whose default is now a recipe.
func TestLegacyTokenKeepsItsMeaning(t *testing.T) {
	s := brushServer(t)
	tok, err := painting.EncodeState(painting.State{Model: s.def.info.Name, Layer: "layer4", ID: 5,
		Edits: []painting.Edit{{Concept: "tree", Units: 3, Radius: 2, Points: []painting.Point{{X: 9, Y: 9}}}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := painting.DecodeState(tok)
	if err != nil {
		t.Fatal(err)
	}
	p, perr := s.def.painterFromShare(st)
	if perr != nil {
		t.Fatal(perr)
	}
	ee := engineEdits(p.edits())[0]
	if ee.Weights != nil || ee.Strength != 1 || !slices.Equal(ee.Units, []int{3, 1, 4}) {
		t.Fatalf("legacy edit %+v", ee)
	}
}
