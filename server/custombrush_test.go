package server

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/ganpaint-go/ganpaint/painting"
	"image"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestPainterPageCustomBrush: the painter page reads the custom brush of
// its address; a bad one is a message on the page, never an error status.
func TestPainterPageCustomBrush(t *testing.T) {
	s := testServer(t, Config{MaxUnits: 4})
	long := "1" + strings.Repeat(",1", maxCustomParam)
	for _, tc := range []struct {
		name  string
		query string
		want  *PageCustom
		err   string // substring of CustomError; "" for none
	}{
		{"none", "", nil, ""},
		{"add", "custom_layer=layer4&custom_units=17,3,31&custom_mode=add",
			&PageCustom{Layer: "layer4", Units: []int{3, 17, 31}, Label: "custom: 3 units @ layer4"}, ""},
		{"mode defaults to add", "custom_layer=layer2&custom_units=0",
			&PageCustom{Layer: "layer2", Units: []int{0}, Label: "custom: 1 unit @ layer2"}, ""},
		{"remove", "custom_layer=layer4&custom_units=5&custom_mode=remove",
			&PageCustom{Layer: "layer4", Units: []int{5}, Remove: true, Label: "custom: 1 unit @ layer4"}, ""},
		{"with a state", "state=garbage&custom_layer=layer4&custom_units=1",
			&PageCustom{Layer: "layer4", Units: []int{1}, Label: "custom: 1 unit @ layer4"}, ""},
		{"unknown layer", "custom_layer=layer9&custom_units=1", nil, `layer "layer9" cannot be painted (layers: layer2, layer4)`},
		{"layer not painted", "custom_layer=layer1&custom_units=1", nil, `layer "layer1" cannot be painted`},
		{"unit out of range", "custom_layer=layer4&custom_units=1,32", nil, "unit 32 is not in 0..31 of layer4"},
		{"negative unit", "custom_layer=layer4&custom_units=-1", nil, "unit -1 is not in 0..31"},
		{"too many units", "custom_layer=layer4&custom_units=1,2,3,4,5", nil, "5 units, at most 4"},
		{"repeated unit", "custom_layer=layer4&custom_units=2,7,2", nil, "unit 2 is listed twice"},
		{"not a number", "custom_layer=layer4&custom_units=1,x", nil, `"x" is not a unit number`},
		{"empty item", "custom_layer=layer4&custom_units=1,,2", nil, `"" is not a unit number`},
		{"plus sign", "custom_layer=layer4&custom_units=%2B3", nil, `"+3" is not a unit number`},
		{"huge number", "custom_layer=layer4&custom_units=99999999999999999999", nil, "is not a unit number"},
		{"no units", "custom_layer=layer4", nil, "needs both custom_layer and custom_units"},
		{"no layer", "custom_units=1", nil, "needs both"},
		{"mode only", "custom_mode=add", nil, "needs both"},
		{"bad mode", "custom_layer=layer4&custom_units=1&custom_mode=paint", nil, `custom_mode must be add or remove, not "paint"`},
		{"long list", "custom_layer=layer4&custom_units=" + long, nil, "characters long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?"+tc.query, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			d := pageData(t, rec.Body.Bytes())
			if tc.want != nil {
				// Its steps in each mode: the IoU brushes' uncalibrated ones,
				// the default at strength 1.
				want := *tc.want
				want.Brushes = HelloBrushes{Add: []HelloBrush{{Name: want.Label, Kind: "custom", Layer: want.Layer, Default: "medium",
					Steps: []HelloStep{{Name: "low", Strength: 0.5}, {Name: "medium", Strength: 1}, {Name: "high", Strength: 2}}}},
					Remove: []HelloBrush{{Name: want.Label, Kind: "custom", Layer: want.Layer, Default: "high",
						Steps: []HelloStep{{Name: "low", Strength: 0.5}, {Name: "medium", Strength: 0.75}, {Name: "high", Strength: 1}}}}}
				tc.want = &want
			}
			if !reflect.DeepEqual(d.Custom, tc.want) {
				t.Errorf("Custom = %+v, want %+v", d.Custom, tc.want)
			}
			switch {
			case tc.err == "" && d.CustomError != "":
				t.Errorf("CustomError %q, want none", d.CustomError)
			case tc.err != "" && !strings.Contains(d.CustomError, tc.err):
				t.Errorf("CustomError %q, want it to contain %q", d.CustomError, tc.err)
			}
		})
	}
	t.Run("embed ignores it", func(t *testing.T) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/embed?custom_layer=layer9&custom_units=1", nil))
		if d := pageData(t, rec.Body.Bytes()); rec.Code != 200 || d.Custom != nil || d.CustomError != "" {
			t.Errorf("status %d, custom %+v %q", rec.Code, d.Custom, d.CustomError)
		}
	})
}

