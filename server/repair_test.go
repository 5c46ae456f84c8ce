package server

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// fakeArtifacts is an Artifacts of one function field.
type fakeArtifacts struct{ repair func(layer string) []int }

func (f fakeArtifacts) Repair(layer string) []int { return f.repair(layer) }

// repairDeps: layer4 has artifact units 5 and 6; layer2 has none.
func repairDeps() Deps {
	d := testDeps(detEngine(nil, 0))
	d.Artifacts = fakeArtifacts{func(layer string) []int {
		if layer == "layer4" {
			return []int{5, 6}
		}
		return nil
	}}
	return d
}

func TestRepairMessage(t *testing.T) {
	_, addr := startServer(t, Config{}, repairDeps())
	c := dial(t, addr, "")
	hello, _ := c.hello()
	layers := hello["layers"].([]any)
	if l2, l4 := layers[0].(map[string]any), layers[1].(map[string]any); l2["repair"] != nil || l4["repair"].(float64) != 2 {
		t.Fatalf("hello layers: %v / %v, want repair 2 at layer4 only", l2, l4)
	}
	c.send(map[string]any{"t": "format", "format": "png"})
	orig, _ := c.frame()

	s := c.sendSeq(map[string]any{"t": "repair", "on": true})
	repaired, st := c.frameSeq(s)
	if st["repair"] != true || st["edits"].(float64) != 0 || st["can_undo"] != false {
		t.Errorf("state after repair on: %v (a view setting, not an edit)", st)
	}
	// detRender paints removed cells black: repair removes everywhere.
	img, err := png.Decode(bytes.NewReader(repaired.image))
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(40, 50).RGBA(); r|g|b != 0 {
		t.Errorf("repaired image not the fake's 'removed' black: %v", img.At(40, 50))
	}
	// A stroke paints over the repair, and the token carries both.
	s = c.sendSeq(stroke("tree", "add", 3, 2, [2]float64{10, 10}))
	_, st = c.frameSeq(s)
	dec, err := painting.DecodeState(st["state"].(string))
	if err != nil || !dec.Repair || len(dec.Edits) != 1 {
		t.Errorf("token after repair and a stroke: %+v %v", dec, err)
	}
	// The share link renders the same image.
	resp, body := httpGet(t, "http://"+addr+"/render.png?state="+url.QueryEscape(st["state"].(string)), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("render.png: %d", resp.StatusCode)
	}
	live, _ := c.frameSeq(c.sendSeq(map[string]any{"t": "repair", "on": true}))
	if !bytes.Equal(body, live.image) {
		t.Error("render.png of the repaired token differs from the live frame")
	}
	// Off, and undo of the stroke: the original bytes again.
	c.sendSeq(map[string]any{"t": "repair", "on": false})
	back, st := c.frameSeq(c.sendSeq(map[string]any{"t": "undo"}))
	if !bytes.Equal(back.image, orig.image) || st["repair"] != false {
		t.Errorf("repair off + undo: same bytes %v, state %v", bytes.Equal(back.image, orig.image), st)
	}
	// A layer without a ranking refuses it; loading such a layer turns it off.
	c.sendSeq(map[string]any{"t": "repair", "on": true})
	_, st = c.frameSeq(c.sendSeq(map[string]any{"t": "load", "id": 3, "layer": "layer2"}))
	if st["repair"] != false {
		t.Errorf("repair kept on a layer without ranking: %v", st)
	}
	c.sendSeq(map[string]any{"t": "repair", "on": true})
	if e := c.errorFrame(); e["code"] != codeBadMessage || !strings.Contains(e["message"].(string), "no artifact ranking") {
		t.Errorf("repair at layer2: %v", e)
	}
	c.sendSeq(map[string]any{"t": "repair"})
	if e := c.errorFrame(); e["code"] != codeBadMessage {
		t.Errorf("repair without on: %v", e)
	}
}

func TestRepairShareLinks(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger()}, repairDeps())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	bad, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer2", ID: 1, Repair: true})
	if resp, body := httpGet(t, ts.URL+"/render.png?state="+url.QueryEscape(bad), nil); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(string(body), "no artifact ranking") {
		t.Errorf("repair on a layer without ranking: %d %q", resp.StatusCode, body)
	}
	// Without Artifacts the server knows no repair at all.
	plain, _ := New(Config{Logger: quietLogger()}, testDeps(detEngine(nil, 0)))
	ts2 := httptest.NewServer(plain.Handler())
	defer ts2.Close()
	good, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 1, Repair: true})
	if resp, _ := httpGet(t, ts2.URL+"/render.png?state="+url.QueryEscape(good), nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("repair token on a server without artifacts: %d", resp.StatusCode)
	}
	// Bad rankings are refused at start.
	for _, units := range [][]int{{5, 5}, {-1}, {32}} {
		d := testDeps(detEngine(nil, 0))
		d.Artifacts = fakeArtifacts{func(string) []int { return units }}
		if _, err := New(Config{Logger: quietLogger()}, d); err == nil {
			t.Errorf("artifact units %v accepted", units)
		}
	}
}
