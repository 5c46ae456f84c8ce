package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHelloAndFirstFrame(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	hello, f := c.hello()
	if hello["protocol"].(float64) != ProtocolVersion || hello["default_layer"] != "layer4" {
		t.Errorf("hello = %v", hello)
	}
	layers := hello["layers"].([]any)
	if len(layers) != 2 {
		t.Fatalf("paintable layers = %v, want layer2 and layer4 (layer1 has no concepts)", layers)
	}
	l4 := layers[1].(map[string]any)
	if l4["name"] != "layer4" || l4["width"].(float64) != 8 || l4["concepts"].(map[string]any)["door"].(float64) != 3 {
		t.Errorf("layer4 = %v", l4)
	}
	if n := len(hello["concepts"].([]any)); n != 4 {
		t.Errorf("%d concepts, want 4", n)
	}
	if f.seq != 0 || f.format != formatJPEG {
		t.Errorf("first frame seq %d format %d, want 0 and JPEG", f.seq, f.format)
	}
	img, err := jpeg.Decode(bytes.NewReader(f.image))
	if err != nil {
		t.Fatalf("first frame is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Errorf("image %v, want 64×64", b)
	}
	st := c.text[len(c.text)-1]
	if st["id"].(float64) != 5 || st["layer"] != "layer4" || st["can_undo"] != false || st["edits"].(float64) != 0 {
		t.Errorf("initial state = %v, want first sample id 5 at layer4", st)
	}
}

func TestStrokeUndoRedoRestoresBytes(t *testing.T) {
	cnt := &counters{}
	_, addr := startServer(t, Config{}, testDeps(detEngine(cnt, 0)))
	c := dial(t, addr, "")
	c.hello()
	c.send(map[string]any{"t": "format", "format": "png"})
	orig, _ := c.frame()
	if orig.format != formatPNG || orig.seq != 0 {
		t.Fatalf("after format: format %d seq %d", orig.format, orig.seq)
	}

	s1 := c.sendSeq(stroke("tree", "add", 15, 4, [2]float64{10, 10}, [2]float64{30.4, 12}))
	painted, st := c.frameSeq(s1)
	if bytes.Equal(painted.image, orig.image) {
		t.Fatal("stroke did not change the image")
	}
	if st["can_undo"] != true || st["edits"].(float64) != 1 {
		t.Errorf("state after stroke = %v", st)
	}
	checkPaintedRegion(t, orig.image, painted.image, image.Rect(0, 0, 40, 24))

	s2 := c.sendSeq(map[string]any{"t": "undo"})
	undone, st := c.frameSeq(s2)
	if !bytes.Equal(undone.image, orig.image) {
		t.Error("undo did not restore the original bytes")
	}
	if st["can_undo"] != false || st["can_redo"] != true {
		t.Errorf("state after undo = %v", st)
	}
	s3 := c.sendSeq(map[string]any{"t": "redo"})
	redone, _ := c.frameSeq(s3)
	if !bytes.Equal(redone.image, painted.image) {
		t.Error("redo did not restore the painted bytes")
	}
	s4 := c.sendSeq(map[string]any{"t": "reset"})
	reset, st := c.frameSeq(s4)
	if !bytes.Equal(reset.image, orig.image) || st["can_undo"] != true {
		t.Errorf("reset: same bytes %v, state %v", bytes.Equal(reset.image, orig.image), st)
	}
	s5 := c.sendSeq(map[string]any{"t": "undo"})
	if f, _ := c.frameSeq(s5); !bytes.Equal(f.image, painted.image) {
		t.Error("undoing reset did not bring the stroke back")
	}
	if feats, _ := cnt.get(); feats != 1 {
		t.Errorf("generator head ran %d times for one image, want 1", feats)
	}
}

// checkPaintedRegion asserts that pixels changed only inside want.
func checkPaintedRegion(t *testing.T, before, after []byte, want image.Rectangle) {
	t.Helper()
	a, err := png.Decode(bytes.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	b, err := png.Decode(bytes.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	changedIn := 0
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			if a.At(x, y) != b.At(x, y) {
				if !(image.Point{x, y}.In(want)) {
					t.Fatalf("pixel (%d,%d) changed outside %v", x, y, want)
				}
				changedIn++
			}
		}
	}
	if changedIn == 0 {
		t.Fatal("nothing changed")
	}
}

func TestLoadAndEraseAll(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	c.sendSeq(stroke("tree", "add", 5, 3, [2]float64{5, 5}))
	s := c.sendSeq(map[string]any{"t": "load", "id": 42, "layer": "layer2"})
	_, st := c.frameSeq(s)
	// The image before the load stays one undo step away.
	if st["id"].(float64) != 42 || st["layer"] != "layer2" || st["edits"].(float64) != 0 || st["can_undo"] != true {
		t.Errorf("state after load = %v", st)
	}
	// sky is not ranked at layer2.
	c.sendSeq(map[string]any{"t": "erase_all", "concept": "sky", "units": 3})
	if e := c.errorFrame(); e["code"] != codeUnknownConcept {
		t.Errorf("erase sky at layer2: %v", e)
	}
	s = c.sendSeq(map[string]any{"t": "erase_all", "concept": "tree", "units": 4})
	f, st := c.frameSeq(s)
	if st["edits"].(float64) != 1 {
		t.Errorf("state after erase_all = %v", st)
	}
	img, err := jpeg.Decode(bytes.NewReader(f.image))
	if err != nil {
		t.Fatal(err)
	}
	// The fake paints removed cells black; JPEG keeps that near 0.
	for _, p := range []image.Point{{0, 0}, {63, 63}, {32, 10}} {
		if r, g, b, _ := img.At(p.X, p.Y).RGBA(); r > 0x1000 || g > 0x1000 || b > 0x1000 {
			t.Errorf("pixel %v not removed everywhere: %v %v %v", p, r, g, b)
		}
	}
}

func TestStrokeContinuationIsOneUndoStep(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	c.send(map[string]any{"t": "format", "format": "png"})
	orig, _ := c.frame()

	part := func(pts ...[2]float64) map[string]any {
		m := stroke("sky", "add", 5, 2, pts...)
		m["stroke"] = 9
		return m
	}
	c.sendSeq(part([2]float64{2, 2}, [2]float64{10, 2}))
	s := c.sendSeq(part([2]float64{10, 40}))
	parts, st := c.frameSeq(s)
	if st["edits"].(float64) != 1 {
		t.Fatalf("continued stroke made %v edits, want 1", st["edits"])
	}
	// Changing the radius mid-stroke is refused.
	bad := part([2]float64{11, 41})
	bad["radius"] = 3
	c.sendSeq(bad)
	if e := c.errorFrame(); e["code"] != codeBadMessage {
		t.Errorf("mismatched continuation: %v", e)
	}

	// The same polyline sent at once in a fresh session gives the same image.
	c2 := dial(t, addr, "")
	c2.hello()
	c2.send(map[string]any{"t": "format", "format": "png"})
	c2.frame()
	s2 := c2.sendSeq(stroke("sky", "add", 5, 2, [2]float64{2, 2}, [2]float64{10, 2}, [2]float64{10, 40}))
	whole, _ := c2.frameSeq(s2)
	if !bytes.Equal(parts.image, whole.image) {
		t.Error("stroke sent in parts differs from the same stroke sent at once")
	}

	s = c.sendSeq(map[string]any{"t": "undo"})
	if f, _ := c.frameSeq(s); !bytes.Equal(f.image, orig.image) {
		t.Error("one undo did not remove the whole continued stroke")
	}
}

func TestCoalescingUnderFlood(t *testing.T) {
	cnt := &counters{}
	_, addr := startServer(t, Config{}, testDeps(detEngine(cnt, 15*time.Millisecond)))
	c := dial(t, addr, "")
	c.hello()
	c.send(map[string]any{"t": "format", "format": "png"})
	c.frame()
	const n = 100
	for i := 0; i < n; i++ {
		x := float64(i % 64)
		c.sendSeq(stroke("tree", "add", 1+i%20, 2, [2]float64{x, 5}, [2]float64{x, 50}))
	}
	last, prev := uint32(0), uint32(0)
	frames := 0
	var final *frame
	var finalState map[string]any
	for last != n {
		f, st := c.frame()
		final, finalState = f, st
		frames++
		if f.seq < prev {
			t.Fatalf("frame seq went back from %d to %d", prev, f.seq)
		}
		prev, last = f.seq, f.seq
	}
	if frames >= n/2 {
		t.Errorf("%d frames for %d strokes: renders were not coalesced", frames, n)
	}
	for _, m := range c.text {
		if m["t"] == "error" {
			t.Errorf("unexpected error during flood: %v", m)
		}
	}
	// The final frame is the image of the final state, rendered afresh.
	if finalState["edits"].(float64) != n {
		t.Errorf("final state has %v edits, want %d", finalState["edits"], n)
	}
	_, body := httpGet(t, "http://"+addr+"/render.png?state="+finalState["state"].(string), nil)
	if !bytes.Equal(body, final.image) {
		t.Error("last frame is not the image of the latest state")
	}
	_, renders := cnt.get()
	t.Logf("%d strokes → %d frames, %d renders", n, frames, renders)
}

func TestBadInputKeepsConnectionUsable(t *testing.T) {
	cfg := Config{MaxPoints: 8, MaxStrokePoints: 16, MaxEdits: 3}
	_, addr := startServer(t, cfg, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	other := dial(t, addr, "")
	other.hello()

	many := make([][2]float64, 9)
	tests := []struct {
		name string
		raw  string
		msg  map[string]any
		typ  int
		code string
	}{
		{name: "malformed JSON", raw: `{"t":"stroke",`, code: codeBadJSON},
		{name: "not an object", raw: `[1,2,3]`, code: codeBadJSON},
		{name: "wrong type", raw: `{"t":"stroke","seq":"x"}`, code: codeBadMessage},
		{name: "unknown type", msg: map[string]any{"t": "paint"}, code: codeBadMessage},
		{name: "binary frame", raw: "\x00\x01", typ: websocket.BinaryMessage, code: codeBadMessage},
		{name: "missing seq", raw: `{"t":"undo"}`, code: codeBadSeq},
		{name: "fractional seq", raw: `{"t":"undo","seq":1000.5}`, code: codeBadSeq},
		{name: "old seq", raw: `{"t":"reset","seq":1}`, code: codeBadSeq},
		{name: "unknown concept", msg: stroke("trees", "add", 4, 3, [2]float64{1, 1}), code: codeUnknownConcept},
		{name: "concept not at layer", msg: stroke("brick", "add", 4, 3, [2]float64{1, 1}), code: codeUnknownConcept},
		{name: "x out of range", msg: stroke("tree", "add", 4, 3, [2]float64{64, 1}), code: codeOutOfRange},
		{name: "y negative", msg: stroke("tree", "add", 4, 3, [2]float64{1, -0.6}), code: codeOutOfRange},
		{name: "huge coordinate", msg: stroke("tree", "add", 4, 3, [2]float64{1e300, 1}), code: codeOutOfRange},
		{name: "units beyond ranking", msg: stroke("door", "add", 4, 3, [2]float64{1, 1}), code: codeOutOfRange},
		{name: "units zero", msg: stroke("tree", "add", 0, 3, [2]float64{1, 1}), code: codeOutOfRange},
		{name: "fractional units", raw: `{"t":"stroke","seq":SEQ,"concept":"tree","mode":"add","units":2.5,"radius":2,"points":[[1,2]]}`, code: codeBadMessage},
		{name: "radius too big", msg: stroke("tree", "add", 4, 33, [2]float64{1, 1}), code: codeOutOfRange},
		{name: "bad mode", msg: stroke("tree", "paint", 4, 3, [2]float64{1, 1}), code: codeBadMessage},
		{name: "no points", msg: stroke("tree", "add", 4, 3), code: codeBadMessage},
		{name: "point with 3 numbers", raw: `{"t":"stroke","seq":SEQ,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[1,2,3]]}`, code: codeBadMessage},
		{name: "too many points", msg: stroke("tree", "add", 4, 3, many...), code: codeTooBig},
		{name: "bad format", msg: map[string]any{"t": "format", "format": "gif"}, code: codeBadMessage},
		{name: "load bad id", msg: map[string]any{"t": "load", "id": 1000}, code: codeOutOfRange},
		{name: "load bad layer", msg: map[string]any{"t": "load", "id": 1, "layer": "layer1"}, code: codeUnknownLayer},
		{name: "nothing to redo", msg: map[string]any{"t": "redo"}, code: codeNothingRedo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			switch {
			case tc.msg != nil:
				if tc.msg["t"] != "format" {
					c.sendSeq(tc.msg)
				} else {
					c.send(tc.msg)
				}
			case tc.typ != 0:
				c.sendRaw(tc.typ, []byte(tc.raw))
			case strings.Contains(tc.raw, "SEQ"):
				c.seq++
				c.sendRaw(websocket.TextMessage, []byte(strings.Replace(tc.raw, "SEQ", fmt.Sprint(c.seq), 1)))
			default:
				c.sendRaw(websocket.TextMessage, []byte(tc.raw))
			}
			e := c.errorFrame()
			if e["code"] != tc.code {
				t.Errorf("code %v (%v), want %s", e["code"], e["message"], tc.code)
			}
			if msg, _ := e["message"].(string); msg == "" || len(msg) > 200 {
				t.Errorf("message %q should be short and present", msg)
			}
			// The connection still works.
			c.seq = max(c.seq, 2000)
			s := c.sendSeq(map[string]any{"t": "reset"})
			c.frameSeq(s)
		})
	}
	c.t = t

	// Edit limit: MaxEdits is 3.
	for i := 0; i < 3; i++ {
		c.sendSeq(stroke("tree", "add", 1, 1, [2]float64{float64(i), 0}))
	}
	c.sendSeq(stroke("tree", "add", 1, 1, [2]float64{9, 9}))
	if e := c.errorFrame(); e["code"] != codeTooBig {
		t.Errorf("fourth edit: %v, want too_big", e)
	}

	// The other client never saw any of it.
	s := other.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20}))
	other.frameSeq(s)
	for _, m := range other.text {
		if m["t"] == "error" {
			t.Errorf("other client got %v", m)
		}
	}
}

