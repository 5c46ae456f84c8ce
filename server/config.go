package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"time"
)

// Config tunes the painter server. The zero value of every field means its
// documented default, so Config{} is a working configuration.
type Config struct {
	// MaxSessions bounds concurrent websocket sessions; a client beyond it is
	// closed with code 1013 "server full". Default 64.
	MaxSessions int
	// MaxSessionsPerIP bounds the sessions of one client address (one /64
	// for IPv6), so one client cannot take every slot; beyond it the client
	// is closed with code 1013 "too many sessions from your address". A class
	// behind one NAT address needs this raised. Default 8.
	MaxSessionsPerIP int
	// TrustedProxies are the reverse proxies (CIDR prefixes, e.g.
	// 10.0.0.0/8) whose X-Forwarded-For header names the client: the client
	// address is the rightmost X-Forwarded-For entry that is not itself a
	// trusted proxy. Default none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// RenderSlots is how many renders run at once; sessions take turns for
	// them in arrival order (each session at most one turn at a time), so
	// under overload every session gets the same share. Match it to the
	// engine's workers. Default: the number of CPUs.
	RenderSlots int
	// MaxRenderWaiting bounds the GET /render.png requests waiting for a
	// render slot; beyond it they get 503 at once. Default 4 × RenderSlots.
	MaxRenderWaiting int
	// MaxEdits bounds the edits in one state (strokes + erase_all). Default 200.
	MaxEdits int
	// MaxHistory bounds the undo steps kept per session. Default 100.
	MaxHistory int
	// MaxUnits bounds the units one edit may switch. Default 64.
	MaxUnits int
	// MaxRadius bounds the brush radius in image pixels. Default: half the
	// image's larger side.
	MaxRadius int
	// MaxPoints bounds the points of one stroke message. Default 1024.
	MaxPoints int
	// MaxStrokePoints bounds the points of one stroke including all its
	// continued parts. Default 4096.
	MaxStrokePoints int
	// IdleTimeout closes a session that sent no message for this long
	// (close code 4000). Default 10 minutes.
	IdleTimeout time.Duration
	// ReadLimit is the largest client message in bytes; a larger one closes
	// the connection with code 1009. Default 65536.
	ReadLimit int64
	// WriteTimeout bounds each websocket write. Default 10 s.
	WriteTimeout time.Duration
	// PingPeriod is how often the server pings; a peer that does not answer
	// within two periods is dropped. Default 30 s.
	PingPeriod time.Duration
	// MessagesPerSecond and MessageBurst form each session's token bucket;
	// messages beyond it get a rate_limited error. Defaults 60 and 120.
	MessagesPerSecond float64
	MessageBurst      int
	// AllowedOrigins are extra browser origins ("https://course.example.edu")
	// allowed to open the websocket besides the page's own host. "*" allows
	// any origin. Default none.
	AllowedOrigins []string
	// FrameAncestors are the origins allowed to frame /embed, on top of
	// 'self'. "*" allows any site. The painter page itself is never framable.
	// Default none (only 'self').
	FrameAncestors []string
	// JPEGQuality of image frames, 1–100. Default 90.
	JPEGQuality int
	// PublicBaseURL is the absolute site root used in share links and
	// og:image ("https://paint.example.org"). Default: derived from each
	// request's Host header (http, or https when the request came over TLS).
	PublicBaseURL string
	// BusyBackoff is the first wait before re-rendering after the engine
	// said busy; it doubles up to 1 s. Default 50 ms.
	BusyBackoff time.Duration
	// RenderTimeout bounds one render. Default 30 s.
	RenderTimeout time.Duration
	// RenderWait is how long GET /render.png keeps retrying while the
	// engine is busy before answering 503. Default 3 s.
	RenderWait time.Duration
	// RenderCache is how many /render.png images are kept in memory
	// (typically 10–60 KB each). Default 128; negative disables the cache.
	RenderCache int
	// ReadHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout and
	// HTTPIdleTimeout bound an HTTP connection: reading a request's header,
	// the whole request, writing the response (a client that never reads
	// cannot hold a connection and a handler longer than this) and waiting
	// for the next keep-alive request. A websocket sets its own deadlines
	// after the upgrade. Defaults 5 s, 10 s, 30 s and 2 minutes;
	// HTTPWriteTimeout must exceed RenderWait.
	ReadHeaderTimeout time.Duration
	HTTPReadTimeout   time.Duration
	HTTPWriteTimeout  time.Duration
	HTTPIdleTimeout   time.Duration
	// DrainTimeout is how long Shutdown waits for running requests and
	// sessions to finish before closing them. Default 10 s.
	DrainTimeout time.Duration
	// MaxCompares is how many GET /api/compare requests run at once (each
	// runs the generator, the segmenter and three inpainting methods);
	// more get 503. Default 2.
	MaxCompares int
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// AccessLog receives one line per HTTP request (method, path without
	// query, status, bytes, duration, client). Default: none.
	AccessLog *slog.Logger
}

