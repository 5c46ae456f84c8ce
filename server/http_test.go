package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/painting"
)

func TestRenderPNGEqualsWebsocketFrame(t *testing.T) {
	_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	c := dial(t, addr, "")
	c.hello()
	c.send(map[string]any{"t": "format", "format": "png"})
	first, st0 := c.frame()
	c.sendSeq(stroke("tree", "add", 12, 7, [2]float64{5, 50}, [2]float64{60, 44}))
	s := c.sendSeq(stroke("sky", "remove", 2, 3, [2]float64{33, 3}))
	f, st := c.frameSeq(s)

	for _, tc := range []struct {
		name string
		tok  string
		want []byte
	}{
		{"painted", st["state"].(string), f.image},
		{"initial", st0["state"].(string), first.image},
		{"default without state", "", first.image},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := "http://" + addr + "/render.png"
			if tc.tok != "" {
				u += "?state=" + url.QueryEscape(tc.tok)
			}
			resp, body := httpGet(t, u, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if !bytes.Equal(body, tc.want) {
				t.Error("render.png differs from the websocket frame")
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

func TestRenderPNGErrors(t *testing.T) {
	eng := detEngine(nil, 0)
	var busy atomic.Bool
	eng.features = func(ctx context.Context, layer string, id int64) (Features, error) {
		if busy.Load() {
			return nil, fmt.Errorf("wrapped: %w", ErrBusy)
		}
		return fakeFeatures{layer, id}, nil
	}
	srv, err := New(Config{Logger: quietLogger(), RenderWait: 100 * time.Millisecond, BusyBackoff: 10 * time.Millisecond}, testDeps(eng))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	otherModel, _ := painting.EncodeState(painting.State{Model: "other", Layer: "layer4", ID: 1})
	badLayer, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer1", ID: 1})
	badID, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 1000})
	badPoint, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 1,
		Edits: []painting.Edit{{Concept: "tree", Units: 3, Radius: 2, Points: []painting.Point{{X: 64, Y: 0}}}}})
	badConcept, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 1,
		Edits: []painting.Edit{{Concept: "brick", Units: 3, Radius: 2, Points: []painting.Point{{X: 6, Y: 0}}}}})
	addEverywhere, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 1,
		Edits: []painting.Edit{{Concept: "tree", Units: 3, Everywhere: true}}})
	tooManyUnits, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 1,
		Edits: []painting.Edit{{Concept: "door", Units: 4, Everywhere: true, Mode: painting.Remove}}})
	for _, tc := range []struct {
		name, tok string
	}{
		{"garbage", "not a token"},
		{"other model", otherModel},
		{"layer without concepts", badLayer},
		{"id out of range", badID},
		{"point outside", badPoint},
		{"unranked concept", badConcept},
		{"add everywhere", addEverywhere},
		{"too many units", tooManyUnits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := httpGet(t, ts.URL+"/render.png?state="+url.QueryEscape(tc.tok), nil)
			// A model the server does not have is not found; the rest is
			// a bad request.
			want := http.StatusBadRequest
			if tc.tok == otherModel {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want || len(body) == 0 || len(body) > 200 {
				t.Errorf("status %d body %q, want %d with a short message", resp.StatusCode, body, want)
			}
		})
	}
	busy.Store(true)
	resp, _ := httpGet(t, ts.URL+"/render.png", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("busy: status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestPageHeaders(t *testing.T) {
	cfg := Config{Logger: quietLogger(), FrameAncestors: []string{"https://course.example.edu", "https://lms.example.org/"}}
	srv, err := New(cfg, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	resp, _ := httpGet(t, ts.URL+"/", nil)
	if got := resp.Header.Get("Content-Security-Policy"); got != pageCSP+"frame-ancestors 'none'" {
		t.Errorf("/ CSP %q", got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("/ X-Frame-Options %q", got)
	}
	resp, _ = httpGet(t, ts.URL+"/embed", nil)
	if got := resp.Header.Get("Content-Security-Policy"); got != pageCSP+"frame-ancestors 'self' https://course.example.edu https://lms.example.org" {
		t.Errorf("/embed CSP %q", got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "" {
		t.Errorf("/embed must not send X-Frame-Options, got %q", got)
	}
	for _, p := range []string{"/", "/embed"} {
		resp, _ := httpGet(t, ts.URL+p, nil)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s headers %v", p, resp.Header)
		}
	}

	// Default: embed framable only by the site itself.
	srv2, err := New(Config{Logger: quietLogger()}, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv2.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/embed", nil))
	if got := rec.Header().Get("Content-Security-Policy"); got != pageCSP+"frame-ancestors 'self'" {
		t.Errorf("default /embed CSP %q", got)
	}
}

func pageData(t *testing.T, body []byte) PageData {
	t.Helper()
	s := string(body)
	i := strings.Index(s, `<script type="application/json">`)
	j := strings.LastIndex(s, "</script>")
	if i < 0 || j < 0 {
		t.Fatalf("no page data in %q", s)
	}
	var d PageData
	if err := json.Unmarshal([]byte(s[i+len(`<script type="application/json">`):j]), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPageData(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger(), PublicBaseURL: "https://paint.example.org/"}, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 9,
		Edits: []painting.Edit{{Concept: "tree", Units: 3, Radius: 2, Points: []painting.Point{{X: 6, Y: 0}}}}})
	tests := []struct {
		path      string
		embed     bool
		state     string
		stateErr  bool
		imageURL  string
		painterQS string
	}{
		{"/", false, "", false, "https://paint.example.org/render.png?size=512", ""},
		{"/?state=" + tok, false, tok, false, "https://paint.example.org/render.png?state=" + tok + "&size=512", "?state=" + tok},
		{"/embed?state=" + tok, true, tok, false, "https://paint.example.org/render.png?state=" + tok + "&size=512", "?state=" + tok},
		{"/?state=garbage", false, "", true, "https://paint.example.org/render.png?size=512", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			d := pageData(t, rec.Body.Bytes())
			if d.Embed != tc.embed || d.State != tc.state || (d.StateError != "") != tc.stateErr ||
				d.ImageURL != tc.imageURL || d.PainterURL != "https://paint.example.org/"+tc.painterQS ||
				d.WSPath != "/ws" || d.BaseURL != "https://paint.example.org" || d.Hello.Model.Name != "fake64" ||
				d.ImageWidth != 512 || d.ImageHeight != 512 {
				t.Errorf("page data %+v", d)
			}
			// The 64 px test model is upscaled 8× for link previews; a
			// share link's page knows what was painted.
			var want *Painting
			if tc.state != "" {
				want = &Painting{ID: 9, Layer: "layer4", Edits: []painting.Edit{{Concept: "tree", Units: 3, Radius: 2, Points: []painting.Point{{X: 6, Y: 0}}}}}
			}
			if !reflect.DeepEqual(d.Painting, want) {
				t.Errorf("painting %+v, want %+v", d.Painting, want)
			}
		})
	}

	// Without PublicBaseURL the request's host is used.
	srv2, _ := New(Config{Logger: quietLogger()}, testDeps(detEngine(nil, 0)))
	rec := httptest.NewRecorder()
	srv2.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://paint.local:8080/", nil))
	if d := pageData(t, rec.Body.Bytes()); d.BaseURL != "http://paint.local:8080" {
		t.Errorf("derived base URL %q", d.BaseURL)
	}
}

func TestPageRenderFailure(t *testing.T) {
	deps := testDeps(detEngine(nil, 0))
	deps.Pages = fakePages{
		painter: func(w io.Writer, d PageData) error { return errors.New("template exploded") },
		embed:   func(w io.Writer, d PageData) error { return errors.New("template exploded") },
	}
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "exploded") {
		t.Errorf("status %d body %q", rec.Code, rec.Body.String())
	}
}

func TestAPIModelHealthAndStatic(t *testing.T) {
	deps := testDeps(detEngine(nil, 0))
	deps.Static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "static:"+r.URL.Path)
	})
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	resp, body := httpGet(t, ts.URL+"/api/model", nil)
	var h Hello
	if err := json.Unmarshal(body, &h); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("api/model: %v %q", err, body)
	}
	if h.T != "" || h.Model.Name != "fake64" || h.Image.Width != 64 || len(h.SampleIDs) != 3 || h.Limits.MaxRadius != 32 {
		t.Errorf("api/model = %+v", h)
	}
	if _, body := httpGet(t, ts.URL+"/healthz", nil); string(body) != "ok\n" {
		t.Errorf("healthz %q", body)
	}
	if _, body := httpGet(t, ts.URL+"/static/app.0123.js", nil); string(body) != "static:/static/app.0123.js" {
		t.Errorf("static %q", body)
	}
	if resp, _ := httpGet(t, ts.URL+"/nope", nil); resp.StatusCode != 404 {
		t.Errorf("unknown path status %d", resp.StatusCode)
	}
}

