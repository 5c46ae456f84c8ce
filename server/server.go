// Package server is the painter's backend: the websocket painting sessions,
// the share-link renderer and the HTTP routes around the web UI.
//
// The wire protocol is documented in docs/protocol.md. The package talks to
// the generator and the dissection results only through the small Engine and
// Concepts interfaces defined here, so it is tested with fakes and wired to
// the real model in cmd/ganpaint.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ganpaint-go/ganpaint/painting"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/ganpaint-go/ganpaint/inference"
)

// ProtocolVersion is the "protocol" field of the hello message.
const ProtocolVersion = 1

// Hello is the model description sent as the first websocket message and by
// GET /api/model (without T).
type Hello struct {
	T            string         `json:"t,omitempty"`
	Protocol     int            `json:"protocol"`
	Model        HelloModel     `json:"model"`
	Image        HelloImage     `json:"image"`
	MaxID        int64          `json:"max_id"`
	SampleIDs    []int64        `json:"sample_ids"`
	DefaultLayer string         `json:"default_layer"`
	Layers       []HelloLayer   `json:"layers"`
	Concepts     []HelloConcept `json:"concepts"`
	Formats      []string       `json:"formats"`
	Format       string         `json:"format"`
	Limits       HelloLimits    `json:"limits"`
}

// HelloModel names the model.
type HelloModel struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

// HelloImage is the generated image size in pixels.
type HelloImage struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// HelloLayer is one paintable layer with its grid and, per concept, how many
// ranked units can be switched there.
type HelloLayer struct {
	Name     string         `json:"name"`
	Channels int            `json:"channels"`
	Width    int            `json:"width"`
	Height   int            `json:"height"`
	Concepts map[string]int `json:"concepts"`
	// Brushes lists, per concept, its brushes at this layer with their
	// strength steps (when the model has more than its IoU ranking).
	Brushes map[string]*HelloBrushes `json:"brushes,omitempty"`
	// Repair is how many artifact units the "repair" message switches off
	// at this layer; 0 (omitted) when the layer has no artifact ranking.
	Repair int `json:"repair,omitempty"`
}

// HelloConcept is one palette entry.
type HelloConcept struct {
	Name  string `json:"name"`
	Color string `json:"color"`
}

// HelloLimits are the Config limits a client must respect.
type HelloLimits struct {
	MaxUnits          int     `json:"max_units"`
	MaxRadius         int     `json:"max_radius"`
	MaxPoints         int     `json:"max_points"`
	MaxStrokePoints   int     `json:"max_stroke_points"`
	MaxEdits          int     `json:"max_edits"`
	MaxHistory        int     `json:"max_history"`
	MaxMessageBytes   int64   `json:"max_message_bytes"`
	MessagesPerSecond float64 `json:"messages_per_second"`
	MessageBurst      int     `json:"message_burst"`
	MaxStateBytes     int     `json:"max_state_bytes"`
}

// ErrNoConcepts is returned by New when no layer has any ranked concept, so
// nothing could be painted. It wraps ErrConfig, as every error of New does.
var ErrNoConcepts = fmt.Errorf("%w: no layer has concept rankings (run ganpaint dissect)", ErrConfig)

// maxImageSide keeps brush arithmetic exact in int64 (see paintPolyline).
const maxImageSide = 1 << 14

// Server is the painter's HTTP and websocket server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	errs     errorPath // text answers
	jsonErrs errorPath // {"error": message} answers
	pages    Pages
	static   http.Handler

	// sites are the models the server paints with, by name, and in the
	// order given (the default first); models.go chooses one per request.
	sites     map[string]*site
	siteOrder []*site
	def       *site

	cspPage   string
	cspEmbed  string
	origins   map[string]bool
	anyOrigin bool
	upgrader  websocket.Upgrader
	handler   http.Handler
	pngs      *pngCache
	tokens    painting.TokenEncoder // share tokens of every frame, with reused flate writers

	turns   *turns
	metrics *metrics

	compareSlots chan struct{} // /api/compare and /api/growth, over every model

	mu        sync.Mutex
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int // sessions per client address
	sessWG    sync.WaitGroup     // running session handlers
	closeDone chan struct{}      // closed when Close has finished
	nextID    uint64
	closed    bool
	draining  bool // Shutdown began: not ready, no new sessions
	httpSrv   *http.Server
}

