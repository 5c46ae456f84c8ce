package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/painting"
)

// TestModelMetrics: frames, render times, /render.png answers and the
// compare and growth requests are counted per model, and the model label
// only ever holds the server's models, whatever a request names.
func TestModelMetrics(t *testing.T) {
	_, addr := startServer(t, Config{}, twoModelDeps())
	base := "http://" + addr

	// Three frames on fakeB (the first and two strokes), two on fake64.
	b := dial(t, addr, "?model=fakeB")
	b.hello()
	b.frameSeq(b.sendSeq(stroke("dome", "add", 2, 8, [2]float64{20, 20})))
	b.frameSeq(b.sendSeq(stroke("dome", "add", 2, 8, [2]float64{30, 20})))
	a := dial(t, addr, "")
	a.hello()
	a.frameSeq(a.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20})))

	bTok := tokenFor(t, painting.State{Model: "fakeB", Layer: "layer4", ID: 4,
		Edits: []painting.Edit{{Concept: "dome", Mode: painting.Remove, Units: 2, Radius: 8, Points: []painting.Point{{X: 9, Y: 9}}}}})
	for _, req := range []struct {
		path   string
		status int
	}{
		{"/render.png?model=fakeB", http.StatusOK},
		{"/render.png?model=fakeB", http.StatusOK}, // cached
		{"/render.png?model=nosuch", http.StatusNotFound},
		{"/api/compare?state=" + bTok, http.StatusNotFound}, // fakeB has no segmenter
		{"/api/compare", http.StatusBadRequest},             // fake64, no state
		{"/api/growth?concept=dome&model=fakeB", http.StatusNotFound},
		{"/api/growth?concept=nosuch", http.StatusBadRequest},
		// A request for a model the server lacks is refused by the default
		// model's endpoint, and counted there.
		{"/api/growth?concept=tree&model=nosuch", http.StatusNotFound},
		{"/api/compare?model=nosuch", http.StatusNotFound},
	} {
		if resp, body := httpGet(t, base+req.path, nil); resp.StatusCode != req.status {
			t.Fatalf("%s: status %d (%s), want %d", req.path, resp.StatusCode, body, req.status)
		}
	}

	// The frame counter moves right after the frame is written; wait for it.
	var metrics string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, body := httpGet(t, base+"/metrics", nil)
		metrics = string(body)
		if strings.Contains(metrics, `ganpaint_frames_total{model="fake64"} 2`) || time.Now().After(deadline) {
			break
		}
	}
	for _, tc := range []struct {
		name, line string
	}{
		{"fakeB frames", `ganpaint_frames_total{model="fakeB"} 3`},
		{"fake64 frames", `ganpaint_frames_total{model="fake64"} 2`},
		{"fakeB render times", `ganpaint_render_seconds_count{model="fakeB"} 3`},
		{"fake64 render times", `ganpaint_render_seconds_count{model="fake64"} 2`},
		{"fakeB render.png", `ganpaint_render_png_total{model="fakeB",result="rendered"} 1`},
		{"fakeB render.png cached", `ganpaint_render_png_total{model="fakeB",result="cached"} 1`},
		{"fake64 render.png", `ganpaint_render_png_total{model="fake64",result="rendered"} 0`},
		{"fakeB compare", `ganpaint_analysis_requests_total{model="fakeB",result="refused",tool="compare"} 1`},
		{"fake64 compare", `ganpaint_analysis_requests_total{model="fake64",result="refused",tool="compare"} 2`},
		{"fakeB growth", `ganpaint_analysis_requests_total{model="fakeB",result="refused",tool="growth"} 1`},
		{"fake64 growth", `ganpaint_analysis_requests_total{model="fake64",result="refused",tool="growth"} 2`},
		{"no compare answered", `ganpaint_analysis_requests_total{model="fakeB",result="ok",tool="compare"} 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(metrics, tc.line+"\n") {
				t.Errorf("metrics lack %q", tc.line)
			}
		})
	}
	// How many frames show a change depends on when the session's first
	// change is stamped; each model's sessions have some.
	for _, m := range []string{"fake64", "fakeB"} {
		if line := `ganpaint_frame_latency_seconds_count{model="` + m + `"} `; !strings.Contains(metrics, line) || strings.Contains(metrics, line+"0\n") {
			t.Errorf("no frame latency counted for %s", m)
		}
	}
	if strings.Contains(metrics, "nosuch") {
		t.Error("a model named in a request but not served got a series")
	}
}
