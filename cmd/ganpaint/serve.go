package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
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

// addrEnv overrides the default listen address.
const addrEnv = "GANPAINT_ADDR"

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	defAddr := "127.0.0.1:8080"
	if v := os.Getenv(addrEnv); v != "" {
		defAddr = v
	}
	var origins, ancestors listFlag
	addr := fset.String("addr", defAddr, "listen address (env "+addrEnv+")")
	modelDir := fset.String("model", "", "model directory (default: the model embedded in the binary)")
	ortLib := fset.String("ort-lib", "", "ONNX Runtime library (default: $ONNXRUNTIME_LIB, then ./.ort/)")
	workers := fset.Int("workers", 0, "inference workers (default: number of CPUs)")
	fset.Var(&origins, "allow-origin", "extra origin allowed to open the websocket, e.g. https://course.example.edu (repeatable, comma list; * = any)")
	fset.Var(&ancestors, "frame-ancestors", "origin allowed to frame /embed besides this site (repeatable, comma list; * = any)")
	maxSessions := fset.Int("max-sessions", server.DefaultMaxSessions, "concurrent painting sessions")
	maxEdits := fset.Int("max-edits", server.DefaultMaxEdits, "edits per painted image")
	idle := fset.Duration("idle-timeout", server.DefaultIdleTimeout, "close sessions idle this long")
	quality := fset.Int("jpeg-quality", server.DefaultJPEGQuality, "JPEG quality of streamed frames (1-100)")
	publicURL := fset.String("public-url", "", "absolute site root for share links and og:image, e.g. https://paint.example.org (default: from each request's Host)")
	logLevel := fset.String("log-level", "info", "debug, info, warn or error")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", *logLevel)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var modelFS fs.FS
	source := *modelDir
	if source == "" {
		var err error
		if modelFS, err = defaultModel(); err != nil {
			return fmt.Errorf("no --model given and %w", err)
		}
		source = "embedded"
	} else {
		if st, err := os.Stat(source); err != nil || !st.IsDir() {
			return fmt.Errorf("--model %q is not a directory", source)
		}
		modelFS = os.DirFS(source)
	}

	lib, err := inference.ResolveLibrary(*ortLib)
	if err != nil {
		return err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return err
	}
	m, err := inference.Load(modelFS, inference.Options{Workers: *workers, Logger: logger})
	if err != nil {
		return fmt.Errorf("loading model %s: %w", source, err)
	}
	defer m.Close()
	set, res, _, err := brushes.Load(modelFS, brushes.Options{})
	if err != nil {
		if errors.Is(err, dissection.ErrNoResults) {
			return fmt.Errorf("model %s has no dissection, so there is nothing to paint with: run `ganpaint dissect --model DIR` first", source)
		}
		return err
	}

	cfg := server.Config{
		MaxSessions: *maxSessions, MaxEdits: *maxEdits, IdleTimeout: *idle, JPEGQuality: *quality,
		AllowedOrigins: origins, FrameAncestors: ancestors, PublicBaseURL: *publicURL, Logger: logger,
	}
	srv, err := newPainterServer(cfg, m, res, set)
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
		"model", h.Model.Name, "model_source", source, "ort", lib,
		"default_layer", h.DefaultLayer, "concepts", len(h.Concepts),
		"max_sessions", eff.MaxSessions, "max_edits", eff.MaxEdits, "max_history", eff.MaxHistory,
		"idle_timeout", eff.IdleTimeout, "read_limit", eff.ReadLimit, "write_timeout", eff.WriteTimeout,
		"ping_period", eff.PingPeriod, "messages_per_second", eff.MessagesPerSecond, "message_burst", eff.MessageBurst,
		"allow_origins", eff.AllowedOrigins, "frame_ancestors", eff.FrameAncestors,
		"jpeg_quality", eff.JPEGQuality, "public_url", eff.PublicBaseURL)
	start := time.Now()
	err = srv.Serve(ctx, ln)
	logger.Info("ganpaint serve stopped", "uptime", time.Since(start).Round(time.Second))
	return err
}

// newPainterServer wires the real model, its dissection, its brushes and
// the web UI into a painter server: dissection levels become the model's
// "add" levels, the rankings (ordered and coloured by the segmenter's
// classes) become the palette, and set (brushes.Load: recipes, steps and
// the brush-efficacy benchmark's defaults) the brushes of each concept.
func newPainterServer(cfg server.Config, m *inference.Model, res *dissection.Results, set *brushes.Set) (*server.Server, error) {
	eng, err := server.NewModelEngine(m, res)
	if err != nil {
		return nil, err
	}
	classes, err := m.Classes()
	if err != nil && !errors.Is(err, inference.ErrNoSegmenter) {
		return nil, err
	}
	concepts, err := server.NewBrushConcepts(res, set, classes)
	if err != nil {
		return nil, err
	}
	assets, err := web.NewAssets()
	if err != nil {
		return nil, err
	}
	pages, err := web.NewPages(assets)
	if err != nil {
		return nil, err
	}
	return server.New(cfg, server.Deps{Engine: eng, Concepts: concepts, Pages: pages, Static: assets.Handler()})
}
