package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Close codes the server sends (docs/protocol.md).
const (
	closeIdle   = 4000 // no client message for Config.IdleTimeout
	closeNoPong = 4001 // no pong (nor any frame) for two ping periods
)

// outQueue bounds the text frames (errors) waiting for the writer; beyond
// it errors are dropped, so a flood of bad messages cannot grow memory.
const outQueue = 32

// latePenalty is how long a session that exceeded its rate limit has its
// renders queued behind those of sessions that did not.
const latePenalty = 10 * time.Second

// maxBusyBackoff caps the retry wait after ErrBusy.
const maxBusyBackoff = time.Second

// session is one websocket connection. The handler goroutine reads and
// applies messages; one writer goroutine owns every write and does the
// rendering, so a render naturally coalesces everything that arrived while
// the previous one ran (latest wins).
type session struct {
	srv  *site
	conn *websocket.Conn
	log  *slog.Logger
	ip   netip.Addr

	mu     sync.Mutex // guards p and format
	p      *painter
	format byte

	dirty   chan struct{} // cap 1: "the state changed, render it"
	out     chan []byte   // text frames for the writer
	done    chan struct{} // closed when the session ends
	once    sync.Once
	lastMsg atomic.Int64 // unix nanos of the last client message
	// changedAt is when the oldest state change not yet shown arrived
	// (unix nanos, 0: none), for the stroke-to-frame latency metric.
	changedAt atomic.Int64
	// limitedAt is when the client last had to wait for its rate bucket
	// (unix nanos); for latePenalty after it, its renders queue last.
	limitedAt atomic.Int64

	// Writer-goroutine state: the features of the image being edited, so
	// the generator's head runs once per image, not once per stroke.
	feats    Features
	featsKey imageKey
	// original is the share token of featsKey's image without edits.
	original    string
	originalKey imageKey
}

// imageKey names one image of the model at one layer.
type imageKey struct {
	layer string
	id    int64
}

// originalToken is the token of snap's image without edits, for the
// client's "show the original" (docs/protocol.md); it is cached because a
// session sends it with every frame.
func (ss *session) originalToken(snap snapshot) string {
	key := imageKey{snap.layer.info.Name, snap.id}
	if ss.original == "" || ss.originalKey != key {
		tok, err := ss.srv.tokens.Encode(shareOf(ss.srv.info.Name, snap.layer, snap.id, nil, false))
		if err != nil {
			ss.log.Error("share token of the original", "err", err)
			return ""
		}
		ss.original, ss.originalKey = tok, key
	}
	return ss.original
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	// Reserve the slot before upgrading so concurrent handshakes cannot
	// overshoot MaxSessions.
	ip := s.clientAddr(r)
	c, bad := s.choose(r.URL.Query())
	s.mu.Lock()
	full := len(s.sessions) >= s.cfg.MaxSessions
	ipFull := s.perIP[ip] >= s.cfg.MaxSessionsPerIP
	closed := s.closed || s.draining
	ss := &session{srv: c.site, ip: ip, dirty: make(chan struct{}, 1), out: make(chan []byte, outQueue), done: make(chan struct{}), format: formatJPEG}
	refused := full || ipFull || closed
	if !refused {
		s.nextID++
		ss.log = s.log.With("session", s.nextID)
		s.sessions[ss] = struct{}{}
		s.perIP[ip]++
		s.sessWG.Add(1)
		s.metrics.sessions.Inc()
	}
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
		s.metrics.sessions.Dec()
		s.sessWG.Done()
	}

	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader already answered (403 for a foreign origin).
		s.log.Debug("websocket upgrade refused", "origin", r.Header.Get("Origin"), "err", err)
		if !refused {
			release()
		}
		return
	}
	if refused {
		code, reason := websocket.CloseTryAgainLater, "server full"
		switch {
		case closed:
			code, reason = websocket.CloseGoingAway, "server shutting down"
		case ipFull:
			reason = "too many sessions from your address"
		}
		s.metrics.refused.WithLabelValues(reason).Inc()
		s.log.Warn("websocket session refused", "reason", reason, "client", ip,
			"max_sessions", s.cfg.MaxSessions, "max_sessions_per_ip", s.cfg.MaxSessionsPerIP)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	defer release()
	// While a session's reads pause for its rate limit, what the client
	// keeps sending waits in this buffer; a small one makes TCP push back
	// at once instead of the kernel holding megabytes per connection.
	if tc, ok := conn.NetConn().(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	s.mu.Lock()
	ss.conn = conn
	closed = s.closed
	s.mu.Unlock()
	if closed {
		// Close ran between the reservation and the upgrade and could not
		// reach this connection yet (its once may already be spent).
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	ss.run(c.p, bad)
}

// run serves the session until the connection ends. It starts on p (a
// share token's painting) or, when p is nil, the model's default image;
// bad is why the address's token or model could not be used.
func (ss *session) run(p *painter, bad *protoError) {
	s := ss.srv
	ss.lastMsg.Store(time.Now().UnixNano())
	ss.out <- s.helloJSON
	if bad != nil {
		ss.log.Debug("session start with unusable state or model", "err", bad)
		ss.sendError(0, bad)
	}
	if p == nil {
		p = s.defaultPainter()
	}
	ss.p = p
	ss.markDirty()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer ss.recoverPanic()
		ss.writeLoop(ctx)
	}()
	code, reason := 0, ""
	func() {
		defer ss.recoverPanic()
		code, reason = ss.readLoop()
	}()
	cancel()
	ss.close(code, reason)
	wg.Wait()
	ss.log.Debug("session ended")
}

// recoverPanic turns a panic in a session goroutine (a bug, e.g. in an
// Engine) into an internal-error close of that one session, so the other
// sessions and the process keep running.
func (ss *session) recoverPanic() {
	if r := recover(); r != nil {
		ss.log.Error("session panic", "panic", r, "stack", string(debug.Stack()))
		ss.close(websocket.CloseInternalServerErr, "internal error")
	}
}

// close ends the session once: it sends a close frame with code and
// reason (when code is not 0) and closes the connection.
func (ss *session) close(code int, reason string) {
	ss.once.Do(func() {
		close(ss.done)
		ss.srv.mu.Lock()
		conn := ss.conn
		ss.srv.mu.Unlock()
		if conn == nil {
			return
		}
		if code != 0 {
			// A close frame is a courtesy; a peer that does not take it
			// within a second must not hold up shutdown.
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
				time.Now().Add(min(time.Second, ss.srv.cfg.WriteTimeout)))
		}
		conn.Close()
	})
}