func TestNewRejects(t *testing.T) {
	noConcepts := testConcepts()
	noConcepts.ranked = func(string, string) []int { return nil }
	badUnit := testConcepts()
	badUnit.ranked = func(string, string) []int { return []int{99} }
	dup := testConcepts()
	dup.list = func() []Concept { return []Concept{{"tree", "#000000"}, {"tree", "#111111"}} }
	zeroImage := detEngine(nil, 0)
	zeroImage.model = func() ModelInfo { m := testModel(); m.ImageWidth = 0; return m }
	noIDs := detEngine(nil, 0)
	noIDs.model = func() ModelInfo { m := testModel(); m.MaxID = 0; return m }

	tests := []struct {
		name string
		cfg  Config
		deps Deps
		want error
	}{
		{"no engine", Config{}, Deps{ModelDeps: ModelDeps{Concepts: testConcepts()}, Pages: testPages()}, ErrConfig},
		{"no concepts anywhere", Config{}, Deps{ModelDeps: ModelDeps{Engine: detEngine(nil, 0), Concepts: noConcepts}, Pages: testPages()}, ErrNoConcepts},
		{"unit beyond channels", Config{}, Deps{ModelDeps: ModelDeps{Engine: detEngine(nil, 0), Concepts: badUnit}, Pages: testPages()}, ErrConfig},
		{"duplicate concept", Config{}, Deps{ModelDeps: ModelDeps{Engine: detEngine(nil, 0), Concepts: dup}, Pages: testPages()}, ErrConfig},
		{"zero image", Config{}, testDeps(zeroImage), ErrConfig},
		{"no ids", Config{}, testDeps(noIDs), ErrConfig},
		{"negative sessions", Config{MaxSessions: -1}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"jpeg quality", Config{JPEGQuality: 101}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"bad origin", Config{AllowedOrigins: []string{"course.example.edu"}}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"origin with path", Config{FrameAncestors: []string{"https://a.example/x"}}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"csp injection", Config{FrameAncestors: []string{"https://a.example; script-src *"}}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"base url", Config{PublicBaseURL: "paint.example.org"}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"stroke points below message points", Config{MaxPoints: 100, MaxStrokePoints: 10}, testDeps(detEngine(nil, 0)), ErrConfig},
		{"tiny read limit", Config{ReadLimit: 10}, testDeps(detEngine(nil, 0)), ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = quietLogger()
			_, err := New(tc.cfg, tc.deps)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrConfig) {
				t.Errorf("error %v, want %v wrapping ErrConfig", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger()}, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Config()
	if c.MaxSessions != DefaultMaxSessions || c.MaxRadius != 32 || c.JPEGQuality != DefaultJPEGQuality ||
		c.ReadLimit != DefaultReadLimit || c.IdleTimeout != DefaultIdleTimeout || c.PingPeriod != DefaultPingPeriod {
		t.Errorf("defaults %+v", c)
	}
}

// TestFrameDecodes checks both frame encodings decode to the rendered pixels.
func TestFrameDecodes(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger(), JPEGQuality: 100}, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := detRender(testModel(), fakeFeatures{"layer4", 3}, nil)
	var buf bytes.Buffer
	if err := srv.encodeFrame(&buf, formatPNG, 0xA1B2C3D4, img); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[:4]) != "GPF1" || b[4] != 2 || b[8] != 0xA1 || b[11] != 0xD4 {
		t.Fatalf("header % x", b[:12])
	}
	got, err := png.Decode(bytes.NewReader(b[12:]))
	if err != nil {
		t.Fatal(err)
	}
	if rgba, ok := got.(*image.RGBA); !ok || !bytes.Equal(rgba.Pix, img.Pix) {
		// png may decode opaque RGBA as NRGBA; compare pixel by pixel.
		for y := 0; y < 64; y++ {
			for x := 0; x < 64; x++ {
				r1, g1, b1, _ := got.At(x, y).RGBA()
				r2, g2, b2, _ := img.At(x, y).RGBA()
				if r1 != r2 || g1 != g2 || b1 != b2 {
					t.Fatalf("pixel (%d,%d) differs", x, y)
				}
			}
		}
	}
}

