package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeEngine is an Engine made of function fields.
type fakeEngine struct {
	model    func() ModelInfo
	features func(ctx context.Context, layer string, id int64) (Features, error)
	render   func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error)
}

func (e fakeEngine) Model() ModelInfo { return e.model() }
func (e fakeEngine) Features(ctx context.Context, layer string, id int64) (Features, error) {
	return e.features(ctx, layer, id)
}
func (e fakeEngine) Render(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
	return e.render(ctx, f, edits)
}

type fakeConcepts struct {
	list   func() []Concept
	ranked func(layer, concept string) []int
}

func (c fakeConcepts) List() []Concept                    { return c.list() }
func (c fakeConcepts) Ranked(layer, concept string) []int { return c.ranked(layer, concept) }

type fakePages struct {
	painter func(w io.Writer, data PageData) error
	embed   func(w io.Writer, data PageData) error
}

func (p fakePages) Painter(w io.Writer, d PageData) error { return p.painter(w, d) }
func (p fakePages) Embed(w io.Writer, d PageData) error   { return p.embed(w, d) }

// fakeFeatures records which image and layer they belong to.
type fakeFeatures struct {
	layer string
	id    int64
}

func (fakeFeatures) SizeBytes() int { return 64 }

// testModel is a 64×64 model with an 8×8 paint layer and a 4×4 one.
func testModel() ModelInfo {
	return ModelInfo{
		Name: "fake64", Title: "Fake model", ImageWidth: 64, ImageHeight: 64, MaxID: 1000,
		SampleIDs: []int64{5, 6, 7}, DefaultLayer: "layer4",
		Layers: []LayerInfo{
			{Name: "layer1", Channels: 16, Width: 4, Height: 4},
			{Name: "layer2", Channels: 16, Width: 4, Height: 4},
			{Name: "layer4", Channels: 32, Width: 8, Height: 8},
		},
	}
}

// detRender draws a deterministic image: a gradient seeded by the image id,
// with every edited cell painted in a colour derived from its units (add)
// or black (remove). Later edits paint over earlier ones, as composition
// with alpha 1 does.
func detRender(info ModelInfo, f fakeFeatures, edits []Edit) (*image.RGBA, error) {
	var li LayerInfo
	for _, l := range info.Layers {
		if l.Name == f.layer {
			li = l
		}
	}
	if li.Width == 0 {
		return nil, errors.New("fake: unknown layer")
	}
	w, h := info.ImageWidth, info.ImageHeight
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(int(f.id)*37 + x*3), uint8(int(f.id)*11 + y*3), uint8(x + y), 255})
		}
	}
	for _, e := range edits {
		if len(e.Mask.Alpha) != li.Width*li.Height {
			return nil, errors.New("fake: mask size")
		}
		c := color.RGBA{0, 0, 0, 255}
		if !e.Removes() {
			sum := 0
			for _, u := range e.Units {
				sum += u*7 + 1
			}
			c = color.RGBA{uint8(sum * 13), uint8(sum * 29), uint8(200 + sum), 255}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if e.Mask.Alpha[(y*li.Height/h)*li.Width+x*li.Width/w] > 0 {
					img.SetRGBA(x, y, c)
				}
			}
		}
	}
	return img, nil
}

// counters counts engine calls.
type counters struct {
	mu       sync.Mutex
	features int
	renders  int
}

func (c *counters) get() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.features, c.renders
}

// detEngine is the deterministic fake; delay slows every render.
func detEngine(cnt *counters, delay time.Duration) fakeEngine {
	info := testModel()
	return fakeEngine{
		model: func() ModelInfo { return info },
		features: func(ctx context.Context, layer string, id int64) (Features, error) {
			if cnt != nil {
				cnt.mu.Lock()
				cnt.features++
				cnt.mu.Unlock()
			}
			return fakeFeatures{layer: layer, id: id}, nil
		},
		render: func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
			if cnt != nil {
				cnt.mu.Lock()
				cnt.renders++
				cnt.mu.Unlock()
			}
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return detRender(info, f.(fakeFeatures), edits)
		},
	}
}

// testConcepts: tree, sky and door at layer4 (door only 3 units), tree at
// layer2; "brick" is listed but ranked nowhere.
func testConcepts() fakeConcepts {
	return fakeConcepts{
		list: func() []Concept {
			return []Concept{{"tree", "#228b22"}, {"sky", "#87ceeb"}, {"door", "#8b4513"}, {"brick", "#b22222"}}
		},
		ranked: func(layer, concept string) []int {
			switch layer + "/" + concept {
			case "layer4/tree":
				return []int{3, 1, 4, 15, 9, 2, 6, 5, 30, 31, 0, 7, 8, 10, 11, 12, 13, 14, 16, 17}
			case "layer4/sky":
				return []int{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}
			case "layer4/door":
				return []int{18, 19, 0}
			case "layer2/tree":
				return []int{1, 2, 3, 4}
			}
			return nil
		},
	}
}

