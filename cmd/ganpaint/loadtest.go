package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func init() {
	subcommands["loadtest"] = subcommand{
		summary: "drive a running server with N painters and/or N flooders for T seconds and report",
		run:     runLoadtest,
	}
}

// loadConfig is one load test.
type loadConfig struct {
	URL            string        // the server's root, http://host:port
	Painters       int           // honest clients: one stroke every StrokeInterval
	Flooders       int           // hostile clients: frames as fast as TCP takes them
	Duration       time.Duration // how long the clients run
	StrokeInterval time.Duration
	// SpreadIPs gives every client its own loopback source address
	// (127.0.x.y), as clients on different machines would have, so the
	// server's per-address cap applies per client. Loopback targets only.
	SpreadIPs bool
	Seed      uint64
	// Probe times GET /healthz every 50 ms for the test's duration; nil
	// probes from a goroutine of this process.
	Probe func(ctx context.Context, base string) ([]time.Duration, int, error)
}

// clientResult is what one client saw.
type clientResult struct {
	painter     bool
	frames      int
	sent        int
	latencies   []time.Duration // stroke sent → first frame whose seq covers it
	busy        int
	rateLimited int
	otherErrors int
	closed      string // how the connection ended before the test did, "" if it did not
}

// loadReport is the summary the command prints.
type loadReport struct {
	cfg             loadConfig
	elapsed         time.Duration
	painters        []clientResult
	flooders        []clientResult
	health          []time.Duration
	healthFailures  int
	serverRSS       float64 // bytes, from the server's /metrics; 0 if unknown
	serverFrames    float64
	serverQueueWait string
}

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fl.SetOutput(stderr)
	u := fl.String("url", "http://127.0.0.1:8080", "the server's root URL")
	painters := fl.Int("painters", 32, "painting clients (one stroke every --stroke-interval)")
	flooders := fl.Int("flooders", 0, "flooding clients (send frames as fast as the server reads them)")
	dur := fl.Duration("duration", 30*time.Second, "how long to run (at most 10m)")
	interval := fl.Duration("stroke-interval", 100*time.Millisecond, "time between a painter's strokes")
	spread := fl.Bool("spread-ips", true, "give each client its own 127.0.x.y source address (loopback targets)")
	seed := fl.Uint64("seed", 1, "seed of the random strokes")
	probeProcess := fl.Bool("probe-process", true, "time /healthz from a separate process, so the load client's own scheduling is not counted")
	probeOnly := fl.Bool("probe-only", false, "only time GET /healthz every 50 ms for --duration and print each latency in ns (the prober process)")
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	cfg := loadConfig{URL: strings.TrimSuffix(*u, "/"), Painters: *painters, Flooders: *flooders, Duration: *dur,
		StrokeInterval: *interval, SpreadIPs: *spread, Seed: *seed}
	if *probeOnly {
		if _, err := (loadConfig{URL: cfg.URL, Painters: 1, Duration: cfg.Duration, StrokeInterval: time.Second}).check(); err != nil {
			return err
		}
		return runProbeOnly(ctx, cfg.URL, cfg.Duration, stdout)
	}
	if *probeProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--probe-process: %w", err)
		}
		cfg.Probe = childProber(exe, cfg.Duration)
	}
	rep, err := runLoad(ctx, cfg)
	if err != nil {
		return err
	}
	rep.print(stdout)
	return nil
}

func (cfg loadConfig) check() (*url.URL, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Painters < 0 || cfg.Flooders < 0 || cfg.Painters+cfg.Flooders == 0 || cfg.Painters+cfg.Flooders > 5000 {
		return nil, errors.New("--painters plus --flooders must be 1..5000")
	}
	if cfg.Duration <= 0 || cfg.Duration > 10*time.Minute {
		return nil, errors.New("--duration must be in (0, 10m]")
	}
	if cfg.StrokeInterval <= 0 {
		return nil, errors.New("--stroke-interval must be positive")
	}
	return u, nil
}