// New checks cfg and the model description and builds a Server. Every
// error it returns wraps ErrConfig: the server cannot start as configured.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Pages == nil {
		return nil, fmt.Errorf("%w: Pages are required", ErrConfig)
	}
	if err := checkModelDeps(deps.ModelDeps); err != nil {
		return nil, err
	}
	// Limits that depend on the image size follow the default model.
	info := deps.Engine.Model()
	cfg = cfg.withDefaults(info.ImageWidth, info.ImageHeight)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, errs: errorPath{log: cfg.Logger}, jsonErrs: errorPath{log: cfg.Logger, json: true}, pages: deps.Pages,
		static: deps.Static, sites: map[string]*site{}, sessions: map[*session]struct{}{},
		origins: map[string]bool{}, closeDone: make(chan struct{}), pngs: newPNGCache(cfg.RenderCache),
		perIP: map[netip.Addr]int{}, turns: newTurns(cfg.RenderSlots),
		compareSlots: make(chan struct{}, cfg.MaxCompares),
	}
	s.metrics = newMetrics(func() float64 { return float64(s.turns.depth()) })
	for _, md := range append([]ModelDeps{deps.ModelDeps}, deps.Models...) {
		if err := s.addSite(md); err != nil {
			return nil, err
		}
	}
	if err := s.checkModelNames(); err != nil {
		return nil, err
	}
	s.def = s.siteOrder[0]
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			s.anyOrigin = true
		}
		s.origins[normalizeOrigin(o)] = true
	}
	s.cspPage = pageCSP + "frame-ancestors 'none'"
	anc := []string{"'self'"}
	for _, o := range cfg.FrameAncestors {
		anc = append(anc, strings.TrimSuffix(o, "/"))
	}
	s.cspEmbed = pageCSP + "frame-ancestors " + strings.Join(anc, " ")
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  16384,
		CheckOrigin:      s.checkOrigin,
		Error:            s.errs.upgradeError,
	}
	s.handler = s.routes()
	return s, nil
}

