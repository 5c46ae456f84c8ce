package server

import (
	"bufio"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// statusWriter remembers the status and size of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Hijack hands the connection to the websocket upgrader, which looks
// for http.Hijacker on the writer itself.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController (and the websocket upgrader's
// hijack) reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one line per request to Config.AccessLog and counts it
// in the metrics by route pattern (not path, which would be unbounded).
// The query is left out: it holds share tokens, which can be long.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusSwitchingProtocols // hijacked by the websocket upgrade
		}
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "other"
		}
		s.metrics.requests.WithLabelValues(route, statusClass(status)).Inc()
		if s.cfg.AccessLog != nil {
			s.cfg.AccessLog.Info("http", "method", r.Method, "path", r.URL.Path, "status", status,
				"bytes", sw.bytes, "duration", time.Since(start).Round(time.Microsecond),
				"client", s.clientAddr(r).String(), "user_agent", r.UserAgent())
		}
	})
}

func statusClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}