// runLoad runs the clients and a /healthz prober for cfg.Duration.
func runLoad(ctx context.Context, cfg loadConfig) (*loadReport, error) {
	u, err := cfg.check()
	if err != nil {
		return nil, err
	}
	hello, err := fetchHello(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	loopback := false
	if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
		loopback = true
	}
	wsURL := "ws" + strings.TrimPrefix(cfg.URL, "http") + "/ws"

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	n := cfg.Painters + cfg.Flooders
	results := make([]clientResult, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		nd := &net.Dialer{}
		if cfg.SpreadIPs && loopback {
			nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(1+(i+1)/250), byte((i+1)%250+2), 1)}
		}
		if i >= cfg.Painters {
			// A flooder's writes should block once the server stops reading,
			// not fill megabytes of loopback buffers at this machine's cost.
			nd.Control = smallSendBuffer
		}
		dialer.NetDialContext = nd.DialContext
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
			if i < cfg.Painters {
				results[i] = paint(ctx, dialer, wsURL, hello, cfg.StrokeInterval, rng)
			} else {
				results[i] = flood(ctx, dialer, wsURL, hello, rng)
			}
		}()
	}
	rep := &loadReport{cfg: cfg}
	var probeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if cfg.Probe == nil {
			rep.health, rep.healthFailures = probeHealth(ctx, cfg.URL)
			return
		}
		rep.health, rep.healthFailures, probeErr = cfg.Probe(ctx, cfg.URL)
	}()
	wg.Wait()
	if probeErr != nil {
		return nil, probeErr
	}
	rep.elapsed = time.Since(start)
	rep.painters, rep.flooders = results[:cfg.Painters], results[cfg.Painters:]
	rep.serverRSS, rep.serverFrames = scrapeMetrics(context.Background(), cfg.URL)
	return rep, nil
}