// customStroke is a stroke message with a custom brush.
func customStroke(layer string, units []int, mode string, radius float64, pts ...[2]float64) map[string]any {
	m := stroke("", mode, 0, radius, pts...)
	delete(m, "concept")
	delete(m, "units")
	m["custom"] = map[string]any{"layer": layer, "units": units}
	return m
}

// TestCustomBrushPaintsAndShares: a custom brush paints its units (in the
// order given or not) at its layer, and the share token of the result
// renders the same image through /render.png.
func TestCustomBrushPaintsAndShares(t *testing.T) {
	var mu sync.Mutex
	var lastEdits []Edit
	eng := detEngine(nil, 0)
	render := eng.render
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		mu.Lock()
		lastEdits = slices.Clone(edits)
		mu.Unlock()
		return render(ctx, f, edits)
	}
	rendered := func() []Edit {
		mu.Lock()
		defer mu.Unlock()
		return lastEdits
	}
	_, addr := startServer(t, Config{}, testDeps(eng))
	c := dial(t, addr, "")
	c.hello()
	c.send(map[string]any{"t": "format", "format": "png"})
	plain, _ := c.frame()
	seq := c.sendSeq(customStroke("layer4", []int{9, 2, 30}, "add", 5, [2]float64{10, 10}, [2]float64{30, 12}))
	painted, st := c.frameSeq(seq)
	if bytes.Equal(painted.image, plain.image) {
		t.Fatal("the custom stroke did not change the image")
	}
	if last := rendered(); len(last) != 1 || !slices.Equal(last[0].Units, []int{2, 9, 30}) || last[0].Removes() || last[0].Layer != "layer4" || last[0].Strength != 1 {
		t.Fatalf("engine edits %+v", last)
	}
	list := st["edit_list"].([]any)
	if e := list[0].(map[string]any); e["concept"] != "custom: 3 units @ layer4" || e["mode"] != "add" || e["units"] != float64(3) {
		t.Errorf("edit_list entry %v", e)
	}
	seq = c.sendSeq(map[string]any{"t": "erase_all", "custom": map[string]any{"layer": "layer4", "units": []int{1}}})
	erased, st := c.frameSeq(seq)
	if last := rendered(); len(last) != 2 || !last[1].Removes() || !slices.Equal(last[1].Units, []int{1}) {
		t.Errorf("engine edits after erase_all %+v", last)
	}

	tok := st["state"].(string)
	dec, err := painting.DecodeState(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&painting.CustomBrush{Layer: "layer4", Units: []int{2, 9, 30}}); len(dec.Edits) != 2 || !reflect.DeepEqual(dec.Edits[0].Custom, want) ||
		!dec.Edits[1].Everywhere || !dec.Edits[1].Removes() {
		t.Fatalf("token holds %+v", dec)
	}
	resp, body := httpGet(t, "http://"+addr+"/render.png?state="+url.QueryEscape(tok), nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, erased.image) {
		t.Errorf("render.png of the share token (status %d) differs from the painted frame", resp.StatusCode)
	}
	// The painter page opened from that link describes the custom edits.
	resp, body = httpGet(t, "http://"+addr+"/?state="+url.QueryEscape(tok), nil)
	if d := pageData(t, body); resp.StatusCode != 200 || d.Painting == nil || d.Painting.Edits[0].Label() != "custom: 3 units @ layer4" {
		t.Errorf("page data %+v", d.Painting)
	}
}