func TestHugeMessageClosesOnlyThatConnection(t *testing.T) {
	_, addr := startServer(t, Config{ReadLimit: 4096}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	other := dial(t, addr, "")
	other.hello()
	c.sendRaw(websocket.TextMessage, []byte(`{"t":"undo","pad":"`+strings.Repeat("x", 5000)+`"}`))
	if ce := c.closeCode(); ce.Code != websocket.CloseMessageTooBig {
		t.Errorf("close code %d, want %d", ce.Code, websocket.CloseMessageTooBig)
	}
	s := other.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20}))
	other.frameSeq(s)
}

// TestRateLimit checks that a client over its rate is paced, not dropped:
// every message is applied, and the client is told once to slow down.
func TestRateLimit(t *testing.T) {
	_, addr := startServer(t, Config{MessagesPerSecond: 50, MessageBurst: 5}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	var last uint32
	for i := 0; i < 30; i++ {
		last = c.sendSeq(stroke("tree", "add", 1, 1, [2]float64{float64(i), 3}))
	}
	c.frameSeq(last)
	limited := 0
	for _, m := range c.text {
		if m["t"] == "error" {
			if m["code"] != codeRateLimited || m["seq"].(float64) != 0 {
				t.Errorf("unexpected error %v", m)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Error("no rate_limited notice for 30 messages with a burst of 5")
	}
}

// TestEveryFrameTypeTakesTokens: binary frames and pings cost tokens too.
func TestEveryFrameTypeTakesTokens(t *testing.T) {
	tests := []struct {
		name string
		send func(c *client)
	}{
		{"binary", func(c *client) { c.sendRaw(websocket.BinaryMessage, []byte{1, 2, 3}) }},
		{"ping", func(c *client) {
			if err := c.c.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(time.Second)); err != nil {
				c.t.Fatal(err)
			}
		}},
		{"pong", func(c *client) {
			if err := c.c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second)); err != nil {
				c.t.Fatal(err)
			}
		}},
		{"bad json", func(c *client) { c.sendRaw(websocket.TextMessage, []byte("{")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, Config{MessagesPerSecond: 2, MessageBurst: 3}, testDeps(detEngine(nil, 0)))
			c := dial(t, addr, "")
			c.hello()
			for i := 0; i < 6; i++ {
				tc.send(c)
			}
			for {
				e := c.errorFrame()
				if e["code"] == codeRateLimited {
					return
				}
				if e["code"] != codeBadMessage && e["code"] != codeBadJSON {
					t.Fatalf("unexpected error %v", e)
				}
			}
		})
	}
}