func (ss *session) markDirty() {
	ss.changedAt.CompareAndSwap(0, time.Now().UnixNano())
	select {
	case ss.dirty <- struct{}{}:
	default:
	}
}

// sendError queues an error frame, dropping it when the queue is full:
// the client already has errors to read, and the state is unaffected.
func (ss *session) sendError(seq uint32, e *protoError) {
	msg, err := json.Marshal(struct {
		T       string `json:"t"`
		Seq     uint32 `json:"seq"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"error", seq, e.Code, e.Message})
	if err != nil {
		return
	}
	select {
	case ss.out <- msg:
	default:
		ss.log.Debug("error frame dropped: queue full", "code", e.Code)
	}
}

// readLoop applies client messages until the connection ends and returns
// the close code (0: none) and reason to end the session with.
func (ss *session) readLoop() (int, string) {
	cfg := ss.srv.cfg
	conn := ss.conn
	conn.SetReadLimit(cfg.ReadLimit)
	// A peer is alive while it answers pings (or talks); two ping periods
	// without either means the connection is dead.
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(2 * cfg.PingPeriod)) }
	alive()

	// Every frame a client sends, control frames included, costs a token
	// before the server looks at it, and an empty bucket pauses reading.
	tokens := newBucket(cfg.MessagesPerSecond, cfg.MessageBurst)
	var noticed time.Time
	take := func() bool {
		waited, ok := tokens.take(ss.done)
		if waited {
			ss.limitedAt.Store(time.Now().UnixNano())
			ss.srv.metrics.rateLimited.Inc()
			// One notice per second is enough for a client to slow down; a
			// notice per frame would itself be work for a flooder to cause.
			if now := time.Now(); now.Sub(noticed) >= time.Second {
				noticed = now
				ss.sendError(0, perr(codeRateLimited, "too many messages; slow down"))
			}
		}
		return ok
	}
	conn.SetPongHandler(func(string) error {
		take()
		alive()
		return nil
	})
	conn.SetPingHandler(func(data string) error {
		take()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteTimeout))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})

	for {
		typ, r, err := conn.NextReader()
		if err != nil {
			return ss.readEnd(err)
		}
		// Only the frame header has been read: the token is taken before
		// the payload is read or parsed.
		if !take() {
			return 0, ""
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return ss.readEnd(err)
		}
		now := time.Now()
		alive()
		ss.lastMsg.Store(now.UnixNano())
		if typ != websocket.TextMessage {
			ss.sendError(0, perr(codeBadMessage, "send JSON text frames"))
			continue
		}
		if !utf8.Valid(data) {
			ss.log.Info("session closed: text frame is not UTF-8")
			return websocket.CloseInvalidFramePayloadData, "text frame is not UTF-8"
		}
		m, seq, perrv := parseMessage(data)
		if perrv != nil {
			ss.sendError(seq, perrv)
			continue
		}
		if m.T == "format" {
			ss.setFormat(m)
			continue
		}
		ss.mu.Lock()
		changed, perrv := ss.p.apply(m)
		ss.mu.Unlock()
		if perrv != nil {
			ss.log.Debug("message rejected", "seq", seq, "code", perrv.Code, "msg", perrv.Message)
			ss.sendError(seq, perrv)
		}
		if changed {
			ss.markDirty()
		}
	}
}

// readEnd picks the close code for the error that ended reading.
func (ss *session) readEnd(err error) (int, string) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		ss.log.Info("session closed: message over read limit", "limit", ss.srv.cfg.ReadLimit)
		return websocket.CloseMessageTooBig, "message too big"
	case errors.As(err, &ce):
		// The peer closed; gorilla has already answered with its code.
		if ce.Code != websocket.CloseNormalClosure && ce.Code != websocket.CloseGoingAway && ce.Code != websocket.CloseNoStatusReceived {
			ss.log.Debug("session closed by peer", "code", ce.Code, "reason", ce.Text)
		}
		return 0, ""
	case errors.As(err, &ne) && ne.Timeout():
		ss.log.Info("session closed: no pong", "after", 2*ss.srv.cfg.PingPeriod)
		return closeNoPong, "no answer to pings"
	case strings.HasPrefix(err.Error(), "websocket: "):
		// A framing error: gorilla has already closed with 1002.
		ss.log.Info("session closed: websocket protocol error", "err", err)
		return 0, ""
	default:
		// EOF, reset: the connection is gone, nobody would read a close frame.
		ss.log.Debug("session read ended", "err", err)
		return 0, ""
	}
}

func (ss *session) setFormat(m *clientMsg) {
	var f byte
	switch {
	case m.Format != nil && *m.Format == "jpeg":
		f = formatJPEG
	case m.Format != nil && *m.Format == "png":
		f = formatPNG
	default:
		ss.sendError(0, perr(codeBadMessage, "format must be \"jpeg\" or \"png\""))
		return
	}
	ss.mu.Lock()
	ss.format = f
	ss.mu.Unlock()
	ss.markDirty()
}

// snapshot is what one render needs, copied under the lock. Edits are
// immutable, so sharing the slice is safe.
type snapshot struct {
	layer   *layerEnv
	id      int64
	edits   []*edit
	seq     uint32
	canUndo bool
	canRedo bool
	format  byte
	at      int64 // unix nanos when taken
	repair  bool
}

func (ss *session) snapshot() snapshot {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	p := ss.p
	return snapshot{layer: p.layer, id: p.id, edits: p.edits(), seq: p.seq,
		canUndo: p.canUndo(), canRedo: p.canRedo(), format: ss.format, at: time.Now().UnixNano(),
		repair: p.repairOn()}
}

func (ss *session) writeLoop(ctx context.Context) {
	srv := ss.srv
	cfg := srv.cfg
	ping := time.NewTicker(cfg.PingPeriod)
	defer ping.Stop()
	idle := time.NewTimer(cfg.IdleTimeout)
	defer idle.Stop()
	var retry <-chan time.Time
	backoff := cfg.BusyBackoff
	busyReported := false
	var frame bytes.Buffer

	// At most one render turn is requested at a time; the state is read
	// only when the turn comes, so it is the newest one.
	var pending *turn
	var requested time.Time
	defer func() {
		if pending != nil {
			srv.turns.cancel(pending)
		}
	}()
	late := func() bool { return time.Since(time.Unix(0, ss.limitedAt.Load())) < latePenalty }
	want := func() {
		if pending == nil {
			pending = srv.turns.requestSession(late)
			requested = time.Now()
		}
	}

	write := func(typ int, data []byte) bool {
		_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if err := ss.conn.WriteMessage(typ, data); err != nil {
			ss.log.Debug("session write failed", "err", err)
			ss.close(0, "")
			return false
		}
		return true
	}
	// render runs with a granted turn and gives it back before writing, so
	// a slow reader never holds a render slot.
	render := func() bool {
		srv.metrics.turnWait.Observe(time.Since(requested).Seconds())
		released := false
		release := func() {
			if !released {
				released = true
				srv.turns.done()
			}
		}
		defer release()
		snap := ss.snapshot()
		start := time.Now()
		img, err := ss.render(ctx, snap)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			if errors.Is(err, ErrBusy) {
				srv.metrics.busy.Inc()
				if !busyReported {
					ss.log.Warn("engine busy; will retry", "seq", snap.seq)
					ss.sendError(snap.seq, perr(codeBusy, "server busy; your image follows shortly"))
					busyReported = true
				}
				retry = time.After(backoff)
				backoff = min(2*backoff, maxBusyBackoff)
				return true
			}
			srv.metrics.renderErrors.Inc()
			ss.log.Error("render failed", "seq", snap.seq, "layer", snap.layer.info.Name, "id", snap.id, "err", err)
			ss.sendError(snap.seq, perr(codeInternal, "the image could not be rendered"))
			return true
		}
		busyReported, backoff, retry = false, cfg.BusyBackoff, nil
		if err := srv.encodeFrame(&frame, snap.format, snap.seq, img); err != nil {
			ss.log.Error("encoding frame", "err", err)
			ss.sendError(snap.seq, perr(codeInternal, "the image could not be encoded"))
			return true
		}
		srv.m.renderSeconds.Observe(time.Since(start).Seconds())
		release()
		tok, terr := srv.tokens.Encode(shareOf(srv.info.Name, snap.layer, snap.id, snap.edits, snap.repair))
		if terr != nil {
			// Every edit was validated against limits far inside the codec's,
			// so this is a bug, not bad input. A state message with an empty
			// token would make the client's share link and reconnect restore
			// nothing, so the frame is held back with an error instead.
			ss.log.Error("share token", "err", terr)
			ss.sendError(snap.seq, perr(codeInternal, "the painting could not be saved as a link"))
			return true
		}
		st, _ := json.Marshal(struct {
			T        string        `json:"t"`
			Seq      uint32        `json:"seq"`
			ID       int64         `json:"id"`
			Layer    string        `json:"layer"`
			State    string        `json:"state"`
			Original string        `json:"original,omitempty"`
			CanUndo  bool          `json:"can_undo"`
			CanRedo  bool          `json:"can_redo"`
			Edits    int           `json:"edits"`
			EditList []editSummary `json:"edit_list"`
			Repair   bool          `json:"repair"`
		}{"state", snap.seq, snap.id, snap.layer.info.Name, tok, ss.originalToken(snap), snap.canUndo, snap.canRedo,
			len(snap.edits), summarize(snap.edits, snap.layer.grid), snap.repair})
		if !write(websocket.TextMessage, st) || !write(websocket.BinaryMessage, frame.Bytes()) {
			return false
		}
		srv.m.frames.Inc()
		if t := ss.changedAt.Swap(0); t != 0 && t <= snap.at {
			srv.m.frameLatency.Observe(time.Since(time.Unix(0, t)).Seconds())
		} else if t != 0 {
			// A change arrived after the snapshot: its frame is still to come.
			ss.changedAt.CompareAndSwap(0, t)
		}
		return true
	}

	for {
		var turnReady chan struct{}
		if pending != nil {
			turnReady = pending.ready
		}
		// Queued text frames (hello, errors) go out before the next image so
		// a client reads an error before the frame that follows it.
		select {
		case msg := <-ss.out:
			if !write(websocket.TextMessage, msg) {
				return
			}
			continue
		default:
		}
		select {
		case <-ss.done:
			return
		case msg := <-ss.out:
			if !write(websocket.TextMessage, msg) {
				return
			}
		case <-ss.dirty:
			want()
		case <-retry:
			retry = nil
			want()
		case <-turnReady:
			pending = nil
			if !render() {
				return
			}
		case <-ping.C:
			if err := ss.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				ss.close(0, "")
				return
			}
		case <-idle.C:
			since := time.Since(time.Unix(0, ss.lastMsg.Load()))
			if since >= cfg.IdleTimeout {
				ss.log.Info("session closed: idle", "idle", since.Round(time.Second))
				ss.close(closeIdle, "idle timeout")
				return
			}
			idle.Reset(cfg.IdleTimeout - since)
		}
	}
}

// render produces the image of snap, running the generator's head only
// when the image or layer changed.
func (ss *session) render(ctx context.Context, snap snapshot) (*image.RGBA, error) {
	ctx, cancel := context.WithTimeout(ctx, ss.srv.cfg.RenderTimeout)
	defer cancel()
	if ss.feats == nil || ss.featsKey.layer != snap.layer.info.Name || ss.featsKey.id != snap.id {
		ss.feats = nil
		f, err := ss.srv.engine.Features(ctx, snap.layer.info.Name, snap.id)
		if err != nil {
			return nil, err
		}
		ss.feats = f
		ss.featsKey = imageKey{snap.layer.info.Name, snap.id}
		ss.log.Debug("image loaded", "layer", snap.layer.info.Name, "id", snap.id, "feature_bytes", f.SizeBytes())
	}
	return ss.srv.engine.Render(ctx, ss.feats, snap.layer.withRepair(snap.repair, snap.edits))
}
