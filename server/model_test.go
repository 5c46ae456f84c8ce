package server

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
	"github.com/ganpaint-go/ganpaint/painting"
)

var plantedDir = testenv.PlantedModel()

// plantedResults is what a dissection of the planted model finds (see
// inference/testdata/planted/README.md): unit k < 4 of layer2 draws class
// k+1 with IoU 1 at level A_k; units 4–7 match nothing.
func plantedResults() *dissection.Results {
	classes := []string{"background", "sky", "tree", "door", "grass"}
	levels := []float32{1, 1.5, 2, 2.5, 1, 1, 1, 1}
	l := &dissection.Layer{Layer: "layer2", Channels: 8, Height: 8, Width: 8, ClassNames: classes,
		Rankings: map[string][]int{}}
	for u := 0; u < 8; u++ {
		iou := make([]float64, len(classes))
		label := "background"
		if u < 4 {
			iou[u+1] = 1
			label = classes[u+1]
		}
		l.Units = append(l.Units, dissection.Unit{Unit: u, Label: label, IoU: iou[max(0, min(u+1, 4))], Level: levels[u], ClassIoU: iou})
	}
	for ci, c := range classes {
		order := []int{0, 1, 2, 3, 4, 5, 6, 7}
		if ci > 0 {
			order = append([]int{ci - 1}, append(order[:ci-1:ci-1], order[ci:]...)...)
		}
		l.Rankings[c] = order
	}
	return &dissection.Results{Model: "planted", Layers: map[string]*dissection.Layer{"layer2": l}}
}

func plantedDeps(t testing.TB) Deps {
	t.Helper()
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(plantedDir, inference.Options{Workers: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("loading planted model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	res := plantedResults()
	eng, err := NewModelEngine(m, res)
	if err != nil {
		t.Fatal(err)
	}
	classes, err := m.Classes()
	if err != nil {
		t.Fatal(err)
	}
	concepts, err := NewDissectionConcepts(res, classes)
	if err != nil {
		t.Fatal(err)
	}
	return Deps{ModelDeps: ModelDeps{Engine: eng, Concepts: concepts}, Pages: testPages()}
}

func TestDissectionConcepts(t *testing.T) {
	classes := []inference.ClassSpec{{Name: "background", Color: "#808080"}, {Name: "sky", Color: "#87ceeb"},
		{Name: "tree", Color: "#228b22"}, {Name: "door", Color: "#8b4513"}, {Name: "grass", Color: "#7cfc00"}}
	dc, err := NewDissectionConcepts(plantedResults(), classes)
	if err != nil {
		t.Fatal(err)
	}
	list := dc.List()
	// background has no unit with IoU > 0, so it is not offered.
	if len(list) != 4 || list[0].Name != "sky" || list[1] != (Concept{"tree", "#228b22"}) {
		t.Errorf("list %v", list)
	}
	if got := dc.Ranked("layer2", "tree"); len(got) != 1 || got[0] != 1 {
		t.Errorf("tree ranked %v, want [1] (the only unit overlapping trees)", got)
	}
	if dc.Ranked("layer3", "tree") != nil || dc.Ranked("layer2", "background") != nil {
		t.Error("undissected layer or unmatched class ranked")
	}
}

func TestPlantedModelPainting(t *testing.T) {
	_, addr := startServer(t, Config{}, plantedDeps(t))
	c := dial(t, addr, "")
	hello, _ := c.hello()
	if hello["default_layer"] != "layer2" || hello["image"].(map[string]any)["width"].(float64) != 32 {
		t.Fatalf("hello %v", hello)
	}
	// Pick an image with trees: the sample ids all have a mosaic of four classes.
	c.send(map[string]any{"t": "format", "format": "png"})
	orig, _ := c.frame()
	s := c.sendSeq(map[string]any{"t": "erase_all", "concept": "tree", "units": 1})
	erased, st := c.frameSeq(s)

	a := decodePNG(t, orig.image)
	b := decodePNG(t, erased.image)
	tree, gray := [3]uint8{0x22, 0x8b, 0x22}, [3]uint8{0x80, 0x80, 0x80}
	removed := 0
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			pa, pb := rgbAt(a, x, y), rgbAt(b, x, y)
			switch {
			case near(pa, tree):
				if !near(pb, gray) {
					t.Fatalf("tree pixel (%d,%d) became %v, want background", x, y, pb)
				}
				removed++
			case pa != pb:
				t.Fatalf("non-tree pixel (%d,%d) changed from %v to %v", x, y, pa, pb)
			}
		}
	}
	if removed == 0 {
		t.Fatal("the first sample has no tree pixels; pick another id")
	}

	// /render.png of the state reproduces the frame.
	_, body := httpGet(t, "http://"+addr+"/render.png?state="+st["state"].(string), nil)
	if !bytes.Equal(body, erased.image) {
		t.Error("render.png differs from the frame")
	}
	s = c.sendSeq(map[string]any{"t": "undo"})
	if f, _ := c.frameSeq(s); !bytes.Equal(f.image, orig.image) {
		t.Error("undo did not restore the original bytes")
	}

	// A door stroke in the top-left corner paints door into the two cells it
	// touches (x < 8, y < 4) and changes nothing else. The planted model
	// blends the door colour into a cell where door was off (its offset from
	// the background adds to the cell's own) and leaves door cells as they were.
	s = c.sendSeq(stroke("door", "add", 1, 1, [2]float64{1, 1}, [2]float64{5, 1}))
	f, _ := c.frameSeq(s)
	d := decodePNG(t, f.image)
	door := [3]uint8{0x8b, 0x45, 0x13}
	painted := 0
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			pa, pd := rgbAt(a, x, y), rgbAt(d, x, y)
			if x >= 8 || y >= 4 {
				if pa != pd {
					t.Fatalf("pixel (%d,%d) changed outside the brushed cells", x, y)
				}
				continue
			}
			want := pa
			if !near(pa, door) {
				for i := range want {
					want[i] = uint8(min(255, max(0, int(pa[i])+int(door[i])-int(gray[i]))))
				}
				painted++
			}
			if !near(pd, want) {
				t.Fatalf("brushed pixel (%d,%d) is %v, want %v (was %v)", x, y, pd, want, pa)
			}
		}
	}
	if painted == 0 {
		t.Fatal("the brushed cells were all door already; the stroke tests nothing")
	}
}