func TestSessionLimit(t *testing.T) {
	srv, addr := startServer(t, Config{MaxSessions: 1}, testDeps(detEngine(nil, 0)))
	first := dial(t, addr, "")
	first.hello()
	second := dial(t, addr, "")
	ce := second.closeCode()
	if ce.Code != websocket.CloseTryAgainLater || ce.Text != "server full" {
		t.Errorf("second client closed with %d %q, want 1013 server full", ce.Code, ce.Text)
	}
	first.c.Close()
	// The slot frees once the server notices the first client left.
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.sessions)
		srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session slot never released")
		}
		time.Sleep(10 * time.Millisecond)
	}
	third := dial(t, addr, "")
	third.hello()
}

func TestOriginCheck(t *testing.T) {
	_, addr := startServer(t, Config{AllowedOrigins: []string{"https://course.example.edu"}}, testDeps(detEngine(nil, 0)))
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + addr, true},
		{"https://course.example.edu", true},
		{"https://COURSE.example.edu/", true},
		{"https://evil.example.com", false},
		{"http://" + addr + ".evil.example.com", false},
		{"null", false},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", h)
			if tc.ok {
				if err != nil {
					t.Fatalf("dial refused: %v", err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("foreign origin accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("response %v, want 403", resp)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	_, addr := startServer(t, Config{IdleTimeout: 150 * time.Millisecond}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	if ce := c.closeCode(); ce.Code != closeIdle {
		t.Errorf("close code %d, want %d", ce.Code, closeIdle)
	}
}

func TestShutdownClosesSessions(t *testing.T) {
	srv, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	go srv.Close()
	if ce := c.closeCode(); ce.Code != websocket.CloseGoingAway {
		t.Errorf("close code %d, want 1001", ce.Code)
	}
}

func TestShareTokenReconnect(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	c.sendSeq(map[string]any{"t": "load", "id": 77})
	c.sendSeq(stroke("tree", "add", 10, 5, [2]float64{3, 3}, [2]float64{40, 20}, [2]float64{50, 60}))
	s := c.sendSeq(map[string]any{"t": "erase_all", "concept": "sky", "units": 4})
	f, st := c.frameSeq(s)
	tok := st["state"].(string)

	r := dial(t, addr, "?state="+tok)
	_, f2 := r.hello()
	st2 := r.text[len(r.text)-1]
	if !bytes.Equal(f.image, f2.image) || st2["state"] != tok || st2["id"].(float64) != 77 || st2["edits"].(float64) != 2 {
		t.Errorf("reconnect: same image %v, state %v", bytes.Equal(f.image, f2.image), st2)
	}

	bad := dial(t, addr, "?state=AAAA")
	if m, _ := bad.next(); m["t"] != "hello" {
		t.Fatalf("first message %v", m)
	}
	if e := bad.errorFrame(); e["code"] != codeBadState {
		t.Errorf("bad token: %v", e)
	}
	fb, _ := bad.frame()
	if fb.seq != 0 {
		t.Errorf("bad-token session frame seq %d", fb.seq)
	}
}

func TestBusyIsRetried(t *testing.T) {
	var fails atomic.Int32
	fails.Store(3)
	eng := detEngine(nil, 0)
	inner := eng.render
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		if len(edits) > 0 && fails.Add(-1) >= 0 {
			return nil, fmt.Errorf("queue full: %w", ErrBusy)
		}
		return inner(ctx, f, edits)
	}
	_, addr := startServer(t, Config{BusyBackoff: 5 * time.Millisecond}, testDeps(eng))
	c := dial(t, addr, "")
	c.hello()
	s := c.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20}))
	_, st := c.frameSeq(s)
	if st["edits"].(float64) != 1 {
		t.Errorf("state %v", st)
	}
	busy := 0
	for _, m := range c.text {
		if m["t"] == "error" {
			if m["code"] != codeBusy {
				t.Errorf("error %v", m)
			}
			busy++
		}
	}
	if busy != 1 {
		t.Errorf("%d busy errors for one busy streak, want 1", busy)
	}
}

