package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// lockedBuffer lets the test read a log while the server writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServeFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"stray argument", []string{"extra"}, "unexpected arguments"},
		{"log level", []string{"--log-level", "loud"}, "--log-level"},
		{"missing model dir", []string{"--model", filepath.Join(t.TempDir(), "nope")}, "is not a directory"},
		{"CORS without the API", []string{"--api=false", "--api-cors", "*"}, "--api-cors needs the API"},
		{"jpeg quality 0", []string{"--jpeg-quality", "0"}, "--jpeg-quality 0: must be at least 1"},
		{"jpeg quality 101", []string{"--jpeg-quality", "101"}, "must be 1-100"},
		{"max sessions 0", []string{"--max-sessions", "0"}, "--max-sessions 0: must be at least 1"},
		{"sessions per ip 0", []string{"--max-sessions-per-ip", "0"}, "--max-sessions-per-ip 0"},
		{"negative workers", []string{"--workers", "-1"}, "--workers -1"},
		{"zero rate", []string{"--messages-per-second", "0"}, "must be positive"},
		{"zero drain", []string{"--drain-timeout", "0s"}, "--drain-timeout"},
		{"bad proxy", []string{"--trusted-proxy", "nope"}, "not an address or CIDR"},
		{"ort lib is an empty folder", []string{"--ort-lib", t.TempDir()}, "is a directory without libonnxruntime"},
		{"bad env", []string{"env:GANPAINT_MAX_SESSIONS=lots"}, "GANPAINT_MAX_SESSIONS=\"lots\""},
		{"env is validated too", []string{"env:GANPAINT_JPEG_QUALITY=0"}, "--jpeg-quality 0"},
		{"report cache 0", []string{"--report-cache-mb", "0"}, "--report-cache-mb 0: must be at least 1"},
		{"region work 0", []string{"--region-max-work", "0"}, "--region-max-work must be a positive share"},
		{"region work NaN", []string{"--region-max-work", "NaN"}, "--region-max-work must be a positive share"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.args) == 1 && strings.HasPrefix(tc.args[0], "env:") {
				k, v, _ := strings.Cut(strings.TrimPrefix(tc.args[0], "env:"), "=")
				t.Setenv(k, v)
				tc.args = nil
			}
			err := runServe(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestServeNeedsDissection(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	err := runServe(context.Background(), []string{"--model", dir, "--addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ganpaint dissect") {
		t.Errorf("err = %v, want a hint to run ganpaint dissect", err)
	}
}

func TestServeEndToEnd(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	if err := runDissect(context.Background(), []string{"--model", dir, "--samples", "64", "--threshold", "iqr",
		"--causal-samples", "0", "--quiet"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("dissect: %v", err)
	}

	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--model", dir, "--addr", "127.0.0.1:0", "--frame-ancestors", "https://course.example.edu"}, io.Discard, &logs)
	}()
	urlRE := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; {
		if m := urlRE.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server never logged its URL:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	if _, body := get("healthz"); string(body) != "ok\n" {
		t.Errorf("healthz %q", body)
	}
	_, body := get("api/model")
	var model struct {
		Model struct{ Name string } `json:"model"`
	}
	if err := json.Unmarshal(body, &model); err != nil || model.Model.Name != "planted" {
		t.Errorf("api/model %s (%v)", body, err)
	}
	resp, body := get("embed")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "https://course.example.edu") ||
		!bytes.Contains(body, []byte("<html")) {
		t.Errorf("embed: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("render.png"); resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("\x89PNG")) {
		t.Errorf("render.png: %d", resp.StatusCode)
	}
	// The REST API is on by default, and the fresh dissection carries the
	// quantile table that /api/levels reads.
	if resp, body := get("api/all_projects"); resp.StatusCode != 200 || !strings.Contains(string(body), `"project":"planted"`) {
		t.Errorf("api/all_projects: %d %s", resp.StatusCode, body)
	}
	if resp, body := get("api/levels?project=planted&layer=layer2&quantiles=0.5,0.99"); resp.StatusCode != 200 || !strings.Contains(string(body), `"res":[[`) {
		t.Errorf("api/levels: %d %s", resp.StatusCode, body)
	}
	// The API and report stop inside the HTTP write timeout (30 s by default).
	for _, key := range []string{"max_sessions=64", "frame_ancestors=[https://course.example.edu]", "model=planted", "request_timeout=27s"} {
		if !strings.Contains(logs.String(), key) {
			t.Errorf("start log lacks %q:\n%s", key, logs.String())
		}
	}

	if resp, _ := get("metrics"); resp.StatusCode != 200 {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
	hostPort := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/")
	if err := runHealth(ctx, []string{"--addr", hostPort, "--ready"}, io.Discard, io.Discard); err != nil {
		t.Errorf("health --ready: %v", err)
	}

	// A short load test, with hostile clients, against the real engine. No
	// timing is asserted: this checks that the tool and the server hold up.
	rep, err := runLoad(ctx, loadConfig{URL: strings.TrimSuffix(base, "/"), Painters: 2, Flooders: 2,
		Duration: 1500 * time.Millisecond, StrokeInterval: 50 * time.Millisecond, SpreadIPs: true, Seed: 1})
	if err != nil {
		t.Fatalf("loadtest: %v", err)
	}
	var out strings.Builder
	rep.print(&out)
	t.Log(out.String())
	for i, p := range rep.painters {
		if p.frames == 0 || len(p.latencies) == 0 || p.closed != "" {
			t.Errorf("painter %d: %d frames, %d timed strokes, ended %q", i, p.frames, len(p.latencies), p.closed)
		}
	}
	for i, f := range rep.flooders {
		if f.sent == 0 {
			t.Errorf("flooder %d sent nothing", i)
		}
	}
	if len(rep.health) == 0 || rep.serverRSS == 0 {
		t.Errorf("report lacks /healthz probes (%d) or server RSS (%v)", len(rep.health), rep.serverRSS)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}