// TestCustomBrushMessageErrors: bad custom brushes in messages are
// rejected with a clear code, and the session stays usable.
func TestCustomBrushMessageErrors(t *testing.T) {
	s := testServer(t, Config{MaxUnits: 4})
	withConcept := customStroke("layer4", []int{1}, "add", 2, [2]float64{1, 1})
	withConcept["concept"] = "tree"
	withStrength := customStroke("layer4", []int{1}, "add", 2, [2]float64{1, 1})
	withStrength["strength"] = "max"
	noLayer := customStroke("layer4", []int{1}, "add", 2, [2]float64{1, 1})
	noLayer["custom"] = map[string]any{"units": []int{1}}
	for _, tc := range []struct {
		name string
		msg  map[string]any
		code string
		text string
	}{
		{"unknown layer", customStroke("layer9", []int{1}, "add", 2, [2]float64{1, 1}), codeUnknownLayer, "cannot be painted"},
		{"unit out of range", customStroke("layer4", []int{32}, "add", 2, [2]float64{1, 1}), codeOutOfRange, "unit 32 is not in 0..31"},
		{"no units", customStroke("layer4", nil, "add", 2, [2]float64{1, 1}), codeBadMessage, "at least one unit"},
		{"too many units", customStroke("layer4", []int{1, 2, 3, 4, 5}, "add", 2, [2]float64{1, 1}), codeTooBig, "at most 4"},
		{"repeated unit", customStroke("layer4", []int{3, 3}, "add", 2, [2]float64{1, 1}), codeBadMessage, "listed twice"},
		{"with a concept", withConcept, codeBadMessage, "no concept"},
		{"with an unknown strength", withStrength, codeUnknownBrush, "no strength \"max\""},
		{"no layer", noLayer, codeBadMessage, "needs layer and units"},
		{"bad mode", customStroke("layer4", []int{1}, "paint", 2, [2]float64{1, 1}), codeBadMessage, "mode"},
		{"no points", customStroke("layer4", []int{1}, "add", 2), codeBadMessage, "no points"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := s.def.defaultPainter()
			tc.msg["seq"] = 1
			raw, jerr := json.Marshal(tc.msg)
			if jerr != nil {
				t.Fatal(jerr)
			}
			_, err := applyRaw(p, string(raw))
			if err == nil || err.Code != tc.code || !strings.Contains(err.Message, tc.text) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.text)
			}
			if len(p.edits()) != 0 {
				t.Errorf("a rejected stroke left %d edits", len(p.edits()))
			}
		})
	}
	t.Run("fractional unit number", func(t *testing.T) {
		p := s.def.defaultPainter()
		_, err := applyRaw(p, `{"t":"stroke","seq":1,"mode":"add","radius":2,"points":[[1,1]],"custom":{"layer":"layer4","units":[1.5]}}`)
		if err == nil || err.Code != codeOutOfRange {
			t.Errorf("got %v", err)
		}
	})
	t.Run("units of the wrong type", func(t *testing.T) {
		p := s.def.defaultPainter()
		_, err := applyRaw(p, `{"t":"stroke","seq":1,"mode":"add","radius":2,"points":[[1,1]],"custom":{"layer":"layer4","units":"1,2"}}`)
		if err == nil || err.Code != codeBadMessage {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a layer before the image's", func(t *testing.T) {
		p := s.def.defaultPainter()
		if _, err := applyRaw(p, `{"t":"stroke","seq":1,"mode":"add","radius":2,"points":[[1,1]],"custom":{"layer":"layer2","units":[1]}}`); err == nil ||
			err.Code != codeUnknownLayer || !strings.Contains(err.Message, "switch the layer to layer2") {
			t.Errorf("got %v", err)
		}
		// From layer2, a brush at layer4 paints there.
		if _, err := applyRaw(p, `{"t":"load","seq":2,"id":5,"layer":"layer2"}`); err != nil {
			t.Fatal(err)
		}
		if _, err := applyRaw(p, `{"t":"stroke","seq":3,"mode":"remove","radius":2,"points":[[1,1]],"custom":{"layer":"layer4","units":[1]}}`); err != nil {
			t.Fatal(err)
		}
		if e := p.edits()[0]; e.env.info.Name != "layer4" || len(e.mask) != 64 {
			t.Errorf("edit at %s with %d cells", e.env.info.Name, len(e.mask))
		}
	})
	t.Run("a continued stroke keeps its units", func(t *testing.T) {
		p := s.def.defaultPainter()
		if _, err := applyRaw(p, `{"t":"stroke","seq":1,"stroke":7,"mode":"add","radius":2,"points":[[1,1]],"custom":{"layer":"layer4","units":[1,2]}}`); err != nil {
			t.Fatal(err)
		}
		if _, err := applyRaw(p, `{"t":"stroke","seq":2,"stroke":7,"mode":"add","radius":2,"points":[[9,9]],"custom":{"layer":"layer4","units":[2,1]}}`); err != nil {
			t.Fatalf("same units in another order: %v", err)
		}
		if _, err := applyRaw(p, `{"t":"stroke","seq":3,"stroke":7,"mode":"add","radius":2,"points":[[20,9]],"custom":{"layer":"layer4","units":[1,3]}}`); err == nil {
			t.Error("a continued stroke changed its units")
		}
		if _, err := applyRaw(p, `{"t":"stroke","seq":4,"stroke":7,"mode":"add","units":2,"radius":2,"points":[[20,9]],"concept":"tree"}`); err == nil {
			t.Error("a continued custom stroke became a concept stroke")
		}
		if len(p.edits()) != 1 || len(p.edits()[0].Points) != 2 {
			t.Errorf("%d edits", len(p.edits()))
		}
	})
}