func TestRenderErrorLoggedOnce(t *testing.T) {
	var logs syncBuffer
	eng := detEngine(nil, 0)
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		if len(edits) > 0 {
			return nil, errors.New("onnx: kaboom at node 17")
		}
		return detRender(testModel(), f.(fakeFeatures), edits)
	}
	cfg := Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	_, addr := startServer(t, cfg, testDeps(eng))
	c := dial(t, addr, "")
	c.hello()
	c.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20}))
	e := c.errorFrame()
	if e["code"] != codeInternal || strings.Contains(e["message"].(string), "kaboom") {
		t.Errorf("user got %v; want code internal without internal details", e)
	}
	// The connection still works after the failure.
	s := c.sendSeq(map[string]any{"t": "undo"})
	c.frameSeq(s)
	if n := logs.count("kaboom"); n != 1 {
		t.Errorf("error logged %d times, want once:\n%s", n, logs.b.String())
	}
}

// TestConcurrentClients runs eight painting sessions at once and checks
// that each ends with exactly the state and the image it gets when it
// paints alone: no stroke of one session reaches another's.
func TestConcurrentClients(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, time.Millisecond)))
	const clients, strokes = 8, 20
	type result struct {
		state string
		frame []byte
		err   error
	}
	paint := func(i int) (r result) {
		conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
		if err != nil {
			return result{err: err}
		}
		defer conn.Close()
		if err := conn.WriteJSON(map[string]any{"t": "format", "format": "png"}); err != nil {
			return result{err: err}
		}
		for s := 1; s <= strokes; s++ {
			msg := stroke("tree", "add", 1+s%10, 2, [2]float64{float64(s), float64(8 * i)})
			msg["seq"] = s
			if err := conn.WriteJSON(msg); err != nil {
				return result{err: err}
			}
		}
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			typ, data, err := conn.ReadMessage()
			if err != nil {
				return result{err: err}
			}
			if typ == websocket.TextMessage {
				var m struct {
					T     string `json:"t"`
					Seq   int    `json:"seq"`
					State string `json:"state"`
				}
				if err := json.Unmarshal(data, &m); err != nil {
					return result{err: err}
				}
				if m.T == "state" && m.Seq == strokes {
					r.state = m.State
				}
				continue
			}
			if binary.BigEndian.Uint32(data[8:12]) == strokes {
				r.frame = data
				return r
			}
		}
	}
	var concurrent [clients]result
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			concurrent[i] = paint(i)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, got := range concurrent {
		if got.err != nil {
			t.Fatalf("client %d: %v", i, got.err)
		}
		alone := paint(i)
		if alone.err != nil {
			t.Fatalf("client %d alone: %v", i, alone.err)
		}
		if got.state == "" || got.state != alone.state {
			t.Errorf("client %d: state %q, alone %q", i, got.state, alone.state)
		}
		if !bytes.Equal(got.frame, alone.frame) {
			t.Errorf("client %d: the last frame differs from the one it gets alone", i)
		}
		if seen[got.state] {
			t.Errorf("client %d: its state equals another client's", i)
		}
		seen[got.state] = true
	}
}

