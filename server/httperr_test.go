package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
)

func TestErrorPath(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		err        error
		clientGone bool
		json       bool
		status     int // 0: nothing written
		body       string
		retry      bool
		logged     bool
	}{
		{"client error", httpErr(http.StatusBadRequest, "bad %s", "size"), false, false, 400, "bad size\n", false, false},
		{"client error as JSON", httpErr(http.StatusConflict, "not a removal"), false, true, 409, `{"error":"not a removal"}` + "\n", false, false},
		{"server busy", fmt.Errorf("render: %w", ErrBusy), false, false, 503, "busy, try again\n", true, false},
		{"model busy", fmt.Errorf("x: %w", inference.ErrBusy), false, true, 503, `{"error":"busy, try again"}` + "\n", true, false},
		{"report busy", report.ErrBusy, false, false, 503, "busy, try again\n", true, false},
		{"render timeout", fmt.Errorf("render.png: %w", context.DeadlineExceeded), false, false, 503, "the server took too long, try again\n", true, false},
		{"not found", fmt.Errorf("unit 9: %w", report.ErrNotFound), false, false, 404, "", false, false},
		{"internal", errors.New("onnx: bad tensor"), false, false, 500, "internal error\n", false, true},
		{"internal as JSON", errors.New("onnx: bad tensor"), false, true, 500, `{"error":"internal error"}` + "\n", false, true},
		{"internal with its own message", httpErr(http.StatusInternalServerError, "levels of layer4: broken"), false, true, 500, `{"error":"levels of layer4: broken"}` + "\n", false, true},
		{"client gone", fmt.Errorf("render: %w", context.Canceled), true, false, 0, "", false, false},
		{"panic", &panicError{v: "engine bug", stack: []byte("stack")}, false, false, 500, "internal error\n", false, true},
		{"panic after the client has gone", &panicError{v: "engine bug", stack: []byte("stack")}, true, false, 500, "internal error\n", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			p := errorPath{log: slog.New(slog.NewTextHandler(&logs, nil)), json: tc.json}
			req := httptest.NewRequest("GET", "/x", nil)
			if tc.clientGone {
				req = req.WithContext(gone)
			}
			rec := httptest.NewRecorder()
			p.handle(func(w http.ResponseWriter, r *http.Request) error { return tc.err })(rec, req)
			if tc.status == 0 {
				if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
					t.Errorf("wrote %d %q to a client that has gone", rec.Code, rec.Body.String())
				}
			} else if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body %q, want %q", rec.Body.String(), tc.body)
			}
			if tc.json && tc.status != 0 && rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q on a JSON route", rec.Header().Get("Content-Type"))
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tc.retry {
				t.Errorf("Retry-After set %v, want %v", got, tc.retry)
			}
			if n := logs.count("level=ERROR"); (n == 1) != tc.logged || n > 1 {
				t.Errorf("%d error log lines, want logged=%v:\n%s", n, tc.logged, logs.b.String())
			}
			if strings.Contains(rec.Body.String(), "onnx") {
				t.Errorf("internal detail leaked to the client: %q", rec.Body.String())
			}
		})
	}
}

// A render that outlasts RenderTimeout is the server's load, not a bug: the
// client gets 503 (on the image route and on the JSON routes) and nothing
// is logged as an internal error.
func TestRenderTimeoutIs503(t *testing.T) {
	slow := detEngine(nil, time.Hour) // every render waits for its context
	var logs syncBuffer
	srv, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), RenderTimeout: 20 * time.Millisecond}, testDeps(slow))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/render.png", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if n := logs.count("level=ERROR"); n != 0 {
		t.Errorf("a timeout was logged as an internal error:\n%s", logs.b.String())
	}
}

// An internal failure of /render.png is logged exactly once and reaches the
// client as a bare 500.
func TestRenderFailureLoggedOnce(t *testing.T) {
	eng := detEngine(nil, 0)
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		return nil, errors.New("tensor shape mismatch")
	}
	var logs syncBuffer
	srv, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, testDeps(eng))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/render.png", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "tensor") {
		t.Errorf("status %d body %q", rec.Code, rec.Body.String())
	}
	if n := logs.count("tensor shape mismatch"); n != 1 {
		t.Errorf("the error is logged %d times, want once:\n%s", n, logs.b.String())
	}
}