// TestCustomShareTokenChecks: a token's custom edits are checked against
// the model like live ones.
func TestCustomShareTokenChecks(t *testing.T) {
	s := testServer(t, Config{MaxUnits: 4})
	stroke := func(cb *painting.CustomBrush) painting.Edit {
		return painting.Edit{Custom: cb, Radius: 2, Points: []painting.Point{{X: 3, Y: 3}}}
	}
	for _, tc := range []struct {
		name  string
		layer string
		edit  painting.Edit
		ok    bool
	}{
		{"good", "layer4", stroke(&painting.CustomBrush{Layer: "layer4", Units: []int{0, 31}}), true},
		{"later layer", "layer2", stroke(&painting.CustomBrush{Layer: "layer4", Units: []int{5}}), true},
		{"earlier layer", "layer4", stroke(&painting.CustomBrush{Layer: "layer2", Units: []int{5}}), false},
		{"unknown layer", "layer4", stroke(&painting.CustomBrush{Layer: "layer1", Units: []int{5}}), false},
		{"unit out of range", "layer4", stroke(&painting.CustomBrush{Layer: "layer4", Units: []int{32}}), false},
		{"too many units", "layer4", stroke(&painting.CustomBrush{Layer: "layer4", Units: []int{1, 2, 3, 4, 5}}), false},
		{"add everywhere", "layer4", painting.Edit{Custom: &painting.CustomBrush{Layer: "layer4", Units: []int{1}}, Everywhere: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := painting.EncodeState(painting.State{Model: "fake64", Layer: tc.layer, ID: 5, Edits: []painting.Edit{tc.edit}})
			if err != nil {
				t.Fatal(err)
			}
			_, perr := s.def.decodeShare(tok)
			if (perr == nil) != tc.ok {
				t.Errorf("decodeShare = %v, want ok %v", perr, tc.ok)
			}
			if perr != nil && perr.Code != codeBadState {
				t.Errorf("code %s, want %s", perr.Code, codeBadState)
			}
		})
	}
}

// TestCustomBrushSteps: a custom brush paints at the IoU brushes'
// uncalibrated steps (low, medium, high); a message without a strength gets
// the default step, strength 1 as before steps existed, and the step goes
// into the edit list and the share token, whose edits render the same
// strength. A token without a step (made before custom brushes had steps)
// still paints at strength 1.
func TestCustomBrushSteps(t *testing.T) {
	s := testServer(t, Config{})
	for _, tc := range []struct {
		name, mode, strength string // strength "" = none in the message
		step                 string
		want                 float32
	}{
		{"add default", "add", "", "medium", 1},
		{"add low", "add", "low", "low", 0.5},
		{"add medium", "add", "medium", "medium", 1},
		{"add high", "add", "high", "high", 2},
		{"remove default", "remove", "", "high", 1},
		{"remove low", "remove", "low", "low", 0.5},
		{"remove medium", "remove", "medium", "medium", 0.75},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := customStroke("layer4", []int{3, 1}, tc.mode, 2, [2]float64{4, 4})
			msg["seq"] = 1
			if tc.strength != "" {
				msg["strength"] = tc.strength
			}
			raw, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			p := s.def.defaultPainter()
			if _, err := applyRaw(p, string(raw)); err != nil {
				t.Fatal(err)
			}
			e := p.edits()[0]
			if e.Step != tc.step || e.engine().Strength != tc.want || e.Summary().Strength != tc.step {
				t.Fatalf("step %q strength %v (summary %q), want %q at %v", e.Step, e.engine().Strength, e.Summary().Strength, tc.step, tc.want)
			}
			st := shareOf(s.def.info.Name, p.layer, p.id, p.edits(), false)
			tok, err := painting.EncodeState(st)
			if err != nil {
				t.Fatal(err)
			}
			q, perr := s.def.decodeShare(tok)
			if perr != nil {
				t.Fatal(perr)
			}
			if got := q.edits()[0]; got.Step != tc.step || got.engine().Strength != tc.want {
				t.Errorf("from the token: step %q strength %v", got.Step, got.engine().Strength)
			}
		})
	}
	t.Run("token without a step", func(t *testing.T) {
		for _, remove := range []bool{false, true} {
			e := painting.Edit{Custom: &painting.CustomBrush{Layer: "layer4", Units: []int{2}}, Radius: 2, Points: []painting.Point{{X: 3, Y: 3}}}
			if remove {
				e.Mode = painting.Remove
			}
			tok, err := painting.EncodeState(painting.State{Model: s.def.info.Name, Layer: "layer4", ID: 5, Edits: []painting.Edit{e}})
			if err != nil {
				t.Fatal(err)
			}
			p, perr := s.def.decodeShare(tok)
			if perr != nil {
				t.Fatal(perr)
			}
			if got := p.edits()[0]; got.Step != "" || got.engine().Strength != 1 {
				t.Errorf("remove %v: step %q strength %v, want strength 1", remove, got.Step, got.engine().Strength)
			}
		}
	})
}