// loadHello is the part of the hello message the clients need.
type loadHello struct {
	Image struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"image"`
	DefaultLayer string `json:"default_layer"`
	Layers       []struct {
		Name     string         `json:"name"`
		Concepts map[string]int `json:"concepts"`
	} `json:"layers"`
	Limits struct {
		MaxEdits int `json:"max_edits"`
	} `json:"limits"`
}

func fetchHello(ctx context.Context, base string) (loadHello, error) {
	var h loadHello
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/model", nil)
	if err != nil {
		return h, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return h, fmt.Errorf("server not reachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("%s/api/model: %s", base, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return h, fmt.Errorf("%s/api/model: %v", base, err)
	}
	if h.Image.Width <= 0 || h.Image.Height <= 0 || len(h.Layers) == 0 {
		return h, fmt.Errorf("%s/api/model describes no paintable layer", base)
	}
	return h, nil
}

// brush is a painter's hand: strokes follow on from where the last one
// ended, as the parts of a drag do, and every 20 strokes a new drag starts
// somewhere else with another concept and mode. (Strokes scattered over the
// whole image would make every coalesced frame a full repaint, which a
// person painting does not cause.)
type brush struct {
	h       loadHello
	rng     *rand.Rand
	x, y    int
	n       int
	concept string
	mode    string
	units   int
	radius  int
}

func newBrush(h loadHello, rng *rand.Rand) *brush { return &brush{h: h, rng: rng} }

// stroke is the next part of the drag, at the default layer.
func (b *brush) stroke(seq uint32) map[string]any {
	h, rng := b.h, b.rng
	if b.n%20 == 0 {
		layer := h.Layers[0]
		for _, l := range h.Layers {
			if l.Name == h.DefaultLayer {
				layer = l
			}
		}
		names := make([]string, 0, len(layer.Concepts))
		for c := range layer.Concepts {
			names = append(names, c)
		}
		sort.Strings(names)
		b.concept = names[rng.IntN(len(names))]
		b.mode = "add"
		if rng.IntN(3) == 0 {
			b.mode = "remove"
		}
		b.units = min(layer.Concepts[b.concept], 1+rng.IntN(16))
		b.radius = 4 + rng.IntN(8)
		b.x, b.y = rng.IntN(h.Image.Width), rng.IntN(h.Image.Height)
	}
	b.n++
	pts := [][]int{}
	for k := 0; k < 4; k++ {
		b.x = min(max(b.x+rng.IntN(5)-2, 0), h.Image.Width-1)
		b.y = min(max(b.y+rng.IntN(5)-2, 0), h.Image.Height-1)
		pts = append(pts, []int{b.x, b.y})
	}
	return map[string]any{"t": "stroke", "seq": seq, "concept": b.concept, "mode": b.mode,
		"units": b.units, "radius": b.radius, "points": pts}
}

// paint is one honest painter: a stroke every interval, a reset before
// the edit limit, reading every frame and timing each stroke to the first
// frame that shows it.
func paint(ctx context.Context, d websocket.Dialer, wsURL string, h loadHello, every time.Duration, rng *rand.Rand) clientResult {
	res := clientResult{painter: true}
	conn, _, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		res.closed = "dial: " + err.Error()
		return res
	}
	defer conn.Close()
	var mu sync.Mutex
	sentAt := map[uint32]time.Time{}
	readDone := readLoop(ctx, conn, &mu, &res, func(typ int, data []byte, now time.Time) {
		if typ == websocket.BinaryMessage && len(data) >= 12 {
			res.frames++
			seq := binary.BigEndian.Uint32(data[8:12])
			for s, t := range sentAt {
				if s <= seq {
					res.latencies = append(res.latencies, now.Sub(t))
					delete(sentAt, s)
				}
			}
		} else if typ == websocket.TextMessage {
			countError(&res, data)
		}
	})
	tick := time.NewTicker(every)
	defer tick.Stop()
	// Start at a random phase so painters do not stroke in lockstep.
	time.Sleep(time.Duration(rng.Int64N(int64(every))))
	maxEdits := max(h.Limits.MaxEdits, 2)
	hand := newBrush(h, rng)
	var seq uint32
	strokes := 0
	for ctx.Err() == nil {
		var msg map[string]any
		seq++
		if strokes > 0 && strokes%(maxEdits-1) == 0 {
			msg = map[string]any{"t": "reset", "seq": seq}
			strokes++
		} else {
			msg = hand.stroke(seq)
			mu.Lock()
			sentAt[seq] = time.Now()
			mu.Unlock()
			strokes++
		}
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteJSON(msg); err != nil {
			break
		}
		res.sent++
		select {
		case <-tick.C:
		case <-ctx.Done():
		case <-readDone:
		}
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	conn.Close()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	return res
}

func countError(res *clientResult, data []byte) {
	var m struct {
		T    string `json:"t"`
		Code string `json:"code"`
	}
	if json.Unmarshal(data, &m) != nil || m.T != "error" {
		return
	}
	switch m.Code {
	case "busy":
		res.busy++
	case "rate_limited":
		res.rateLimited++
	default:
		res.otherErrors++
	}
}

// flood is one hostile client: valid strokes, broken JSON, binary frames
// and pings, as fast as the server reads them. It reads what comes back so
// that the server's writes do not end it.
func flood(ctx context.Context, d websocket.Dialer, wsURL string, h loadHello, rng *rand.Rand) clientResult {
	res := clientResult{}
	conn, _, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		res.closed = "dial: " + err.Error()
		return res
	}
	defer conn.Close()
	var mu sync.Mutex
	readDone := readLoop(ctx, conn, &mu, &res, func(typ int, data []byte, _ time.Time) {
		if typ == websocket.BinaryMessage {
			res.frames++
		} else {
			countError(&res, data)
		}
	})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	hand := newBrush(h, rng)
	junk := []byte(`{"t":"stroke","seq":"x","points":[[1,2],[3` + strings.Repeat(",4", 200))
	var seq uint32
	for ctx.Err() == nil {
		var err error
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		switch k := rng.IntN(4); k {
		case 0:
			seq++
			err = conn.WriteJSON(hand.stroke(seq))
		case 1:
			err = conn.WriteMessage(websocket.TextMessage, junk)
		case 2:
			err = conn.WriteMessage(websocket.BinaryMessage, junk)
		default:
			err = conn.WriteControl(websocket.PingMessage, []byte("flood"), time.Now().Add(30*time.Second))
		}
		if err != nil {
			break
		}
		res.sent++
		if seq%150 == 149 {
			seq++
			_ = conn.WriteJSON(map[string]any{"t": "reset", "seq": seq})
		}
	}
	conn.Close()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	return res
}

// probeHealth times GET /healthz every 50 ms.
func probeHealth(ctx context.Context, base string) ([]time.Duration, int) {
	client := &http.Client{Timeout: 10 * time.Second}
	var lat []time.Duration
	failures := 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return lat, failures
		case <-tick.C:
		}
		t := time.Now()
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			if ctx.Err() == nil {
				failures++
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failures++
			continue
		}
		lat = append(lat, time.Since(t))
	}
}

// scrapeMetrics reads the server's resident memory and frame count from
// its Prometheus endpoint (0 when there is none). Frames are counted per
// model (ganpaint_frames_total{model="..."}); the load is their sum.
func scrapeMetrics(ctx context.Context, base string) (rss, frames float64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		// The value is after the last space: a label value may hold spaces.
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, val := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "process_resident_memory_bytes":
			rss = v
		case name == "ganpaint_frames_total" || strings.HasPrefix(name, "ganpaint_frames_total{"):
			frames += v
		}
	}
	return rss, frames
}

func (r *loadReport) print(w io.Writer) {
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "loadtest %s: %d painters (a stroke every %v), %d flooders, %.1f s\n",
		r.cfg.URL, r.cfg.Painters, r.cfg.StrokeInterval, r.cfg.Flooders, secs)
	if len(r.painters) > 0 {
		s := summarizeClients(r.painters, secs)
		fmt.Fprintf(w, "painters: %.1f frames/s in all; per painter min %.2f, median %.2f, max %.2f frames/s\n",
			s.total, s.min, s.median, s.max)
		if len(s.lat) > 0 {
			st := summarize(s.lat)
			fmt.Fprintf(w, "stroke → frame: p50 %s, p99 %s (%d strokes)\n", ms(st.p50), ms(st.p99), len(s.lat))
		}
		fmt.Fprintf(w, "painters' answers: %d busy, %d rate_limited, %d other errors; %d connections ended early\n",
			s.busy, s.rate, s.other, s.closed)
	}
	if len(r.flooders) > 0 {
		s := summarizeClients(r.flooders, secs)
		sent := 0
		for _, f := range r.flooders {
			sent += f.sent
		}
		fmt.Fprintf(w, "flooders: %.0f frames/s written (most wait in TCP buffers), %.1f image frames/s back in all; %d rate_limited notices; %d connections ended early\n",
			float64(sent)/secs, s.total, s.rate, s.closed)
	}
	if len(r.health) > 0 {
		st := summarize(r.health)
		fmt.Fprintf(w, "/healthz: p50 %s, p99 %s (%d probes, %d failed)\n", ms(st.p50), ms(st.p99), len(r.health), r.healthFailures)
	}
	if r.serverRSS > 0 {
		fmt.Fprintf(w, "server: RSS %.0f MiB, %.0f frames rendered since start\n", r.serverRSS/(1<<20), r.serverFrames)
	}
}

type clientSummary struct {
	total, min, median, max float64
	lat                     []time.Duration
	busy, rate, other       int
	closed                  int
}

func summarizeClients(cs []clientResult, secs float64) clientSummary {
	var s clientSummary
	rates := make([]float64, 0, len(cs))
	for _, c := range cs {
		f := float64(c.frames) / secs
		rates = append(rates, f)
		s.total += f
		s.lat = append(s.lat, c.latencies...)
		s.busy += c.busy
		s.rate += c.rateLimited
		s.other += c.otherErrors
		if c.closed != "" {
			s.closed++
		}
	}
	slices.Sort(rates)
	s.min, s.max, s.median = rates[0], rates[len(rates)-1], rates[len(rates)/2]
	return s
}

// readLoop reads conn until it fails, handing each message and its arrival
// time to handle under mu, and records why the connection ended unless ctx did; the channel
// closes when it returns.
func readLoop(ctx context.Context, conn *websocket.Conn, mu *sync.Mutex, res *clientResult, handle func(typ int, data []byte, at time.Time)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					res.closed = err.Error()
					mu.Unlock()
				}
				return
			}
			at := time.Now() // before the lock: a frame's latency ends when it arrives
			mu.Lock()
			handle(typ, data, at)
			mu.Unlock()
		}
	}()
	return done
}
