package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ganpaint-go/ganpaint/report"
)

// ReportPages renders the dissection report's pages; the web package
// implements it. Errors wrapping report.ErrNotFound become 404.
type ReportPages interface {
	Index(w io.Writer) error
	Layer(w io.Writer, layer string) error
	// Unit renders a unit's page for image id; id < 0 means its top image.
	Unit(w io.Writer, layer string, unit int, id int64) error
	Editor(w io.Writer) error
}

// ReportImages renders the report's images by key; *report.Images is one.
// Errors wrapping report.ErrNotFound become 404, report.ErrBusy 503.
type ReportImages interface {
	Get(ctx context.Context, key string) ([]byte, string, error)
}

// ReportHandler serves the report under /report: pages at /, /{layer},
// /{layer}/unit/{unit} and /edit, images at /img/{version}/{key}. Image
// URLs carry the report's version, so their answers are cached for good.
type ReportHandler struct {
	pages   ReportPages
	images  ReportImages
	version string
	errs    errorPath
	router  chi.Router
	timeout time.Duration
}

// DefaultReportTimeout bounds one report image render when NewReportHandler
// is given no timeout.
const DefaultReportTimeout = time.Minute

// NewReportHandler builds the handler; version is the report's
// (report.Report.Version), the one its image links carry. timeout bounds one
// image render (0: DefaultReportTimeout); it should end before the HTTP
// server's write timeout, so that a slow render still gets its 503.
func NewReportHandler(pages ReportPages, images ReportImages, version string, timeout time.Duration, log *slog.Logger) (*ReportHandler, error) {
	if pages == nil || images == nil || version == "" {
		return nil, fmt.Errorf("%w: the report handler needs pages, images and a version", ErrConfig)
	}
	if timeout < 0 {
		return nil, fmt.Errorf("%w: negative report timeout", ErrConfig)
	}
	if timeout == 0 {
		timeout = DefaultReportTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	h := &ReportHandler{pages: pages, images: images, version: version, errs: errorPath{log: log}, timeout: timeout}
	r := chi.NewRouter()
	// HEAD like GET, as on the painter's routes: link checkers walk the
	// report's pages.
	getHead := func(pattern string, fn http.HandlerFunc) {
		r.Get(pattern, fn)
		r.Head(pattern, fn)
	}
	r.MethodNotAllowed(h.errs.methodNotAllowed(func(*http.Request) string { return "GET, HEAD" }))
	getHead("/", h.page(func(w io.Writer, r *http.Request) error { return pages.Index(w) }))
	getHead("/edit", h.page(func(w io.Writer, r *http.Request) error { return pages.Editor(w) }))
	getHead("/img/{version}/*", h.errs.handle(h.image))
	getHead("/{layer}", h.page(func(w io.Writer, r *http.Request) error { return pages.Layer(w, chi.URLParam(r, "layer")) }))
	getHead("/{layer}/unit/{unit}", h.page(func(w io.Writer, r *http.Request) error {
		unit, err := strconv.Atoi(chi.URLParam(r, "unit"))
		if err != nil {
			return report.ErrNotFound
		}
		id := int64(-1)
		if s := r.URL.Query().Get("id"); s != "" {
			if id, err = strconv.ParseInt(s, 10, 64); err != nil || id < 0 {
				return report.ErrNotFound
			}
		}
		return pages.Unit(w, chi.URLParam(r, "layer"), unit, id)
	}))
	h.router = r
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *ReportHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// page renders into a buffer first, so a failure is a clean error page.
func (h *ReportHandler) page(render func(w io.Writer, r *http.Request) error) http.HandlerFunc {
	return h.errs.handle(func(w http.ResponseWriter, r *http.Request) error {
		var buf bytes.Buffer
		if err := render(&buf, r); err != nil {
			return err
		}
		hd := w.Header()
		setCommonHeaders(hd)
		hd.Set("Content-Security-Policy", pageCSP+"frame-ancestors 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		_, _ = w.Write(buf.Bytes())
		return nil
	})
}

func (h *ReportHandler) image(w http.ResponseWriter, r *http.Request) error {
	if chi.URLParam(r, "version") != h.version {
		// A link from before the model or its dissection changed.
		return report.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	body, ctype, err := h.images.Get(ctx, chi.URLParam(r, "*"))
	if err != nil {
		return err
	}
	hd := w.Header()
	setCommonHeaders(hd)
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(body)
	return nil
}