func decodePNG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func rgbAt(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func near(a, b [3]uint8) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -2 || d > 2 {
			return false
		}
	}
	return true
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestPlantedRenderGolden pins the whole share path — token, validation,
// brush rasterisation, model, encoding — to a golden image of the planted
// model. Pixels are compared, not PNG bytes, so an encoder change in Go
// does not fail it.
func TestPlantedRenderGolden(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger()}, plantedDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := painting.EncodeState(painting.State{Model: "planted", Layer: "layer2", ID: 3, Edits: []painting.Edit{
		{Concept: "tree", Units: 1, Radius: 3, Points: []painting.Point{{X: 2, Y: 2}, {X: 12, Y: 20}, {X: 30, Y: 28}}},
		{Concept: "sky", Mode: painting.Remove, Everywhere: true, Units: 1},
		{Concept: "door", Units: 1, Radius: 1, Points: []painting.Point{{X: 28, Y: 3}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/render.png?state="+tok, nil))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	golden := filepath.Join("testdata", "golden", "planted_edits.png")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./server -run Golden -update)", err)
	}
	a, b := decodePNG(t, rec.Body.Bytes()), decodePNG(t, want)
	if a.Bounds() != b.Bounds() {
		t.Fatalf("size %v, golden %v", a.Bounds(), b.Bounds())
	}
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			if rgbAt(a, x, y) != rgbAt(b, x, y) {
				t.Fatalf("pixel (%d,%d) = %v, golden %v", x, y, rgbAt(a, x, y), rgbAt(b, x, y))
			}
		}
	}
}

// TestModelEngineRepaintsRegions renders one image's features through a
// painting history (strokes, undo, an edit everywhere) and checks every
// frame against a render from fresh features, which runs the whole tail:
// the kept frame and its region repaints must give the same picture.
func TestModelEngineRepaintsRegions(t *testing.T) {
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir("../inference/testdata/proggan_tiny", inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	eng, err := NewModelEngine(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := eng.Features(ctx, "layer4", 1)
	if err != nil {
		t.Fatal(err)
	}
	cell := func(i int) []float32 {
		mk := make([]float32, 64)
		mk[i] = 1
		return mk
	}
	all := make([]float32, 64)
	for i := range all {
		all[i] = 1
	}
	edit := func(mode inference.Mode, mask []float32, units ...int) Edit {
		return Edit{Edit: inference.Edit{Units: units, Mode: mode, Strength: 1, Mask: inference.Mask{Width: 8, Height: 8, Alpha: mask}}}
	}
	a := edit(inference.ModeAdd, cell(9), 0, 3, 5)
	b := edit(inference.ModeRemove, cell(54), 1, 2)
	everywhere := edit(inference.ModeRemove, all, 7)
	// Edits at layer6 (16x16 cells), as door and dome brushes make: the
	// blocks up to layer6 run again only when the layer4 result changed.
	at6 := func(mode inference.Mode, i int, units ...int) Edit {
		mk := make([]float32, 256)
		mk[i] = 1
		return Edit{Edit: inference.Edit{Units: units, Mode: mode, Strength: 1, Mask: inference.Mask{Width: 16, Height: 16, Alpha: mk}}, Layer: "layer6"}
	}
	c6, d6 := at6(inference.ModeAdd, 40, 2, 9), at6(inference.ModeRemove, 200, 4)
	history := []struct {
		name  string
		edits []Edit
	}{
		{"start", nil}, {"stroke", []Edit{a}}, {"second stroke", []Edit{a, b}}, {"undo", []Edit{a}},
		{"redo", []Edit{a, b}}, {"everywhere", []Edit{a, b, everywhere}}, {"reset", nil},
		{"later layer only", []Edit{c6}}, {"later layer after a stroke", []Edit{a, c6}},
		{"second later-layer stroke", []Edit{a, c6, d6}}, {"stroke under later-layer edits", []Edit{a, b, c6, d6}},
		{"undo the later layer", []Edit{a, b}}, {"later layer again", []Edit{a, b, d6}}, {"reset again", nil},
	}
	for _, h := range history {
		got, err := eng.Render(ctx, f, h.edits)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := eng.Features(ctx, "layer4", 1)
		if err != nil {
			t.Fatal(err)
		}
		want, err := eng.Render(ctx, fresh, h.edits)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want.Pix {
			// Within one 8-bit step: crops may round floats differently.
			if d := int(got.Pix[i]) - int(want.Pix[i]); d < -1 || d > 1 {
				t.Fatalf("%s: byte %d is %d, a full render gives %d", h.name, i, got.Pix[i], want.Pix[i])
			}
		}
		if f.(modelFeatures).memo.frame.Image() == nil {
			t.Fatalf("%s: the features kept no frame", h.name)
		}
	}
}