// Defaults used for zero fields of Config.
const (
	DefaultMaxSessions       = 64
	DefaultMaxEdits          = 200
	DefaultMaxHistory        = 100
	DefaultMaxUnits          = 64
	DefaultMaxPoints         = 1024
	DefaultMaxStrokePoints   = 4096
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultReadLimit         = 64 << 10
	DefaultWriteTimeout      = 10 * time.Second
	DefaultPingPeriod        = 30 * time.Second
	DefaultMessagesPerSecond = 60
	DefaultMessageBurst      = 120
	DefaultJPEGQuality       = 90
	DefaultBusyBackoff       = 50 * time.Millisecond
	DefaultRenderTimeout     = 30 * time.Second
	DefaultRenderCache       = 128
	DefaultRenderWait        = 3 * time.Second
	DefaultMaxSessionsPerIP  = 8
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultHTTPReadTimeout   = 10 * time.Second
	DefaultHTTPWriteTimeout  = 30 * time.Second
	DefaultHTTPIdleTimeout   = 2 * time.Minute
	DefaultDrainTimeout      = 10 * time.Second
	DefaultMaxCompares       = 2
)

// DefaultMaxRadius is Config.MaxRadius's default for an image of w×h
// pixels: half its longer side, so one click can cover the whole image.
func DefaultMaxRadius(w, h int) int { return max(1, max(w, h)/2) }

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("server: bad config")

// withDefaults returns c with zero fields set to their defaults; imageW/H size
// the default brush radius.
func (c Config) withDefaults(imageW, imageH int) Config {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&c.MaxSessions, DefaultMaxSessions)
	setInt(&c.MaxEdits, DefaultMaxEdits)
	setInt(&c.MaxHistory, DefaultMaxHistory)
	setInt(&c.MaxUnits, DefaultMaxUnits)
	setInt(&c.MaxRadius, DefaultMaxRadius(imageW, imageH))
	setInt(&c.MaxPoints, DefaultMaxPoints)
	setInt(&c.MaxStrokePoints, DefaultMaxStrokePoints)
	setInt(&c.MessageBurst, DefaultMessageBurst)
	setInt(&c.JPEGQuality, DefaultJPEGQuality)
	setInt(&c.RenderCache, DefaultRenderCache)
	setInt(&c.MaxSessionsPerIP, DefaultMaxSessionsPerIP)
	setInt(&c.RenderSlots, runtime.NumCPU())
	setInt(&c.MaxRenderWaiting, 4*c.RenderSlots)
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.HTTPReadTimeout, DefaultHTTPReadTimeout)
	setDur(&c.HTTPWriteTimeout, DefaultHTTPWriteTimeout)
	setDur(&c.HTTPIdleTimeout, DefaultHTTPIdleTimeout)
	setDur(&c.DrainTimeout, DefaultDrainTimeout)
	setInt(&c.MaxCompares, DefaultMaxCompares)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.PingPeriod, DefaultPingPeriod)
	setDur(&c.BusyBackoff, DefaultBusyBackoff)
	setDur(&c.RenderTimeout, DefaultRenderTimeout)
	setDur(&c.RenderWait, DefaultRenderWait)
	if c.ReadLimit == 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond = DefaultMessagesPerSecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports the first nonsensical field of a defaulted Config.
