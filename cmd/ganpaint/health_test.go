package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealth(t *testing.T) {
	var ready atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			io.WriteString(w, "ok\n")
		case r.URL.Path == "/readyz" && ready.Load():
			io.WriteString(w, "ready\n")
		default:
			http.Error(w, "draining", http.StatusServiceUnavailable)
		}
	}))
	defer ts.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	for _, tc := range []struct {
		name    string
		args    []string
		ready   bool
		wantErr string
	}{
		{"alive", []string{"--addr", "0.0.0.0:" + port}, true, ""},
		{"ready", []string{"--addr", "127.0.0.1:" + port, "--ready"}, true, ""},
		{"draining", []string{"--addr", "127.0.0.1:" + port, "--ready"}, false, "503"},
		{"nobody listening", []string{"--addr", "127.0.0.1:1"}, true, "127.0.0.1:1"},
		{"bad address", []string{"--addr", "nonsense"}, true, "nonsense"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready.Store(tc.ready)
			err := runHealth(context.Background(), tc.args, io.Discard, io.Discard)
			if tc.wantErr == "" && err != nil {
				t.Errorf("err = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