func TestRenderTimeoutContext(t *testing.T) {
	eng := detEngine(nil, 0)
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		if len(edits) > 0 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return detRender(testModel(), f.(fakeFeatures), edits)
	}
	_, addr := startServer(t, Config{RenderTimeout: 50 * time.Millisecond}, testDeps(eng))
	c := dial(t, addr, "")
	c.hello()
	c.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20}))
	if e := c.errorFrame(); e["code"] != codeInternal {
		t.Errorf("timed-out render: %v", e)
	}
}

func TestEnginePanicClosesOnlyThatSession(t *testing.T) {
	eng := detEngine(nil, 0)
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		if len(edits) > 0 && edits[0].Removes() {
			panic("engine bug")
		}
		return detRender(testModel(), f.(fakeFeatures), edits)
	}
	var logs syncBuffer
	_, addr := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, testDeps(eng))
	c := dial(t, addr, "")
	c.hello()
	other := dial(t, addr, "")
	other.hello()
	c.sendSeq(map[string]any{"t": "erase_all", "concept": "tree", "units": 2})
	if ce := c.closeCode(); ce.Code != websocket.CloseInternalServerErr {
		t.Errorf("close code %d, want 1011", ce.Code)
	}
	s := other.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20}))
	other.frameSeq(s)
	if logs.count("engine bug") != 1 {
		t.Errorf("panic not logged once:\n%s", logs.b.String())
	}
}
