package efficacy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/splitmix"
)

var sceneClasses = []string{"sky", "cloud", "tree", "grass", "door", "brick", "dome", "building", "window", "roof", "mountain", "road"}

// scene is a 128×128 segmentation painted from rectangles in order over a
// background class.
func scene(bg string, rects ...any) Seg {
	cls := NewClasses(sceneClasses)
	s := Seg{W: 128, H: 128, Labels: make([]uint8, 128*128)}
	for i := range s.Labels {
		s.Labels[i] = uint8(cls[bg])
	}
	for i := 0; i < len(rects); i += 2 {
		c, r := cls[rects[i].(string)], rects[i+1].(Rect)
		for y := r.Y0; y < r.Y1; y++ {
			for x := r.X0; x < r.X1; x++ {
				s.Labels[y*128+x] = uint8(c)
			}
		}
	}
	return s
}

func TestTiling(t *testing.T) {
	rs := Tiling(128, 128, 4)
	if len(rs) != 16 || rs[0] != (Rect{0, 0, 32, 32}) || rs[5] != (Rect{32, 32, 64, 64}) || rs[15] != (Rect{96, 96, 128, 128}) {
		t.Fatalf("tiling %v", rs)
	}
	// Uneven sizes still cover the image exactly once.
	cover := make([]int, 30*20)
	for _, r := range Tiling(30, 20, 4) {
		for y := r.Y0; y < r.Y1; y++ {
			for x := r.X0; x < r.X1; x++ {
				cover[y*30+x]++
			}
		}
	}
	for i, n := range cover {
		if n != 1 {
			t.Fatalf("pixel %d covered %d times", i, n)
		}
	}
}

func TestContextBands(t *testing.T) {
	s := scene("sky", "grass", Rect{0, 64, 128, 128})
	cls := NewClasses(sceneClasses)
	c := NewContext(s, Rect{32, 32, 64, 64}, len(sceneClasses))
	if c.Share[BandRegion][cls["sky"]] != 1 || c.Share[BandBelow][cls["grass"]] != 1 || c.Outside[BandBelow] {
		t.Fatalf("context %+v", c)
	}
	top := NewContext(s, Rect{0, 0, 32, 32}, len(sceneClasses))
	if !top.Outside[BandAbove] || !top.Outside[BandLeft] || top.Outside[BandRight] {
		t.Fatalf("edge bands %+v", top.Outside)
	}
	half := NewContext(s, Rect{0, 48, 32, 80}, len(sceneClasses))
	if got := half.Share[BandRegion][cls["grass"]]; got != 0.5 {
		t.Fatalf("grass share %v", got)
	}
	if half.Share[BandTop][cls["sky"]] != 1 || half.Share[BandBottom][cls["grass"]] != 1 {
		t.Fatalf("halves %+v", half.Share)
	}
}

func TestRules(t *testing.T) {
	horizon := scene("sky", "grass", Rect{0, 64, 128, 128})
	// A wall from y 32 to 80 between x 32 and 96, standing on grass; sky above.
	house := scene("sky", "grass", Rect{0, 80, 128, 128}, "building", Rect{32, 32, 96, 80})
	brickHouse := scene("sky", "grass", Rect{0, 80, 128, 128}, "brick", Rect{32, 32, 96, 80})
	cls := NewClasses(sceneClasses)
	type want map[string]bool
	cases := []struct {
		name string
		seg  Seg
		r    Rect
		want want
	}{
		{"high sky", horizon, Rect{0, 0, 32, 32}, want{"sky": true, "cloud": true, "tree": false, "grass": false, "road": false,
			"building": false, "door": false, "window": false, "dome": false, "roof": false, "mountain": false}},
		{"sky above the horizon", horizon, Rect{0, 32, 32, 64}, want{"sky": true, "cloud": true, "tree": true, "grass": false,
			"building": true, "mountain": true, "door": false, "dome": false}},
		{"lawn", horizon, Rect{0, 64, 32, 96}, want{"sky": false, "cloud": false, "tree": true, "grass": true, "road": true,
			"building": true, "brick": true, "door": false, "window": false, "mountain": false}},
		{"bottom edge", horizon, Rect{32, 96, 64, 128}, want{"grass": true, "road": true, "sky": false}},
		{"middle of a wall", house, Rect{32, 32, 64, 64}, want{"window": true, "door": false, "brick": true, "tree": false,
			"dome": false, "grass": false}},
		{"foot of a wall", house, Rect{32, 64, 64, 96}, want{"door": true, "window": true, "tree": true, "grass": true}},
		{"on the roofline", house, Rect{32, 0, 64, 32}, want{"dome": true, "roof": true, "sky": true, "cloud": true,
			"window": false, "door": false}},
		{"beside the wall", house, Rect{0, 32, 32, 64}, want{"tree": true, "building": true, "brick": true, "door": false}},
		{"brick wall counts as wall", brickHouse, Rect{32, 64, 64, 96}, want{"door": true, "window": true}},
		{"plaster to brick", house, Rect{64, 32, 96, 64}, want{"brick": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := NewContext(tc.seg, tc.r, len(sceneClasses))
			for concept, w := range tc.want {
				if got := RuleFor(concept).Plausible(ctx, cls); got != w {
					t.Errorf("%s: plausible = %v, want %v (%s)", concept, got, w, RuleFor(concept).Text)
				}
			}
		})
	}
}

