package server

import (
	"bufio"
	"context"
	"image"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWorkBombTokens: a short token whose body inflates past
// max_state_bytes is refused on every entry point without any render.
func TestWorkBombTokens(t *testing.T) {
	cnt := &counters{}
	srv, addr := startServer(t, Config{}, testDeps(detEngine(cnt, 0)))
	bomb := bigToken(t, 200000)
	if len(bomb) > 2000 {
		t.Fatalf("bomb token has %d characters; the test wants a short one", len(bomb))
	}
	q := "?state=" + url.QueryEscape(bomb)
	if resp, body := httpGet(t, "http://"+addr+"/render.png"+q, nil); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(string(body), "brush data") {
		t.Errorf("render.png: %d %q", resp.StatusCode, body)
	}
	for _, page := range []string{"/", "/embed"} {
		_, body := httpGet(t, "http://"+addr+page+q, nil)
		if !strings.Contains(string(body), "brush data") {
			t.Errorf("%s does not report the unusable state: %s", page, body)
		}
	}
	c := dial(t, addr, q)
	if e := c.errorFrame(); e["code"] != codeBadState {
		t.Errorf("ws: %v", e)
	}
	c.frame()
	if _, renders := cnt.get(); renders != 1 {
		t.Errorf("%d renders, want only the websocket's default image", renders)
	}
	// The refusal must come before the strokes are decoded and rasterised:
	// a few allocations for inflating, not thousands for points and masks.
	if n := testing.AllocsPerRun(3, func() { srv.def.decodeShare(bomb) }); n > 60 {
		t.Errorf("refusing the bomb took %.0f allocations; it is decoded before the size check", n)
	}
}

func TestHeadAndMethodNotAllowed(t *testing.T) {
	deps := testDeps(detEngine(nil, 0))
	deps.Static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("static")) })
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, path := range []string{"/", "/embed", "/render.png", "/healthz", "/readyz", "/api/model", "/metrics", "/static/x.js"} {
		t.Run("HEAD "+path, func(t *testing.T) {
			resp, err := http.Head(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"POST", "/", "GET, HEAD"}, {"DELETE", "/render.png", "GET, HEAD"}, {"PUT", "/healthz", "GET, HEAD"},
		{"POST", "/ws", "GET"}, {"POST", "/embed", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
				t.Errorf("status %d Allow %q, want 405 %q", resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, _ := httpGet(t, ts.URL+path, nil)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s without nosniff", path)
		}
	}
}

func TestReadyzWhileDraining(t *testing.T) {
	srv, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
	if resp, _ := httpGet(t, "http://"+addr+"/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d before draining", resp.StatusCode)
	}
	srv.mu.Lock()
	srv.draining = true
	srv.mu.Unlock()
	if resp, _ := httpGet(t, "http://"+addr+"/readyz", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz %d while draining, want 503", resp.StatusCode)
	}
	if resp, _ := httpGet(t, "http://"+addr+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %d while draining, want 200 (still alive)", resp.StatusCode)
	}
	c := dial(t, addr, "")
	if ce := c.closeCode(); ce.Code != websocket.CloseGoingAway {
		t.Errorf("new session while draining closed with %d, want 1001", ce.Code)
	}
}

// dialFrom opens a websocket from a chosen loopback source address.
func dialFrom(t *testing.T, src, addr string) *client {
	t.Helper()
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	c, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func TestSessionsPerIP(t *testing.T) {
	_, addr := startServer(t, Config{MaxSessionsPerIP: 2}, testDeps(detEngine(nil, 0)))
	a1 := dialFrom(t, "127.0.0.1", addr)
	a1.hello()
	a2 := dialFrom(t, "127.0.0.1", addr)
	a2.hello()
	a3 := dialFrom(t, "127.0.0.1", addr)
	if ce := a3.closeCode(); ce.Code != websocket.CloseTryAgainLater || !strings.Contains(ce.Text, "your address") {
		t.Errorf("third session from one address closed with %d %q", ce.Code, ce.Text)
	}
	b := dialFrom(t, "127.0.0.2", addr)
	b.hello()
}

func TestClientAddr(t *testing.T) {
	srv := testServer(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"direct", "192.0.2.7:5000", "", "192.0.2.7"},
		{"untrusted peer's header is ignored", "192.0.2.7:5000", "198.51.100.1", "192.0.2.7"},
		{"trusted proxy", "10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"forged left entries are ignored", "10.1.2.3:5000", "203.0.113.9, 198.51.100.1", "198.51.100.1"},
		{"chain of proxies", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"garbage header", "10.1.2.3:5000", "nonsense", "10.1.2.3"},
		{"IPv6 grouped by /64", "[2001:db8:1:2:aaaa::1]:5000", "", "2001:db8:1:2::"},
		{"IPv4-mapped", "[::ffff:192.0.2.7]:5000", "", "192.0.2.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := srv.clientAddr(r).String(); got != tc.want {
				t.Errorf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCloseCodes(t *testing.T) {
	t.Run("invalid UTF-8 is 1007", func(t *testing.T) {
		_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
		c := dial(t, addr, "")
		c.hello()
		c.sendRaw(websocket.TextMessage, []byte("{\"t\":\"undo\",\"x\":\"\xff\xfe\"}"))
		if ce := c.closeCode(); ce.Code != websocket.CloseInvalidFramePayloadData {
			t.Errorf("close %d, want 1007", ce.Code)
		}
	})
	t.Run("no pong is 4001", func(t *testing.T) {
		_, addr := startServer(t, Config{PingPeriod: 50 * time.Millisecond}, testDeps(detEngine(nil, 0)))
		// A raw client that completes the handshake and then never answers.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		// Read frames (without answering pings) until a close frame.
		for {
			h := make([]byte, 2)
			if _, err := ioReadFull(br, h); err != nil {
				t.Fatalf("no close frame: %v", err)
			}
			n := int(h[1] & 0x7f)
			switch n {
			case 126:
				ext := make([]byte, 2)
				ioReadFull(br, ext)
				n = int(ext[0])<<8 | int(ext[1])
			case 127:
				ext := make([]byte, 8)
				ioReadFull(br, ext)
				n = 0
				for _, b := range ext {
					n = n<<8 | int(b)
				}
			}
			payload := make([]byte, n)
			if _, err := ioReadFull(br, payload); err != nil {
				t.Fatal(err)
			}
			if h[0]&0x0f == websocket.CloseMessage {
				if code := int(payload[0])<<8 | int(payload[1]); code != closeNoPong {
					t.Errorf("close code %d, want %d", code, closeNoPong)
				}
				return
			}
		}
	})
	t.Run("peer's close code is echoed, not replaced by 1000", func(t *testing.T) {
		_, addr := startServer(t, Config{}, testDeps(detEngine(nil, 0)))
		c := dial(t, addr, "")
		c.hello()
		if err := c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4321, "bye"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if ce := c.closeCode(); ce.Code != 4321 {
			t.Errorf("close %d, want the peer's 4321 echoed", ce.Code)
		}
	})
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pipeListener hands out in-memory connections that do not buffer: a
// server write blocks until the client reads.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// closeSignal reports when the server closes its end.
type closeSignal struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *closeSignal) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestWriteTimeout: a client that sends requests and never reads is cut
// off after HTTPWriteTimeout instead of holding the connection forever.
func TestWriteTimeout(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger(), HTTPWriteTimeout: 200 * time.Millisecond, RenderWait: 100 * time.Millisecond},
		testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ln := &pipeListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	client, server := net.Pipe()
	defer client.Close()
	sig := &closeSignal{Conn: server, closed: make(chan struct{})}
	ln.conns <- sig
	go func() {
		for i := 0; i < 3; i++ {
			if _, err := client.Write([]byte("GET /render.png HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				return
			}
		}
	}()
	select {
	case <-sig.closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the server still holds a connection whose client never reads")
	}
}

// TestRoundRobinTurns: with one render slot, a session that keeps
// changing its state waits behind every other session that wants a frame.
func TestRoundRobinTurns(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var order []int64
	running, maxRunning := 0, 0
	eng := detEngine(nil, 0)
	inner := eng.render
	eng.render = func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
		if len(edits) > 0 {
			mu.Lock()
			order = append(order, f.(fakeFeatures).id)
			running++
			maxRunning = max(maxRunning, running)
			mu.Unlock()
			<-gate
			mu.Lock()
			running--
			mu.Unlock()
		}
		return inner(ctx, f, edits)
	}
	srv, addr := startServer(t, Config{RenderSlots: 1}, testDeps(eng))
	a := dial(t, addr, "")
	a.hello()
	b := dial(t, addr, "")
	b.hello()
	la := a.sendSeq(map[string]any{"t": "load", "id": 1})
	a.frameSeq(la)
	lb := b.sendSeq(map[string]any{"t": "load", "id": 2})
	b.frameSeq(lb)

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	rendering := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == n }
	}
	a.sendSeq(stroke("tree", "add", 1, 2, [2]float64{1, 1}))
	waitFor("a's first render", rendering(1))
	b.sendSeq(stroke("tree", "add", 1, 2, [2]float64{2, 2}))
	waitFor("b to queue", func() bool { return srv.turns.depth() == 1 })
	a.sendSeq(stroke("tree", "add", 1, 2, [2]float64{3, 3}))
	for i := 0; i < 3; i++ {
		gate <- struct{}{}
		if i < 2 {
			waitFor("the next render", rendering(i+2))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 1 {
		t.Errorf("render order %v, want a, b, a (1, 2, 1)", order)
	}
	if maxRunning != 1 {
		t.Errorf("%d renders ran at once with one slot", maxRunning)
	}
}

func TestTurns(t *testing.T) {
	q := newTurns(1)
	first := q.request(false, false)
	<-first.ready
	late := q.request(false, true)
	second, third := q.request(false, false), q.request(true, false)
	q.cancel(second)
	q.done()
	select {
	case <-third.ready:
	default:
		t.Fatal("the slot did not pass to the next waiter after a cancel")
	}
	select {
	case <-late.ready:
		t.Fatal("a late request was served before one in the first line")
	default:
	}
	q.done()
	select {
	case <-late.ready:
	default:
		t.Fatal("the late request was not served once the first line was empty")
	}
	if q.depth() != 0 {
		t.Errorf("depth %d after all were served", q.depth())
	}

	// A session that turns late while it waits moves behind the others.
	var flooding atomic.Bool
	goesLate := q.requestSession(flooding.Load)
	behaves := q.requestSession(func() bool { return false })
	flooding.Store(true)
	q.done()
	select {
	case <-behaves.ready:
	default:
		t.Fatal("a session that started flooding while it queued was still served first")
	}
	q.done()
	<-goesLate.ready
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.acquireHTTP(ctx, 4); err != ErrBusy {
		t.Errorf("acquireHTTP with an ended context = %v, want ErrBusy", err)
	}
	if err := q.acquireHTTP(context.Background(), 0); err != ErrBusy {
		t.Errorf("acquireHTTP over the waiting cap = %v, want ErrBusy", err)
	}
	q.done()
	if err := q.acquireHTTP(context.Background(), 0); err != nil {
		t.Errorf("acquireHTTP with a free slot = %v", err)
	}
}

// FuzzClientAddr: RemoteAddr and X-Forwarded-For ("remote|xff") never
// panic and always yield a valid address or the zero one for garbage.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1:5|198.51.100.2, 10.0.0.9")
	srv := testServer(f, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	f.Fuzz(func(t *testing.T, in string) {
		remote, xff, _ := strings.Cut(in, "|")
		r := httptest.NewRequest("GET", "/ws", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		a := srv.clientAddr(r)
		if a.IsValid() && a.Is4In6() {
			t.Fatalf("address %v is not unmapped", a)
		}
	})
}

func TestAccessLogAndMetrics(t *testing.T) {
	var logs syncBuffer
	cfg := Config{AccessLog: slog.New(slog.NewTextHandler(&logs, nil)), MessagesPerSecond: 5, MessageBurst: 1}
	_, addr := startServer(t, cfg, testDeps(detEngine(nil, 0)))
	httpGet(t, "http://"+addr+"/render.png?state=SECRETTOKEN", nil)
	c := dial(t, addr, "")
	c.hello()
	c.frameSeq(c.sendSeq(stroke("tree", "add", 3, 3, [2]float64{20, 20})))
	c.frameSeq(c.sendSeq(stroke("tree", "add", 3, 3, [2]float64{30, 20})))
	// The counters move right after the frame is written; wait for them.
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, body = httpGet(t, "http://"+addr+"/metrics", nil)
		if strings.Contains(string(body), `ganpaint_frames_total{model="fake64"} 3`) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{`ganpaint_frames_total{model="fake64"} 3`, "ganpaint_sessions 1", "ganpaint_rate_limited_total",
		"ganpaint_frame_latency_seconds_count", "ganpaint_render_queue_depth 0", "process_resident_memory_bytes",
		`ganpaint_http_requests_total{code="4xx",route="/render.png"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), "ganpaint_rate_limited_total 0") {
		t.Error("two messages with a burst of one were not counted as rate limited")
	}
	// A websocket's line is written when the session ends, with its length.
	c.c.Close()
	for deadline := time.Now().Add(5 * time.Second); logs.count("path=/ws") == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if logs.count("path=/render.png") != 1 || logs.count("status=400") != 1 || logs.count("path=/ws") != 1 || logs.count("status=101") != 1 {
		t.Errorf("access log lacks the requests:\n%s", logs.b.String())
	}
	if logs.count("SECRETTOKEN") != 0 {
		t.Error("the access log holds a share token")
	}
}
