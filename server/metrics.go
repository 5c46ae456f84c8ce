package server

import (
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
	frames        prometheus.Counter
	frameLatency  prometheus.Histogram
	renderSeconds prometheus.Histogram
	turnWait      prometheus.Histogram
	busy          prometheus.Counter
	rateLimited   prometheus.Counter
	renderErrors  prometheus.Counter
	pngRenders    *prometheus.CounterVec
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
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_frames_total", Help: "Image frames sent to painting sessions."}),
		frameLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ganpaint_frame_latency_seconds",
			Help:    "From the oldest state change not yet shown to the frame that shows it.",
			Buckets: latencyBuckets}),
		renderSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ganpaint_render_seconds", Help: "Render and encode time of one frame, in a render slot.",
			Buckets: latencyBuckets}),
		turnWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ganpaint_render_wait_seconds", Help: "Wait for a render slot.", Buckets: latencyBuckets}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_busy_total", Help: "Renders the engine refused as busy (sessions retry; /render.png answers 503)."}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_rate_limited_total", Help: "Client frames that had to wait for the session's rate bucket."}),
		renderErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganpaint_render_errors_total", Help: "Renders that failed in the engine (ONNX Runtime errors)."}),
		pngRenders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_render_png_total", Help: "GET /render.png answers, by result."}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganpaint_http_requests_total", Help: "HTTP requests, by route and status class."}, []string{"route", "code"}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.refused, m.frames, m.frameLatency, m.renderSeconds,
		m.turnWait, m.busy, m.rateLimited, m.renderErrors, m.pngRenders, m.requests} {
		f(c)
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ganpaint_render_queue_depth", Help: "Sessions and requests waiting for a render slot."}, queueDepth))
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
