package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/artifacts"
	"github.com/ganpaint-go/ganpaint/assets"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
	"github.com/ganpaint-go/ganpaint/server"
	"github.com/ganpaint-go/ganpaint/web"
)

func init() {
	subcommands["serve"] = subcommand{
		summary: "serve the painter web app (websocket painting, share links, embedding)",
		run:     runServe,
	}
}

// listFlag collects a flag given several times and/or as a comma list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// envPrefix: every serve flag can also be set by the environment variable
// GANPAINT_ + its name in upper case with '-' as '_' (--max-sessions is
// GANPAINT_MAX_SESSIONS); a flag on the command line wins.
const envPrefix = "GANPAINT_"

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag of fset that has an environment variable.
func applyEnv(fset *flag.FlagSet) error {
	var err error
	fset.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	return err
}

// prefixFlag collects CIDR prefixes (or single addresses).
type prefixFlag []netip.Prefix

func (p *prefixFlag) String() string {
	var out []string
	for _, x := range *p {
		out = append(out, x.String())
	}
	return strings.Join(out, ",")
}

func (p *prefixFlag) Set(v string) error {
	for _, item := range splitList(v) {
		if pr, err := netip.ParsePrefix(item); err == nil {
			*p = append(*p, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return fmt.Errorf("%q is not an address or CIDR prefix", item)
		}
		*p = append(*p, netip.PrefixFrom(a, a.BitLen()))
	}
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var origins, ancestors, modelDirs listFlag
	var proxies prefixFlag
	addr := fset.String("addr", "127.0.0.1:8080", "listen address")
	fset.Var(&modelDirs, "model", "model directory (repeatable, comma list; the first is the default; default: every model embedded in the binary, "+assets.DefaultModelName+" first)")
	ortLib := ortLibFlag(fset)
	workers := fset.Int("workers", 0, "inference workers and render slots (0: one per CPU)")
	regionMaxWork := fset.Float64("region-max-work", inference.DefaultRegionMaxWork, "largest share of the generator tail's work a stroke's region repaint may take before the whole tail runs (negative: always the whole tail)")
	fset.Var(&origins, "allow-origin", "extra origin allowed to open the websocket, e.g. https://course.example.edu (repeatable, comma list; * = any)")
	fset.Var(&ancestors, "frame-ancestors", "origin allowed to frame /embed besides this site (repeatable, comma list; * = any)")
	fset.Var(&proxies, "trusted-proxy", "reverse proxy address or CIDR whose X-Forwarded-For names the client (repeatable, comma list)")
	maxSessions := fset.Int("max-sessions", server.DefaultMaxSessions, "concurrent painting sessions (at least 1)")
	perIP := fset.Int("max-sessions-per-ip", server.DefaultMaxSessionsPerIP, "concurrent sessions from one client address (IPv6: one /64); raise it for a class behind one NAT")
	maxEdits := fset.Int("max-edits", server.DefaultMaxEdits, "edits per painted image (at least 1)")
	idle := fset.Duration("idle-timeout", server.DefaultIdleTimeout, "close sessions idle this long")
	rate := fset.Float64("messages-per-second", server.DefaultMessagesPerSecond, "client frames per second per session before reads pause")
	burst := fset.Int("message-burst", server.DefaultMessageBurst, "client frames a session may send at once")
	quality := fset.Int("jpeg-quality", server.DefaultJPEGQuality, "JPEG quality of streamed frames (1-100)")
	publicURL := fset.String("public-url", "", "absolute site root for share links and og:image, e.g. https://paint.example.org (default: from each request's Host)")
	writeTimeout := fset.Duration("http-write-timeout", server.DefaultHTTPWriteTimeout, "longest time to write one HTTP answer")
	drain := fset.Duration("drain-timeout", server.DefaultDrainTimeout, "on SIGTERM, how long running requests may finish before sessions are closed")
	accessLog := fset.Bool("access-log", true, "log one line per HTTP request")
	maxCompares := fset.Int("max-compares", server.DefaultMaxCompares, "concurrent /api/compare requests (compare panel)")
	logLevel := fset.String("log-level", "info", "debug, info, warn or error")
	var apiCORS listFlag
	reportOn := fset.Bool("report", true, "serve the dissection report and the unit editor at /report/")
	reportCache := fset.Int("report-cache-mb", 64, "memory for the report's rendered images, in MiB")
	apiOn := fset.Bool("api", true, "serve the reference-shaped REST API at /api/ (docs/api.md)")
	fset.Var(&apiCORS, "api-cors", "origin allowed to call the REST API from another site, e.g. https://course.example.edu (repeatable, comma list; * = any; default: none, no CORS)")
	cpuProfile := fset.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for load tests)")
	fset.Usage = func() {
		fmt.Fprintf(fset.Output(), "usage: ganpaint serve [flags]\n\nEvery flag can also be set by the environment, e.g. %s for --max-sessions.\n\n", envName("max-sessions"))
		fset.PrintDefaults()
	}
	if err := applyEnv(fset); err != nil {
		return err
	}
	if err := parseArgs(fset, args); err != nil {
		return err
	}
	if !*apiOn && len(apiCORS) > 0 {
		return fmt.Errorf("--api-cors needs the API (--api=false turns it off)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", *logLevel)
	}
	// The server reads 0 as "default"; on the command line 0 is a mistake
	// and is refused rather than silently replaced.
	for _, c := range []struct {
		name   string
		v, min int
	}{
		{"max-sessions", *maxSessions, 1}, {"max-sessions-per-ip", *perIP, 1}, {"max-edits", *maxEdits, 1},
		{"message-burst", *burst, 1}, {"jpeg-quality", *quality, 1}, {"workers", *workers, 0},
		{"report-cache-mb", *reportCache, 1},
	} {
		if c.v < c.min {
			return fmt.Errorf("--%s %d: must be at least %d", c.name, c.v, c.min)
		}
	}
	if *quality > 100 {
		return fmt.Errorf("--jpeg-quality %d: must be 1-100", *quality)
	}
	if *rate <= 0 {
		return fmt.Errorf("--messages-per-second %v: must be positive", *rate)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"idle-timeout", *idle}, {"http-write-timeout", *writeTimeout}, {"drain-timeout", *drain}} {
		if d.v <= 0 {
			return fmt.Errorf("--%s %v: must be positive", d.name, d.v)
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	sources, err := modelSources(modelDirs)
	if err != nil {
		return err
	}
	slots := *workers
	if slots == 0 {
		slots = runtime.NumCPU()
	}
	if math.IsNaN(*regionMaxWork) || *regionMaxWork == 0 {
		return fmt.Errorf("--region-max-work must be a positive share of the tail's work, or negative for the whole tail always")
	}
	var models []*servedModel
	defer func() {
		for _, sm := range models {
			sm.m.Close()
		}
	}()
	for _, src := range sources {
		// Each model keeps its own ONNX session pool (slots workers).
		sm, err := loadServedModel(src, *ortLib, inference.Options{Workers: slots, RegionMaxWork: *regionMaxWork,
			Logger: logger})
		if err != nil {
			return err
		}
		models = append(models, sm)
	}

	cfg := server.Config{
		MaxSessions: *maxSessions, MaxSessionsPerIP: *perIP, MaxEdits: *maxEdits, IdleTimeout: *idle,
		MessagesPerSecond: *rate, MessageBurst: *burst, JPEGQuality: *quality,
		AllowedOrigins: origins, FrameAncestors: ancestors, TrustedProxies: proxies, PublicBaseURL: *publicURL,
		RenderSlots: slots, HTTPWriteTimeout: *writeTimeout, DrainTimeout: *drain, MaxCompares: *maxCompares,
		Logger: logger,
	}
	if *accessLog {
		cfg.AccessLog = logger.With("log", "access")
	}
	// The API and the report's image renders stop at 90% of the write
	// timeout, so a slow answer is a clean 503 rather than a connection the
	// HTTP server cuts mid-response.
	extras := extraConfig{ReportCacheBytes: int64(*reportCache) << 20,
		RequestTimeout: min(server.DefaultRefTimeout, max(*writeTimeout*9/10, time.Millisecond))}
	if *apiOn {
		extras.API = &server.RefAPIConfig{CORSOrigins: apiCORS, Logger: logger}
	}
	extras.Report = *reportOn
	srv, err := newPainterServer(cfg, extras, models)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	eff := srv.Config()
	h := srv.Hello()
	logger.Info("ganpaint serve",
		"url", "http://"+ln.Addr().String()+"/",
		"model", h.Model.Name, "model_source", models[0].source, "models", servedNames(models), "ort", inference.RuntimeLibrary(),
		"default_layer", h.DefaultLayer, "concepts", len(h.Concepts),
		"max_sessions", eff.MaxSessions, "max_sessions_per_ip", eff.MaxSessionsPerIP, "render_slots", eff.RenderSlots,
		"max_edits", eff.MaxEdits, "max_history", eff.MaxHistory,
		"idle_timeout", eff.IdleTimeout, "read_limit", eff.ReadLimit, "write_timeout", eff.WriteTimeout,
		"ping_period", eff.PingPeriod, "messages_per_second", eff.MessagesPerSecond, "message_burst", eff.MessageBurst,
		"allow_origins", eff.AllowedOrigins, "frame_ancestors", eff.FrameAncestors,
		"jpeg_quality", eff.JPEGQuality, "public_url", eff.PublicBaseURL, "api", *apiOn, "api_cors", []string(apiCORS), "report", *reportOn,
		"request_timeout", extras.RequestTimeout, "region_max_work", *regionMaxWork)
	start := time.Now()
	err = srv.Serve(ctx, ln)
	logger.Info("ganpaint serve stopped", "uptime", time.Since(start).Round(time.Second))
	return err
}

// newPainterServer wires the real models, their dissections, their brushes
// and the web UI into a painter server, the first model the default. For
// each model, dissection levels become its "add" levels, the rankings
// (ordered and coloured by the segmenter's classes) its palette, its
// brushes.Set (recipes, steps and the brush-efficacy benchmark's defaults)
// the brushes of each concept, and artifact rankings
// (dissection/artifacts-<layer>.json) the "repair artifacts" toggle. The
// parts that need a segmenter (compare panel, growth overlay) are on only
// for models that ship one. extras adds the REST API and the report.
func newPainterServer(cfg server.Config, extras extraConfig, models []*servedModel) (*server.Server, error) {
	if len(models) == 0 {
		return nil, errors.New("no model to serve")
	}
	assets, err := web.NewAssets()
	if err != nil {
		return nil, err
	}
	pages, err := web.NewPages(assets)
	if err != nil {
		return nil, err
	}
	deps := server.Deps{Pages: pages, Static: assets.Handler()}
	for i, sm := range models {
		md, err := modelDeps(sm, i == 0, extras, cfg.Logger, assets)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", sm.source, err)
		}
		if i == 0 {
			deps.ModelDeps = md
		} else {
			deps.Models = append(deps.Models, md)
		}
	}
	return server.New(cfg, deps)
}

