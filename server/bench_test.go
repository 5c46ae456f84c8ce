package server

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// benchModelEnv names a model directory to benchmark besides the fake and
// the planted model, e.g. GANPAINT_BENCH_MODEL=assets/models/scenes128.
const benchModelEnv = "GANPAINT_BENCH_MODEL"

// unitConcepts is the bench's palette for a model that was not dissected:
// one concept "units" whose ranking is simply unit order at every layer.
// It measures the same work as a real concept (the units are arbitrary).
type unitConcepts struct{ channels map[string]int }

func (u unitConcepts) List() []Concept { return []Concept{{"units", "#ff00ff"}} }
func (u unitConcepts) Ranked(layer, concept string) []int {
	n := u.channels[layer]
	if concept != "units" || n == 0 {
		return nil
	}
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

// modelDeps loads a model directory for benchmarks: its dissection when it
// has one, else unitConcepts.
func modelDeps(b *testing.B, dir string) (Deps, string) {
	b.Helper()
	testenv.RequireRuntime(b)
	m, err := inference.LoadDir(dir, inference.Options{Logger: quietLogger()})
	if err != nil {
		b.Fatalf("loading %s: %v", dir, err)
	}
	b.Cleanup(func() { m.Close() })
	res, err := dissection.Load(os.DirFS(dir))
	if err != nil && !errors.Is(err, dissection.ErrNoResults) {
		b.Fatalf("dissection of %s: %v", dir, err)
	}
	if err != nil {
		res = nil
	}
	eng, err := NewModelEngine(m, res)
	if err != nil {
		b.Fatal(err)
	}
	var concepts Concepts
	concept := "units"
	if res != nil {
		classes, _ := m.Classes()
		dc, err := NewDissectionConcepts(res, classes)
		if err != nil {
			b.Fatal(err)
		}
		concepts = dc
		if len(dc.List()) == 0 {
			b.Fatal("dissection offers no concepts")
		}
		concept = dc.List()[0].Name
		for _, c := range dc.List() {
			if c.Name == "tree" {
				concept = "tree"
			}
		}
	} else {
		ch := map[string]int{}
		for _, l := range m.Layers() {
			ch[l.Name] = l.Channels
		}
		concepts = unitConcepts{ch}
	}
	return Deps{ModelDeps: ModelDeps{Engine: eng, Concepts: concepts}, Pages: testPages()}, concept
}

// browserPNGMaxPixels is PNG_MAX_PIXELS of web/static/app.js: the browser
// asks for PNG frames up to this many pixels and keeps JPEG above.
const browserPNGMaxPixels = 128 * 128

// BenchmarkStrokeToFrame measures, over a real loopback websocket, the time
// from sending a stroke to receiving the frame that carries its seq (apply
// edits + generator tail + encode in the browser's format + transport), and
// reports p50/p99.
// Sub-benchmarks: the fake engine (server overhead only), the planted ONNX
// model when ONNX Runtime is available, and the model in
// $GANPAINT_BENCH_MODEL when set.
func BenchmarkStrokeToFrame(b *testing.B) {
	b.Run("fake", func(b *testing.B) {
		benchStrokes(b, testDeps(detEngine(nil, 0)), "tree")
	})
	b.Run("planted", func(b *testing.B) {
		benchStrokes(b, plantedDeps(b), "tree")
	})
	if dir := os.Getenv(benchModelEnv); dir != "" {
		b.Run("model", func(b *testing.B) {
			deps, concept := modelDeps(b, dir)
			benchStrokes(b, deps, concept)
		})
	}
}

func benchStrokes(b *testing.B, deps Deps, concept string) {
	srv, addr := startServer(b, Config{MessagesPerSecond: 1e6, MessageBurst: 1 << 20}, deps)
	h := srv.Hello()
	var layer HelloLayer
	for _, l := range h.Layers {
		if l.Name == h.DefaultLayer {
			layer = l
		}
	}
	units := min(15, layer.Concepts[concept])
	if units == 0 {
		b.Fatalf("concept %q not paintable at %s", concept, h.DefaultLayer)
	}
	w, ht := float64(h.Image.Width), float64(h.Image.Height)
	radius := max(1, w/16)

	c := dial(b, addr, "")
	c.hello()
	if h.Image.Width*h.Image.Height <= browserPNGMaxPixels {
		// Ask for the frame format the browser asks for (web/static/app.js).
		c.send(map[string]any{"t": "format", "format": "png"})
		if f, _ := c.frame(); f.format != formatPNG {
			b.Fatalf("format %d after asking for PNG", f.format)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%10 == 9 {
			// Keep the edit list at a realistic length; not timed.
			b.StopTimer()
			c.frameSeq(c.sendSeq(map[string]any{"t": "reset"}))
			b.StartTimer()
		}
		x := w * float64(i%7+1) / 9
		y := ht * float64(i%5+1) / 7
		mode := "add"
		if i%3 == 2 {
			mode = "remove"
		}
		start := time.Now()
		c.frameSeq(c.sendSeq(stroke(concept, mode, units, radius, [2]float64{x, y}, [2]float64{x + w/10, y + ht/20})))
		lat = append(lat, time.Since(start))
		c.text = c.text[:0]
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