func (s *site) buildHello() error {
	info := s.info
	h := Hello{
		Protocol:  ProtocolVersion,
		Model:     HelloModel{Name: info.Name, Title: info.Title},
		Image:     HelloImage{Width: info.ImageWidth, Height: info.ImageHeight},
		MaxID:     info.MaxID,
		SampleIDs: []int64{},
		Formats:   []string{"jpeg", "png"},
		Format:    "jpeg",
		Limits: HelloLimits{
			MaxUnits: s.cfg.MaxUnits, MaxRadius: s.cfg.MaxRadius, MaxPoints: s.cfg.MaxPoints,
			MaxStrokePoints: s.cfg.MaxStrokePoints, MaxEdits: s.cfg.MaxEdits, MaxHistory: s.cfg.MaxHistory,
			MaxMessageBytes: s.cfg.ReadLimit, MessagesPerSecond: s.cfg.MessagesPerSecond, MessageBurst: s.cfg.MessageBurst,
			MaxStateBytes: painting.MaxShareBody,
		},
	}
	for _, id := range info.SampleIDs {
		if id >= 0 && id < info.MaxID {
			h.SampleIDs = append(h.SampleIDs, id)
		}
	}
	list := s.concepts.List()
	seen := map[string]bool{}
	for _, c := range list {
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("%w: concept list has an empty or repeated name %q", ErrConfig, c.Name)
		}
		seen[c.Name] = true
		h.Concepts = append(h.Concepts, HelloConcept{Name: c.Name, Color: c.Color})
	}
	for _, li := range info.Layers {
		if li.Width <= 0 || li.Height <= 0 {
			return fmt.Errorf("%w: layer %q has grid %d×%d", ErrConfig, li.Name, li.Width, li.Height)
		}
		hl := HelloLayer{Name: li.Name, Channels: li.Channels, Width: li.Width, Height: li.Height, Concepts: map[string]int{}}
		for _, c := range list {
			ranked := s.concepts.Ranked(li.Name, c.Name)
			for _, u := range ranked {
				if u < 0 || (li.Channels > 0 && u >= li.Channels) {
					return fmt.Errorf("%w: concept %q at layer %q ranks unit %d of %d", ErrConfig, c.Name, li.Name, u, li.Channels)
				}
			}
			if len(ranked) > 0 {
				hl.Concepts[c.Name] = len(ranked)
				if hb := helloBrushes(s.brushesOf(li.Name, c.Name)); hb != nil {
					if hl.Brushes == nil {
						hl.Brushes = map[string]*HelloBrushes{}
					}
					hl.Brushes[c.Name] = hb
				}
			}
		}
		if len(hl.Concepts) == 0 {
			continue
		}
		env := &layerEnv{info: li, index: len(s.layers), grid: grid{imageW: info.ImageWidth, imageH: info.ImageHeight, cols: li.Width, rows: li.Height}}
		if s.artifacts != nil {
			if err := env.setRepair(s.artifacts.Repair(li.Name)); err != nil {
				return err
			}
			hl.Repair = len(env.repair)
		}
		s.layers[li.Name] = env
		h.Layers = append(h.Layers, hl)
	}
	if len(h.Layers) == 0 {
		return ErrNoConcepts
	}
	s.defaultLayer = h.Layers[0].Name
	if _, ok := s.layers[info.DefaultLayer]; ok {
		s.defaultLayer = info.DefaultLayer
	}
	h.DefaultLayer = s.defaultLayer
	if len(h.SampleIDs) > 0 {
		s.defaultID = h.SampleIDs[0]
	}
	s.hello = h
	h.T = "hello"
	var err error
	if s.helloJSON, err = json.Marshal(h); err != nil {
		return err
	}
	h.T = ""
	s.modelJSON, err = json.Marshal(h)
	return err
}

// Hello returns the default model's description (without T).
func (s *Server) Hello() Hello { return s.def.hello }

// Config returns the effective configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the server's routes, e.g. for httptest.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.accessLog, s.recoverer)
	// HEAD is answered like GET without the body (link checkers and
	// monitors use it), except on /ws, which only upgrades.
	getHead := func(pattern string, h http.HandlerFunc) {
		r.Get(pattern, h)
		r.Head(pattern, h)
	}
	getHead("/", s.errs.handle(s.handlePage(false)))
	getHead("/embed", s.errs.handle(s.handlePage(true)))
	r.Get("/ws", s.handleWS)
	getHead("/render.png", s.errs.handle(s.handleRender))
	getHead("/api/model", s.jsonErrs.handle(s.handleModel))
	getHead("/api/compare", s.jsonErrs.handle(s.handleCompare))
	getHead("/api/growth", s.jsonErrs.handle(s.handleGrowth))
	getHead("/healthz", s.handleHealth)
	getHead("/readyz", s.handleReady)
	metrics := s.metrics.handler()
	getHead("/metrics", metrics.ServeHTTP)
	if s.static != nil {
		getHead("/static/*", s.static.ServeHTTP)
	}
	// The route table here is small and fixed: every route takes GET and
	// HEAD but /ws, which only upgrades.
	r.MethodNotAllowed(s.errs.methodNotAllowed(func(r *http.Request) string {
		if r.URL.Path == "/ws" {
			return "GET"
		}
		return "GET, HEAD"
	}))
	s.mountModels(r)
	return r
}

// handleHealth is the liveness probe: the process answers HTTP.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setCommonHeaders(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReady is the readiness probe: the model is loaded (New succeeded)
// and the server is not draining, so a load balancer may send new users.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setCommonHeaders(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	s.mu.Lock()
	draining := s.draining || s.closed
	s.mu.Unlock()
	if draining {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// recoverer answers 500 and logs the stack when a handler panics (a bug),
// instead of net/http's bare connection drop and unstructured log line.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// Logged once, by the error path, with the stack.
				s.errs.write(w, r, &panicError{v: v, stack: debug.Stack()})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Serve answers HTTP on ln until ctx is cancelled or Close is called; both
// end with a nil error after the sessions are closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.HTTPReadTimeout,
		WriteTimeout:      s.cfg.HTTPWriteTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.httpSrv != nil {
		s.mu.Unlock()
		return errors.New("server: Serve called twice")
	}
	s.httpSrv = hs
	s.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-s.closeDone
		return nil
	}
	return err
}

