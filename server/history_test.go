package server

import (
	"bytes"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// pngClient dials a session that sends PNG frames, so images can be compared
// byte for byte.
func pngClient(t *testing.T, addr, query string) (*client, *frame) {
	t.Helper()
	c := dial(t, addr, query)
	c.hello()
	c.send(map[string]any{"t": "format", "format": "png"})
	f, _ := c.frame()
	return c, f
}

func TestLoadIsUndoable(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c, _ := pngClient(t, addr, "")
	painted, _ := c.frameSeq(c.sendSeq(stroke("tree", "add", 5, 3, [2]float64{5, 5})))
	loaded, st := c.frameSeq(c.sendSeq(map[string]any{"t": "load", "id": 42, "layer": "layer2"}))
	if st["id"].(float64) != 42 || st["edits"].(float64) != 0 || st["can_undo"] != true {
		t.Fatalf("state after load = %v", st)
	}
	back, st := c.frameSeq(c.sendSeq(map[string]any{"t": "undo"}))
	if st["id"].(float64) != 5 || st["layer"] != "layer4" || st["edits"].(float64) != 1 || st["can_redo"] != true {
		t.Errorf("state after undoing the load = %v, want image 5 at layer4 with its edit", st)
	}
	if !bytes.Equal(back.image, painted.image) {
		t.Error("undoing the load did not bring back the painted image")
	}
	again, st := c.frameSeq(c.sendSeq(map[string]any{"t": "redo"}))
	if st["id"].(float64) != 42 || !bytes.Equal(again.image, loaded.image) {
		t.Errorf("redo after undoing a load = %v", st)
	}
	// A stroke now goes to image 42 at layer2, whose grid is 4×4.
	_, st = c.frameSeq(c.sendSeq(stroke("tree", "add", 2, 3, [2]float64{5, 5})))
	if list := st["edit_list"].([]any); len(list) != 1 || len(list[0].(map[string]any)["cells"].(string)) != 4 {
		t.Errorf("edit list after a stroke at layer2 = %v", st["edit_list"])
	}
}

func TestOpenToken(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c, _ := pngClient(t, addr, "")
	painted, st := c.frameSeq(c.sendSeq(stroke("sky", "remove", 2, 4, [2]float64{30, 30}, [2]float64{40, 30})))
	tok := st["state"].(string)
	c.frameSeq(c.sendSeq(map[string]any{"t": "load", "id": 9}))

	tests := []struct {
		name  string
		state any
		code  string
	}{
		{"garbage", "garbage!", codeBadState},
		{"other model", mustToken(t, painting.State{Model: "other", Layer: "layer4", ID: 1}), codeUnknownModel},
		{"empty", "", codeBadMessage},
		{"missing", nil, codeBadMessage},
		{"not a string", 12, codeBadMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := map[string]any{"t": "open"}
			if tc.state != nil {
				msg["state"] = tc.state
			}
			c.sendSeq(msg)
			if e := c.errorFrame(); e["code"] != tc.code {
				t.Errorf("open %v: %v, want %s", tc.state, e, tc.code)
			}
		})
	}
	f, st := c.frameSeq(c.sendSeq(map[string]any{"t": "open", "state": tok}))
	if st["id"].(float64) != 5 || st["edits"].(float64) != 1 || st["state"] != tok || st["can_undo"] != true {
		t.Errorf("state after open = %v", st)
	}
	if !bytes.Equal(f.image, painted.image) {
		t.Error("open did not reproduce the painted image")
	}
	if _, st := c.frameSeq(c.sendSeq(map[string]any{"t": "undo"})); st["id"].(float64) != 9 {
		t.Errorf("undoing open = %v, want image 9 again", st)
	}
}

func mustToken(t *testing.T, st painting.State) string {
	t.Helper()
	tok, err := painting.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDeleteEdit(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	strokes := []map[string]any{
		stroke("tree", "add", 5, 2, [2]float64{4, 4}),
		stroke("door", "add", 2, 2, [2]float64{30, 30}),
		stroke("sky", "remove", 1, 2, [2]float64{60, 60}),
	}
	c, _ := pngClient(t, addr, "")
	var all *frame
	for _, m := range strokes {
		all, _ = c.frameSeq(c.sendSeq(m))
	}
	// The same image painted without the middle stroke.
	want, _ := pngClient(t, addr, "")
	want.sendSeq(strokes[0])
	without, _ := want.frameSeq(want.sendSeq(strokes[2]))

	f, st := c.frameSeq(c.sendSeq(map[string]any{"t": "delete", "edit": 1}))
	if st["edits"].(float64) != 2 || !bytes.Equal(f.image, without.image) {
		t.Errorf("after deleting edit 1: %v edits, image equal to one painted without it: %v", st["edits"], bytes.Equal(f.image, without.image))
	}
	list := st["edit_list"].([]any)
	if got := list[1].(map[string]any); got["concept"] != "sky" || got["mode"] != "remove" {
		t.Errorf("edit 1 after the delete = %v, want the sky removal", got)
	}
	if f, _ := c.frameSeq(c.sendSeq(map[string]any{"t": "undo"})); !bytes.Equal(f.image, all.image) {
		t.Error("undo did not bring the deleted edit back")
	}
	for _, bad := range []any{3, -1, 1.5, "1", nil} {
		msg := map[string]any{"t": "delete"}
		if bad != nil {
			msg["edit"] = bad
		}
		c.sendSeq(msg)
		if e := c.errorFrame(); e["code"] != codeOutOfRange && e["code"] != codeBadMessage {
			t.Errorf("delete %v: %v", bad, e)
		}
	}
}

func TestStateCarriesEditListAndOriginal(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c, orig := pngClient(t, addr, "")
	// Radius 2 at (12, 12) in a 64 px image on an 8×8 grid: pixels 10..14
	// lie in cells (1,1) only.
	c.sendSeq(stroke("tree", "add", 5, 2, [2]float64{12, 12}))
	_, st := c.frameSeq(c.sendSeq(map[string]any{"t": "erase_all", "concept": "door", "units": 2}))
	list := st["edit_list"].([]any)
	if len(list) != 2 {
		t.Fatalf("edit_list = %v", list)
	}
	first := list[0].(map[string]any)
	// Cell 9 (row 1, column 1) is the second bit of the third hex digit.
	if first["concept"] != "tree" || first["mode"] != "add" || first["units"].(float64) != 5 || first["cells"] != "0040000000000000" {
		t.Errorf("stroke summary = %v", first)
	}
	second := list[1].(map[string]any)
	if second["everywhere"] != true || second["cells"] != "ffffffffffffffff" || second["mode"] != "remove" {
		t.Errorf("erase_all summary = %v", second)
	}
	// The original token reproduces the image before any edit.
	o := dial(t, addr, "?state="+st["original"].(string))
	o.hello()
	o.send(map[string]any{"t": "format", "format": "png"})
	if f, ost := o.frame(); !bytes.Equal(f.image, orig.image) || ost["edits"].(float64) != 0 {
		t.Errorf("original token shows %v edits / a different image", ost["edits"])
	}
}

func TestCellHex(t *testing.T) {
	tests := []struct {
		mask []float32
		want string
	}{
		{nil, ""},
		{[]float32{1}, "8"},
		{[]float32{0, 1, 0, 1}, "5"},
		{[]float32{1, 0, 0, 0, 0, 0, 0, 1, 1}, "818"},
		{make([]float32, 16), "0000"},
	}
	for _, tc := range tests {
		if got := cellHex(tc.mask); got != tc.want {
			t.Errorf("cellHex(%v) = %q, want %q", tc.mask, got, tc.want)
		}
	}
}