func TestRuleForUnknownConcept(t *testing.T) {
	r := RuleFor("dragon")
	if !r.Plausible(Context{}, nil) || r.Text == "" {
		t.Fatal("a concept without a rule is plausible everywhere")
	}
	// A model without some of the classes a rule names: the rule just never
	// sees them.
	cls := NewClasses([]string{"sky", "tree"})
	s := Seg{W: 8, H: 8, Labels: make([]uint8, 64)}
	ctx := NewContext(s, Rect{0, 0, 4, 4}, 2)
	if RuleFor("door").Plausible(ctx, cls) {
		t.Fatal("door without walls")
	}
	for _, c := range sceneClasses {
		if RuleFor(c).Text == "no rule: every region" {
			t.Errorf("class %s of the default model has no rule", c)
		}
	}
}

// The rules' outcomes on drawn scenes, shared with the Python port
// (training/plausible.py, checked by training/tests/test_recipes.py).
// Regenerate with `go test ./efficacy -run RulesGolden -update`.
var update = flag.Bool("update", false, "rewrite golden files")

type goldenRect struct {
	Class string `json:"class"`
	Rect  [4]int `json:"rect"`
}

type goldenScene struct {
	Background string            `json:"background"`
	Rects      []goldenRect      `json:"rects"`
	Plausible  map[string][]bool `json:"plausible"` // concept → one per region of the 4×4 tiling
}

func goldenScenes() []goldenScene {
	scenes := []goldenScene{
		{Background: "sky", Rects: []goldenRect{{"grass", [4]int{0, 64, 128, 128}}}},
		{Background: "sky", Rects: []goldenRect{{"grass", [4]int{0, 80, 128, 128}}, {"building", [4]int{32, 32, 96, 80}}}},
		{Background: "sky", Rects: []goldenRect{{"road", [4]int{0, 90, 128, 128}}, {"brick", [4]int{10, 40, 70, 90}},
			{"roof", [4]int{10, 28, 70, 40}}, {"door", [4]int{30, 70, 42, 90}}, {"tree", [4]int{80, 50, 110, 90}}}},
	}
	rng := splitmix.New(20261130)
	for s := 0; s < 12; s++ {
		sc := goldenScene{Background: sceneClasses[rng.Next()%uint64(len(sceneClasses))]}
		for k := 0; k < 7; k++ {
			x0, y0 := int(rng.Next()%120), int(rng.Next()%120)
			w, h := 8+int(rng.Next()%64), 8+int(rng.Next()%64)
			sc.Rects = append(sc.Rects, goldenRect{sceneClasses[rng.Next()%uint64(len(sceneClasses))], [4]int{x0, y0, min(x0+w, 128), min(y0+h, 128)}})
		}
		scenes = append(scenes, sc)
	}
	cls := NewClasses(sceneClasses)
	for i := range scenes {
		var rects []any
		for _, r := range scenes[i].Rects {
			rects = append(rects, r.Class, Rect{r.Rect[0], r.Rect[1], r.Rect[2], r.Rect[3]})
		}
		seg := scene(scenes[i].Background, rects...)
		scenes[i].Plausible = map[string][]bool{}
		for _, c := range sceneClasses {
			for _, r := range Tiling(128, 128, 4) {
				scenes[i].Plausible[c] = append(scenes[i].Plausible[c], RuleFor(c).Plausible(NewContext(seg, r, len(sceneClasses)), cls))
			}
		}
	}
	return scenes
}

func TestRulesGolden(t *testing.T) {
	got, err := json.MarshalIndent(map[string]any{"classes": sceneClasses, "size": 128, "side": 4, "scenes": goldenScenes()}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "rules_golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatalf("rules changed: rerun with -update and check training/plausible.py still agrees")
	}
}