// modelDeps are one model's parts of the server.
func modelDeps(sm *servedModel, isDefault bool, extras extraConfig, logger *slog.Logger, assets *web.Assets) (server.ModelDeps, error) {
	eng, err := server.NewModelEngine(sm.m, sm.res)
	if err != nil {
		return server.ModelDeps{}, err
	}
	classes, err := modelClasses(sm.m)
	if err != nil {
		return server.ModelDeps{}, err
	}
	concepts, err := server.NewBrushConcepts(sm.res, sm.set, classes)
	if err != nil {
		return server.ModelDeps{}, err
	}
	md := server.ModelDeps{Engine: eng, Concepts: concepts}
	if err := addExtras(&md, extras, logger, sm.m, sm.res, assets, func(version string) report.Links {
		return modelLinks(sm.m.Manifest().Name, isDefault, version)
	}); err != nil {
		return server.ModelDeps{}, err
	}
	if sm.m.Manifest().Segmenter != nil {
		// The "everywhere" mask and the growth measurement need the segmenter.
		md.Comparer, md.Growth = eng, eng
	}
	repairs, err := loadRepairs(sm.fsys, sm.res)
	if err != nil {
		return server.ModelDeps{}, err
	}
	if len(repairs) > 0 {
		md.Artifacts = repairs
	}
	return md, nil
}

// repairUnits are the "repair artifacts" units per layer.
type repairUnits map[string][]int

func (r repairUnits) Repair(layer string) []int { return r[layer] }

// loadRepairs reads the artifact ranking of every dissected layer that has
// one; a broken file stops the server with its error.
func loadRepairs(fsys fs.FS, res *dissection.Results) (repairUnits, error) {
	out := repairUnits{}
	for layer := range res.Layers {
		r, err := artifacts.Load(fsys, layer)
		if errors.Is(err, artifacts.ErrNoRanking) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[layer] = r.Top()
	}
	return out, nil
}
