package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
)

// httpError is a failure the client is told about as it is: a status and a
// message that is safe to show.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func httpErr(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// panicError is a handler's panic: a bug, answered 500 and logged with its
// stack even when the client has gone meanwhile.
type panicError struct {
	v     any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panic: %v\n%s", e.v, e.stack) }

// handlerFunc is an HTTP handler that returns its failure instead of
// writing it, so that every route answers and logs errors the same way.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// errorPath is the one way the HTTP routes answer a failure: the painter's
// routes, the report and the REST API differ only in the body (text or
// {"error": message}) and the logger.
type errorPath struct {
	log  *slog.Logger
	json bool
}

// handle adapts h to net/http.
func (p errorPath) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			p.write(w, r, err)
		}
	}
}

// errorStatus maps an error to what the client sees. Status 0 means the
// client has gone, so nobody reads an answer.
func errorStatus(r *http.Request, err error) (int, string) {
	var he *httpError
	var pe *panicError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &pe):
		return http.StatusInternalServerError, "internal error"
	case errors.Is(err, ErrBusy), errors.Is(err, inference.ErrBusy), errors.Is(err, report.ErrBusy):
		return http.StatusServiceUnavailable, "busy, try again"
	case errors.Is(err, report.ErrNotFound):
		return http.StatusNotFound, "not found: " + err.Error()
	case r.Context().Err() != nil:
		return 0, ""
	case errors.Is(err, context.DeadlineExceeded):
		// The route's own render timeout, not the client's: the server is
		// too loaded to answer in time, which a retry may not meet.
		return http.StatusServiceUnavailable, "the server took too long, try again"
	}
	return http.StatusInternalServerError, "internal error"
}

// write answers err. Internal errors (a bug or a broken model) are logged
// here and nowhere else; what the client caused or the load explains is not.
func (p errorPath) write(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := errorStatus(r, err)
	if status == 0 {
		p.log.Debug("client gone", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	if status >= http.StatusInternalServerError && status != http.StatusServiceUnavailable {
		p.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	h := w.Header()
	setCommonHeaders(h)
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	if !p.json {
		http.Error(w, msg, status)
		return
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// methodNotAllowed is a router's 405 answer on this error path. chi keeps
// the methods it found for the path to itself when a custom handler is set,
// so allow names them for the request (RFC 9110 requires the header).
func (p errorPath) methodNotAllowed(allow func(r *http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow(r))
		p.write(w, r, httpErr(http.StatusMethodNotAllowed, "method %s not allowed here", r.Method))
	}
}

// upgradeError is the websocket upgrader's Error hook on this error path.
// gorilla's reasons below 500 are fixed texts about the handshake the client
// sent (no origin, bad key, wrong version), safe and useful to show; a 500
// (the connection could not be hijacked) is ours and logged as internal.
func (p errorPath) upgradeError(w http.ResponseWriter, r *http.Request, status int, reason error) {
	// What gorilla's default hook sends, so a client with another
	// protocol version learns the one spoken here (RFC 6455, 4.4).
	w.Header().Set("Sec-Websocket-Version", "13")
	if status >= http.StatusInternalServerError {
		p.write(w, r, fmt.Errorf("websocket upgrade: %w", reason))
		return
	}
	p.write(w, r, httpErr(status, "%v", reason))
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error: encoding the answer"}`)
	}
	h := w.Header()
	setCommonHeaders(h)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}