func (c Config) validate() error {
	type pos struct {
		name string
		v    int64
	}
	for _, p := range []pos{
		{"MaxSessions", int64(c.MaxSessions)}, {"MaxEdits", int64(c.MaxEdits)},
		{"MaxHistory", int64(c.MaxHistory)}, {"MaxUnits", int64(c.MaxUnits)},
		{"MaxRadius", int64(c.MaxRadius)}, {"MaxPoints", int64(c.MaxPoints)},
		{"MaxStrokePoints", int64(c.MaxStrokePoints)}, {"MessageBurst", int64(c.MessageBurst)},
		{"ReadLimit", c.ReadLimit}, {"IdleTimeout", int64(c.IdleTimeout)},
		{"WriteTimeout", int64(c.WriteTimeout)}, {"PingPeriod", int64(c.PingPeriod)},
		{"BusyBackoff", int64(c.BusyBackoff)}, {"RenderTimeout", int64(c.RenderTimeout)},
		{"RenderWait", int64(c.RenderWait)}, {"MaxSessionsPerIP", int64(c.MaxSessionsPerIP)},
		{"RenderSlots", int64(c.RenderSlots)}, {"MaxRenderWaiting", int64(c.MaxRenderWaiting)},
		{"ReadHeaderTimeout", int64(c.ReadHeaderTimeout)}, {"HTTPReadTimeout", int64(c.HTTPReadTimeout)},
		{"HTTPWriteTimeout", int64(c.HTTPWriteTimeout)}, {"HTTPIdleTimeout", int64(c.HTTPIdleTimeout)},
		{"DrainTimeout", int64(c.DrainTimeout)},
		{"MaxCompares", int64(c.MaxCompares)},
	} {
		if p.v < 0 {
			return fmt.Errorf("%w: %s must not be negative", ErrConfig, p.name)
		}
	}
	if c.MessagesPerSecond < 0 {
		return fmt.Errorf("%w: MessagesPerSecond must not be negative", ErrConfig)
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		return fmt.Errorf("%w: JPEGQuality %d is not in 1..100", ErrConfig, c.JPEGQuality)
	}
	if c.MaxStrokePoints < c.MaxPoints {
		return fmt.Errorf("%w: MaxStrokePoints %d is below MaxPoints %d", ErrConfig, c.MaxStrokePoints, c.MaxPoints)
	}
	if c.HTTPWriteTimeout <= c.RenderWait {
		return fmt.Errorf("%w: HTTPWriteTimeout %v must exceed RenderWait %v", ErrConfig, c.HTTPWriteTimeout, c.RenderWait)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return fmt.Errorf("%w: TrustedProxies holds an invalid prefix", ErrConfig)
		}
	}
	if c.ReadLimit < 1024 {
		return fmt.Errorf("%w: ReadLimit %d is below 1024 bytes", ErrConfig, c.ReadLimit)
	}
	for _, o := range c.AllowedOrigins {
		if err := checkOriginSyntax(o); err != nil {
			return fmt.Errorf("%w: AllowedOrigins: %v", ErrConfig, err)
		}
	}
	for _, o := range c.FrameAncestors {
		if err := checkOriginSyntax(o); err != nil {
			return fmt.Errorf("%w: FrameAncestors: %v", ErrConfig, err)
		}
	}
	if c.PublicBaseURL != "" {
		u, err := url.Parse(c.PublicBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%w: PublicBaseURL %q is not an absolute http(s) URL", ErrConfig, c.PublicBaseURL)
		}
	}
	return nil
}

// checkOriginSyntax accepts "*" or scheme://host[:port] with nothing else,
// because these strings go verbatim into a CSP header and an origin match.
func checkOriginSyntax(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.ContainsAny(o, " ;,'\"") {
		return fmt.Errorf("%q is not an origin like https://example.org", o)
	}
	return nil
}

// normalizeOrigin lower-cases an origin and drops a trailing slash so that
// configured and browser-sent origins compare equal.
func normalizeOrigin(o string) string {
	return strings.TrimSuffix(strings.ToLower(o), "/")
}