// Close drains the server: /readyz turns 503 and new sessions are refused,
// the listener closes, running HTTP requests get up to DrainTimeout to
// finish, and every session is closed with code 1001 (its client reconnects
// with its state token, to another replica behind a load balancer). It
// waits for the sessions, so the caller may close the model afterwards. It
// is safe to call twice; cancelling Serve's context calls it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.draining = true
	hs := s.httpSrv
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	defer close(s.closeDone)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var err error
	if hs != nil {
		// Stop accepting and let running requests (a /render.png) finish.
		err = hs.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = hs.Close()
		}
	}
	var closing sync.WaitGroup
	for _, ss := range sessions {
		closing.Add(1)
		go func() {
			defer closing.Done()
			ss.close(websocket.CloseGoingAway, "server shutting down")
		}()
	}
	closing.Wait()
	// Hijacked websocket connections are not covered by Shutdown.
	waited := make(chan struct{})
	go func() {
		s.sessWG.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		s.log.Warn("sessions still running after shutdown timeout")
	}
	return err
}

// checkOrigin allows clients without an Origin (not browsers), the page's
// own host and the configured origins.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || s.anyOrigin {
		return true
	}
	if s.origins[normalizeOrigin(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicBaseURL != "" {
		return strings.TrimSuffix(s.cfg.PublicBaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) handlePage(embed bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		base := s.baseURL(r)
		c, bad := s.choose(r.URL.Query())
		st := c.site
		data := PageData{Hello: st.hello, WSPath: "/ws" + st.modelQuery(), BaseURL: base, Embed: embed,
			ReportURL: st.reportPath(), Models: s.modelChoices(st)}
		if st.comparer != nil {
			data.ComparePath = "/api/compare"
		}
		if st.growth != nil {
			data.GrowthPath = "/api/growth"
		}
		if !embed {
			data.Custom, data.CustomError = st.pageCustom(r.URL.Query())
		}
		switch {
		case bad != nil && bad.Code == codeUnknownModel:
			data.ModelError = bad.Message
			s.log.Debug("page for a model this server does not have", "path", r.URL.Path, "err", bad)
		case bad != nil:
			data.StateError = bad.Message
			s.log.Debug("page with unusable state", "path", r.URL.Path, "err", bad)
		case c.p != nil:
			data.State = r.URL.Query().Get("state")
			data.Painting = paintingOf(c.p)
		}
		q := st.modelQuery()
		if data.State != "" {
			q = "?state=" + url.QueryEscape(data.State)
		}
		data.PainterURL = base + "/" + q
		k := previewScale(st.info.ImageWidth, st.info.ImageHeight)
		data.ImageURL = base + "/render.png" + q
		data.ImageWidth, data.ImageHeight = st.info.ImageWidth*k, st.info.ImageHeight*k
		if k > 1 {
			sep := "?"
			if q != "" {
				sep = "&"
			}
			data.ImageURL += sep + "size=" + strconv.Itoa(max(data.ImageWidth, data.ImageHeight))
		}
		if embed {
			data.PageURL = base + "/embed" + q
		} else {
			data.PageURL = data.PainterURL
		}

		var buf bytes.Buffer
		var err error
		if embed {
			err = s.pages.Embed(&buf, data)
		} else {
			err = s.pages.Painter(&buf, data)
		}
		if err != nil {
			return fmt.Errorf("rendering the page (embed %v): %w", embed, err)
		}
		h := w.Header()
		setCommonHeaders(h)
		if embed {
			h.Set("Content-Security-Policy", s.cspEmbed)
		} else {
			h.Set("Content-Security-Policy", s.cspPage)
			h.Set("X-Frame-Options", "DENY")
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(buf.Bytes())
		return nil
	}
}

// pageCSP lets the pages load only their own hashed assets, images
// (/render.png thumbnails, blob: frames) and websocket; the pages carry no
// inline script or style, so nothing else is needed. frame-ancestors follows.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; "

// setCommonHeaders are the headers of every answer.
func setCommonHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) error {
	c, bad := s.choose(r.URL.Query())
	if bad != nil {
		return restError(bad)
	}
	h := w.Header()
	setCommonHeaders(h)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(c.site.modelJSON)
	return nil
}

// decodeShare decodes and validates a token against this model.
func (s *site) decodeShare(tok string) (*painter, *protoError) {
	st, err := painting.DecodeState(tok)
	if err != nil {
		return nil, perr(codeBadState, "%s", err.Error())
	}
	return s.painterFromShare(st)
}

func (s *Server) handleRender(w http.ResponseWriter, r *http.Request) error {
	setCommonHeaders(w.Header())
	c, bad := s.choose(r.URL.Query())
	if bad != nil {
		s.log.Debug("render.png with unusable state", "err", bad)
		return restError(bad)
	}
	st := c.site
	scale, serr := renderScale(r.URL.Query().Get("size"), st.info.ImageWidth, st.info.ImageHeight)
	if serr != nil {
		return httpErr(http.StatusBadRequest, "%s", serr.Error())
	}
	p := c.p
	if p == nil {
		p = st.defaultPainter()
	}
	key, kerr := painting.Body(shareOf(st.info.Name, p.layer, p.id, p.edits(), p.repairOn()))
	key = fmt.Appendf(key, "\x00%d", scale)
	if kerr == nil {
		if b, ok := s.pngs.get(string(key)); ok {
			st.m.png["cached"].Inc()
			writePNG(w, b)
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RenderTimeout)
	defer cancel()
	img, err := st.renderPainter(ctx, p)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			st.m.png["busy"].Inc()
			s.metrics.busy.Inc()
			return err
		}
		if r.Context().Err() == nil {
			s.metrics.renderErrors.Inc()
		}
		st.m.png["error"].Inc()
		return fmt.Errorf("render.png: %w", err)
	}
	st.m.png["rendered"].Inc()
	var buf bytes.Buffer
	if err := encodePNG(&buf, upscale(img, scale)); err != nil {
		return fmt.Errorf("render.png encode: %w", err)
	}
	if kerr == nil {
		s.pngs.put(string(key), buf.Bytes())
	}
	writePNG(w, buf.Bytes())
	return nil
}

func writePNG(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "image/png")
	// The token fully determines the image for a given model.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}

// Image frame formats (byte 4 of the frame header).
const (
	formatJPEG byte = 1
	formatPNG  byte = 2
)

// frameMagic starts every binary image frame.
const frameMagic = "GPF1"

// The frame header: magic, format byte, 3 reserved bytes, seq (uint32
// big-endian), then the encoded image.
const (
	frameFormatOffset = 4
	frameSeqOffset    = 8
	frameHeaderLen    = 12
)

// maxSeq is the largest seq (and stroke id) a client may send.
const maxSeq = math.MaxUint32

// encodePNG is the one PNG encoding used for frames and /render.png, and it
// is the engine's encoder that `ganpaint render` also uses, so all three give
// identical bytes for identical pixels. For the opaque frames the engine
// makes it is an order of magnitude faster than image/png at default
// compression, with smaller output (docs/performance.md).
func encodePNG(buf *bytes.Buffer, img image.Image) error {
	return inference.EncodePNG(buf, img)
}

// encodeFrame builds a binary frame: header then the encoded image.
func (s *Server) encodeFrame(buf *bytes.Buffer, format byte, seq uint32, img image.Image) error {
	buf.Reset()
	buf.WriteString(frameMagic)
	buf.Write([]byte{format, 0, 0, 0, byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)})
	name := inference.FormatJPEG
	if format == formatPNG {
		name = inference.FormatPNG
	}
	return inference.EncodeImage(buf, img, name, s.cfg.JPEGQuality)
}