// A model whose name the share-token codec cannot hold makes every token
// fail: the session must answer an internal error, never a state message
// with an empty token.
func TestFailedTokenSendsNoEmptyState(t *testing.T) {
	eng := detEngine(nil, 0)
	info := testModel()
	info.Name = strings.Repeat("n", 257) // over the share token's 256-byte string limit (painting)
	eng.model = func() ModelInfo { return info }
	_, addr := startServer(t, Config{}, testDeps(eng))
	c := dial(t, addr, "")
	m, f := c.next()
	if f != nil || m["t"] != "hello" {
		t.Fatalf("first message %v, want hello", m)
	}
	for {
		m, f := c.next()
		if f != nil {
			t.Fatal("an image frame was sent without its state")
		}
		if m["t"] == "state" {
			b, _ := json.Marshal(m)
			t.Fatalf("state message sent: %s", b)
		}
		if m["t"] == "error" {
			if m["code"] != codeInternal {
				t.Errorf("error %v, want code %q", m, codeInternal)
			}
			return
		}
	}
}

// The routers' 405 answers and the websocket upgrader's refusals go through
// the error path too: the same headers and body shape as every other error,
// the Allow header on a 405, and no error log for what the client caused.
func TestRouterAndUpgradeErrors(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m, _ := newFakeRefModel()
	api, err := NewRefAPI(RefAPIConfig{Logger: log}, RefAPIDeps{Model: m, Results: fakeRefResults(), UnitImageURL: unitImg})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := NewReportHandler(fakeReportPages{}, fakeReportImages{}, "v1", 0, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := testDeps(detEngine(nil, 0))
	deps.API, deps.Report = api, rep
	srv, err := New(Config{Logger: log, AllowedOrigins: []string{"https://course.example.edu"}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	upgrade := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	with := func(kv ...string) map[string]string {
		h := map[string]string{}
		for k, v := range upgrade {
			h[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		allow              string // 405 only
		json               bool
		body               string
	}{
		{"painter POST", "POST", "/", nil, 405, "GET, HEAD", false, "method POST not allowed here\n"},
		{"painter DELETE image", "DELETE", "/render.png", nil, 405, "GET, HEAD", false, "method DELETE not allowed here\n"},
		{"websocket POST", "POST", "/ws", nil, 405, "GET", false, "method POST not allowed here\n"},
		{"report PUT", "PUT", "/report/layer4", nil, 405, "GET, HEAD", false, "method PUT not allowed here\n"},
		{"API GET on POST endpoint", "GET", "/api/generate", nil, 405, "POST", true, `{"error":"method GET not allowed here"}` + "\n"},
		{"API POST on GET endpoint", "POST", "/api/layers", nil, 405, "GET", true, `{"error":"method POST not allowed here"}` + "\n"},
		{"websocket without upgrade", "GET", "/ws", nil, 400, "", false, "'upgrade' token not found"},
		{"websocket foreign origin", "GET", "/ws", with("Origin", "https://evil.example.com"), 403, "", false, "origin not allowed"},
		{"websocket old version", "GET", "/ws", with("Sec-WebSocket-Version", "8"), 400, "", false, "unsupported version"},
		{"websocket bad key", "GET", "/ws", with("Sec-WebSocket-Key", "short"), 400, "", false, "Sec-WebSocket-Key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, b, tc.status)
			}
			if !strings.Contains(string(b), tc.body) {
				t.Errorf("body %q, want it to hold %q", b, tc.body)
			}
			if h.Get("Allow") != tc.allow {
				t.Errorf("Allow %q, want %q", h.Get("Allow"), tc.allow)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v, want nosniff and no-store as on every error", h)
			}
			ctype := "text/plain; charset=utf-8"
			if tc.json {
				ctype = "application/json"
			}
			if h.Get("Content-Type") != ctype {
				t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), ctype)
			}
			if tc.path == "/ws" && tc.status != 405 && h.Get("Sec-Websocket-Version") != "13" {
				t.Errorf("upgrade refusal without Sec-Websocket-Version: %v", h)
			}
			if n := logs.count("level=ERROR"); n != 0 {
				t.Errorf("a client error was logged as internal:\n%s", logs.b.String())
			}
		})
	}
}