func TestRenderPNGCacheAndBusyRetry(t *testing.T) {
	cnt := &counters{}
	eng := detEngine(cnt, 0)
	var busyLeft atomic.Int32
	inner := eng.render
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		if busyLeft.Add(-1) >= 0 {
			return nil, ErrBusy
		}
		return inner(ctx, f, edits)
	}
	tests := []struct {
		name        string
		cache       int
		busy        int32
		wantRenders int // renders that produced an image, over two identical requests
	}{
		{"cached", 0, 0, 1},
		{"cache disabled", -1, 0, 2},
		{"busy then served", 0, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(Config{Logger: quietLogger(), RenderCache: tc.cache, BusyBackoff: time.Millisecond}, testDeps(eng))
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			busyLeft.Store(tc.busy)
			_, before := cnt.get()
			tok, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 9,
				Edits: []painting.Edit{{Concept: "tree", Units: 3, Radius: 2, Points: []painting.Point{{X: 6, Y: 0}}}}})
			var bodies [2][]byte
			for i := range bodies {
				resp, body := httpGet(t, ts.URL+"/render.png?state="+tok, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d %s", i, resp.StatusCode, body)
				}
				bodies[i] = body
			}
			if !bytes.Equal(bodies[0], bodies[1]) {
				t.Error("the two answers differ")
			}
			_, after := cnt.get()
			if got := after - before; got != tc.wantRenders {
				t.Errorf("%d successful renders, want %d", got, tc.wantRenders)
			}
		})
	}
}

func TestHandlerPanicIs500(t *testing.T) {
	eng := detEngine(nil, 0)
	eng.features = func(ctx context.Context, layer string, id int64) (Features, error) { panic("engine bug") }
	var logs syncBuffer
	srv, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, testDeps(eng))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/render.png", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "engine bug") || logs.count("engine bug") != 1 {
		t.Errorf("status %d body %q, log:\n%s", rec.Code, rec.Body.String(), logs.b.String())
	}
}
