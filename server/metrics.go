package server

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series. Each Server has its own
// registry, so tests and several servers in one process do not collide.
type metrics struct {
	reg           *prometheus.Registry
	sessions      prometheus.Gauge
	refused       *prometheus.CounterVec
	frames        *prometheus.CounterVec
	frameLatency  *prometheus.HistogramVec
	renderSeconds *prometheus.HistogramVec
	turnWait      prometheus.Histogram
	busy          prometheus.Counter
	rateLimited   prometheus.Counter
	renderErrors  prometheus.Counter
	pngRenders    *prometheus.CounterVec
	analysis      *prometheus.CounterVec
	requests      *prometheus.CounterVec
}

// latencyBuckets span a cached hit (1 ms) to an overloaded server (10 s).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(queueDepth func() float64) *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		reg: reg,
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ganpaint_sessions", Help: "Open websocket painting sessions."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_sessions_refused_total", Help: "Websocket sessions refused, by reason."}, []string{"reason"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_frames_total", Help: "Image frames sent to painting sessions, by model."}, []string{"model"}),
		frameLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ganpaint_frame_latency_seconds",
			Help:    "From the oldest state change not yet shown to the frame that shows it, by model.",
			Buckets: latencyBuckets}, []string{"model"}),
		renderSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ganpaint_render_seconds", Help: "Render and encode time of one frame, in a render slot, by model.",
			Buckets: latencyBuckets}, []string{"model"}),
		turnWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ganpaint_render_wait_seconds", Help: "Wait for a render slot.", Buckets: latencyBuckets}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_busy_total", Help: "Renders the engine refused as busy (sessions retry; /render.png answers 503)."}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_rate_limited_total", Help: "Client frames that had to wait for the session's rate bucket."}),
		renderErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_render_errors_total", Help: "Renders that failed in the engine (ONNX Runtime errors)."}),
		pngRenders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_render_png_total", Help: "GET /render.png answers, by model and result."}, []string{"model", "result"}),
		analysis: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_analysis_requests_total",
			Help: "GET /api/compare and /api/growth answers, by model, tool and result (a request for a model the server lacks counts under the default model)."}, []string{"model", "tool", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_http_requests_total", Help: "HTTP requests, by route and status class."}, []string{"route", "code"}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.refused, m.frames, m.frameLatency, m.renderSeconds,
		m.turnWait, m.busy, m.rateLimited, m.renderErrors, m.pngRenders, m.analysis, m.requests} {
		f(c)
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ganpaint_render_queue_depth", Help: "Sessions and requests waiting for a render slot."}, queueDepth))
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// siteMetrics are one model's series. The model label's values come from
// the server's model list, set when the model is added, never from a
// request, so the series stay bounded.
type siteMetrics struct {
	frames        prometheus.Counter
	frameLatency  prometheus.Observer
	renderSeconds prometheus.Observer
	png           map[string]prometheus.Counter            // by result
	analysis      map[string]map[string]prometheus.Counter // by tool, then result
}

// The label values of ganpaint_render_png_total and
// ganpaint_analysis_requests_total; every one is created at start, so a
// dashboard sees zeros rather than missing series.
var (
	pngResults      = []string{"rendered", "cached", "busy", "error"}
	analysisTools   = []string{"compare", "growth"}
	analysisResults = []string{"ok", "refused", "busy", "error"}
)

// forModel creates the model's series.
func (m *metrics) forModel(name string) siteMetrics {
	sm := siteMetrics{
		frames:        m.frames.WithLabelValues(name),
		frameLatency:  m.frameLatency.WithLabelValues(name),
		renderSeconds: m.renderSeconds.WithLabelValues(name),
		png:           map[string]prometheus.Counter{},
		analysis:      map[string]map[string]prometheus.Counter{},
	}
	for _, r := range pngResults {
		sm.png[r] = m.pngRenders.WithLabelValues(name, r)
	}
	for _, t := range analysisTools {
		sm.analysis[t] = map[string]prometheus.Counter{}
		for _, r := range analysisResults {
			sm.analysis[t][r] = m.analysis.WithLabelValues(name, t, r)
		}
	}
	return sm
}

// countAnalysis counts one compare or growth answer by the handler's error.
func (sm siteMetrics) countAnalysis(tool string, err error) {
	result := "ok"
	var he *httpError
	switch {
	case err == nil:
	case errors.As(err, &he) && he.status == http.StatusServiceUnavailable:
		result = "busy"
	case errors.As(err, &he) && he.status < http.StatusInternalServerError:
		result = "refused"
	default:
		result = "error"
	}
	sm.analysis[tool][result].Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
