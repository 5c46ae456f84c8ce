package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the server sends (docs/protocol.md).
const (
	closeIdle = 4000 // no client message for Config.IdleTimeout
)

// outQueue bounds the text frames (errors) waiting for the writer; beyond
// it errors are dropped, so a flood of bad messages cannot grow memory.
const outQueue = 32

// maxBusyBackoff caps the retry wait after ErrBusy.
const maxBusyBackoff = time.Second

// session is one websocket connection. The handler goroutine reads and
// applies messages; one writer goroutine owns every write and does the
// rendering, so a render naturally coalesces everything that arrived while
// the previous one ran (latest wins).
type session struct {
	srv  *Server
	conn *websocket.Conn
	log  *slog.Logger

	mu     sync.Mutex // guards p and format
	p      *painter
	format byte

	dirty   chan struct{} // cap 1: "the state changed, render it"
	out     chan []byte   // text frames for the writer
	done    chan struct{} // closed when the session ends
	once    sync.Once
	lastMsg atomic.Int64 // unix nanos of the last client message

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
		tok, err := EncodeState(shareOf(ss.srv.info.Name, snap.layer, snap.id, nil))
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
	s.mu.Lock()
	full := len(s.sessions) >= s.cfg.MaxSessions
	closed := s.closed
	ss := &session{srv: s, dirty: make(chan struct{}, 1), out: make(chan []byte, outQueue), done: make(chan struct{}), format: formatJPEG}
	if !full && !closed {
		s.nextID++
		ss.log = s.log.With("session", s.nextID)
		s.sessions[ss] = struct{}{}
		s.sessWG.Add(1)
	}
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		s.sessWG.Done()
	}

	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader already answered (403 for a foreign origin).
		s.log.Debug("websocket upgrade refused", "origin", r.Header.Get("Origin"), "err", err)
		if !full && !closed {
			release()
		}
		return
	}
	if full || closed {
		code, reason := websocket.CloseTryAgainLater, "server full"
		if closed {
			code, reason = websocket.CloseGoingAway, "server shutting down"
		}
		s.log.Warn("websocket session refused", "reason", reason, "max_sessions", s.cfg.MaxSessions)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	defer release()
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
	ss.run(r.URL.Query().Get("state"))
}

// run serves the session until the connection ends.
func (ss *session) run(token string) {
	s := ss.srv
	ss.lastMsg.Store(time.Now().UnixNano())
	ss.out <- s.helloJSON
	p := s.defaultPainter()
	if token != "" {
		if tp, err := s.decodeShare(token); err != nil {
			ss.log.Debug("session start with unusable state", "err", err)
			ss.sendError(0, err)
		} else {
			p = tp
		}
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
	func() {
		defer ss.recoverPanic()
		ss.readLoop()
	}()
	cancel()
	ss.close(websocket.CloseNormalClosure, "")
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

func (ss *session) readLoop() {
	cfg := ss.srv.cfg
	conn := ss.conn
	conn.SetReadLimit(cfg.ReadLimit)
	// A peer is alive while it answers pings (or talks); two ping periods
	// without either means the connection is dead.
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(2 * cfg.PingPeriod)) }
	alive()
	conn.SetPongHandler(func(string) error { alive(); return nil })

	tokens := float64(cfg.MessageBurst)
	last := time.Now()
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				ss.log.Info("session closed: message over read limit", "limit", cfg.ReadLimit)
			} else if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				ss.log.Debug("session read ended", "err", err)
			}
			return
		}
		now := time.Now()
		alive()
		ss.lastMsg.Store(now.UnixNano())

		tokens = min(float64(cfg.MessageBurst), tokens+now.Sub(last).Seconds()*cfg.MessagesPerSecond)
		last = now
		if typ != websocket.TextMessage {
			ss.sendError(0, perr(codeBadMessage, "send JSON text frames"))
			continue
		}
		m, seq, perrv := parseMessage(data)
		if tokens < 1 {
			ss.sendError(seq, perr(codeRateLimited, "too many messages; slow down"))
			continue
		}
		tokens--
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
}

func (ss *session) snapshot() snapshot {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	p := ss.p
	return snapshot{layer: p.layer, id: p.id, edits: p.edits(), seq: p.seq,
		canUndo: p.canUndo(), canRedo: p.canRedo(), format: ss.format}
}

func (ss *session) writeLoop(ctx context.Context) {
	cfg := ss.srv.cfg
	ping := time.NewTicker(cfg.PingPeriod)
	defer ping.Stop()
	idle := time.NewTimer(cfg.IdleTimeout)
	defer idle.Stop()
	var retry <-chan time.Time
	backoff := cfg.BusyBackoff
	busyReported := false
	var frame bytes.Buffer

	write := func(typ int, data []byte) bool {
		_ = ss.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if err := ss.conn.WriteMessage(typ, data); err != nil {
			ss.log.Debug("session write failed", "err", err)
			ss.close(0, "")
			return false
		}
		return true
	}
	render := func() bool {
		snap := ss.snapshot()
		img, err := ss.render(ctx, snap)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			if errors.Is(err, ErrBusy) {
				if !busyReported {
					ss.log.Warn("engine busy; will retry", "seq", snap.seq)
					ss.sendError(snap.seq, perr(codeBusy, "server busy; your image follows shortly"))
					busyReported = true
				}
				retry = time.After(backoff)
				backoff = min(2*backoff, maxBusyBackoff)
				return true
			}
			ss.log.Error("render failed", "seq", snap.seq, "layer", snap.layer.info.Name, "id", snap.id, "err", err)
			ss.sendError(snap.seq, perr(codeInternal, "the image could not be rendered"))
			return true
		}
		busyReported, backoff, retry = false, cfg.BusyBackoff, nil
		tok, terr := EncodeState(shareOf(ss.srv.info.Name, snap.layer, snap.id, snap.edits))
		if terr != nil {
			// Every edit was validated against limits far inside the codec's,
			// so this is a bug, not bad input.
			ss.log.Error("share token", "err", terr)
		}
		st, _ := json.Marshal(struct {
			T        string        `json:"t"`
			Seq      uint32        `json:"seq"`
			ID       int64         `json:"id"`
			Layer    string        `json:"layer"`
			State    string        `json:"state"`
			Original string        `json:"original"`
			CanUndo  bool          `json:"can_undo"`
			CanRedo  bool          `json:"can_redo"`
			Edits    int           `json:"edits"`
			EditList []editSummary `json:"edit_list"`
		}{"state", snap.seq, snap.id, snap.layer.info.Name, tok, ss.originalToken(snap), snap.canUndo, snap.canRedo,
			len(snap.edits), summarize(snap.edits, snap.layer.grid)})
		if err := ss.srv.encodeFrame(&frame, snap.format, snap.seq, img); err != nil {
			ss.log.Error("encoding frame", "err", err)
			ss.sendError(snap.seq, perr(codeInternal, "the image could not be encoded"))
			return true
		}
		return write(websocket.TextMessage, st) && write(websocket.BinaryMessage, frame.Bytes())
	}

	for {
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
			if !render() {
				return
			}
		case <-retry:
			retry = nil
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
	return ss.srv.engine.Render(ctx, ss.feats, engineEdits(snap.edits))
}
