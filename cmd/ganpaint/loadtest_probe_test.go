package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseProbeOutput(t *testing.T) {
	tests := []struct {
		name     string
		out      string
		lat      []time.Duration
		failures int
		wantErr  bool
	}{
		{name: "empty", out: ""},
		{name: "latencies and failures", out: "1500000\nfail\n250\n", lat: []time.Duration{1500 * time.Microsecond, 250}, failures: 1},
		{name: "garbage", out: "12\nsoon\n", wantErr: true},
		{name: "negative", out: "-5\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lat, failures, err := parseProbeOutput(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if failures != tc.failures || len(lat) != len(tc.lat) {
				t.Fatalf("got %v, %d failures; want %v, %d", lat, failures, tc.lat, tc.failures)
			}
			for i := range lat {
				if lat[i] != tc.lat[i] {
					t.Errorf("latency %d = %v, want %v", i, lat[i], tc.lat[i])
				}
			}
		})
	}
}

// The child process prints what the parent parses: one probe line each.
func TestProbeOnlyPrintsEachProbe(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		hits++
		if hits%2 == 0 {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := runProbeOnly(context.Background(), srv.URL, 330*time.Millisecond, &out); err != nil {
		t.Fatal(err)
	}
	lat, failures, err := parseProbeOutput(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(lat)+failures != hits || len(lat) == 0 || failures == 0 {
		t.Fatalf("%d server hits, printed %d latencies and %d failures:\n%s", hits, len(lat), failures, out.String())
	}
}

// childProber runs the executable it is given with the prober's arguments
// and outlives the load test's context.
func TestChildProberRunsTheProcess(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "fake-ganpaint")
	script := "#!/bin/sh\necho \"$@\" > \"" + filepath.Join(dir, "args") + "\"\nsleep 0.2\nprintf '1000\\nfail\\n2000\\n'\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	lat, failures, err := childProber(exe, 100*time.Millisecond)(ctx, "http://127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 2 || failures != 1 || lat[1] != 2*time.Microsecond {
		t.Fatalf("got %v and %d failures", lat, failures)
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(args)), "loadtest --probe-only --url http://127.0.0.1:9 --duration 100ms"; got != want {
		t.Errorf("args %q, want %q", got, want)
	}
}