func testPages() fakePages {
	write := func(kind string) func(io.Writer, PageData) error {
		return func(w io.Writer, d PageData) error {
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			_, err = io.WriteString(w, "<!doctype html><title>"+kind+"</title><script type=\"application/json\">"+string(b)+"</script>")
			return err
		}
	}
	return fakePages{painter: write("painter"), embed: write("embed")}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testDeps(eng Engine) Deps {
	return Deps{ModelDeps: ModelDeps{Engine: eng, Concepts: testConcepts()}, Pages: testPages()}
}

// startServer runs a Server on a real loopback listener.
func startServer(t testing.TB, cfg Config, deps Deps) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// client is a test websocket client.
type client struct {
	t    testing.TB
	c    *websocket.Conn
	seq  uint32
	text []map[string]any // text messages read so far, in order
}

func dial(t testing.TB, addr, query string) *client {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws"+query, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func (c *client) send(msg map[string]any) {
	c.t.Helper()
	if err := c.c.WriteJSON(msg); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// sendSeq sends msg with the next seq and returns that seq.
func (c *client) sendSeq(msg map[string]any) uint32 {
	c.seq++
	msg["seq"] = c.seq
	c.send(msg)
	return c.seq
}

func (c *client) sendRaw(typ int, data []byte) {
	c.t.Helper()
	if err := c.c.WriteMessage(typ, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frame is one decoded binary frame.
type frame struct {
	format byte
	seq    uint32
	image  []byte
}

// next reads one message; text messages are decoded and recorded.
func (c *client) next() (map[string]any, *frame) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := c.c.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ == websocket.BinaryMessage {
		if len(data) < frameHeaderLen || string(data[:4]) != frameMagic || data[5] != 0 || data[6] != 0 || data[7] != 0 {
			c.t.Fatalf("bad frame header % x", data[:min(len(data), 12)])
		}
		return nil, &frame{format: data[4], seq: binary.BigEndian.Uint32(data[8:12]), image: data[12:]}
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("server sent bad JSON %q: %v", data, err)
	}
	c.text = append(c.text, m)
	return m, nil
}

// frame reads until the next image frame, checking that a state message
// with the same seq came right before it.
func (c *client) frame() (*frame, map[string]any) {
	c.t.Helper()
	var state map[string]any
	for {
		m, f := c.next()
		if f != nil {
			if state == nil {
				c.t.Fatalf("frame seq %d without a state message before it", f.seq)
			}
			if uint32(state["seq"].(float64)) != f.seq {
				c.t.Fatalf("state seq %v but frame seq %d", state["seq"], f.seq)
			}
			return f, state
		}
		if m["t"] == "state" {
			state = m
		}
	}
}

// frameSeq reads frames until one carries seq (failing on a later one).
func (c *client) frameSeq(seq uint32) (*frame, map[string]any) {
	c.t.Helper()
	for {
		f, st := c.frame()
		if f.seq == seq {
			return f, st
		}
		if f.seq > seq {
			c.t.Fatalf("frame seq %d went past %d", f.seq, seq)
		}
	}
}

// errorFrame reads until an error message and returns it.
func (c *client) errorFrame() map[string]any {
	c.t.Helper()
	for {
		m, _ := c.next()
		if m != nil && m["t"] == "error" {
			return m
		}
	}
}

// hello reads the hello message and the first frame.
func (c *client) hello() (map[string]any, *frame) {
	c.t.Helper()
	m, f := c.next()
	if f != nil || m["t"] != "hello" {
		c.t.Fatalf("first message is %v, want hello", m)
	}
	fr, _ := c.frame()
	return m, fr
}

// closeCode reads until the connection ends and returns its close error.
func (c *client) closeCode() *websocket.CloseError {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

func stroke(concept, mode string, units int, radius float64, pts ...[2]float64) map[string]any {
	p := make([][]float64, len(pts))
	for i, xy := range pts {
		p[i] = []float64{xy[0], xy[1]}
	}
	return map[string]any{"t": "stroke", "concept": concept, "mode": mode, "units": units, "radius": radius, "points": p}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

func httpGet(t testing.TB, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
