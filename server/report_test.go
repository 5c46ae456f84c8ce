package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
)

type fakeReportPages struct {
	index  func(w io.Writer) error
	layer  func(w io.Writer, layer string) error
	unit   func(w io.Writer, layer string, unit int, id int64) error
	editor func(w io.Writer) error
}

func (p fakeReportPages) Index(w io.Writer) error               { return p.index(w) }
func (p fakeReportPages) Layer(w io.Writer, layer string) error { return p.layer(w, layer) }
func (p fakeReportPages) Unit(w io.Writer, layer string, unit int, id int64) error {
	return p.unit(w, layer, unit, id)
}
func (p fakeReportPages) Editor(w io.Writer) error { return p.editor(w) }

type fakeReportImages struct {
	get func(ctx context.Context, key string) ([]byte, string, error)
}

func (f fakeReportImages) Get(ctx context.Context, key string) ([]byte, string, error) {
	return f.get(ctx, key)
}

func TestReportHandler(t *testing.T) {
	pages := fakeReportPages{
		index:  func(w io.Writer) error { _, err := io.WriteString(w, "<p>index</p>"); return err },
		editor: func(w io.Writer) error { _, err := io.WriteString(w, "<p>editor</p>"); return err },
		layer: func(w io.Writer, layer string) error {
			if layer != "layer4" {
				return fmt.Errorf("%w: layer %q", report.ErrNotFound, layer)
			}
			_, err := io.WriteString(w, "<p>layer4</p>")
			return err
		},
		unit: func(w io.Writer, layer string, unit int, id int64) error {
			if layer == "broken" {
				return errors.New("template exploded")
			}
			_, err := fmt.Fprintf(w, "<p>%s unit %d id %d</p>", layer, unit, id)
			return err
		},
	}
	images := fakeReportImages{get: func(ctx context.Context, key string) ([]byte, string, error) {
		switch key {
		case "strip/layer4/1.jpg":
			return []byte("JPEG"), "image/jpeg", nil
		case "image/7.jpg":
			return nil, "", fmt.Errorf("queue: %w", inference.ErrBusy)
		case "image/8.jpg":
			return nil, "", report.ErrBusy
		}
		return nil, "", report.ErrNotFound
	}}
	h, err := NewReportHandler(pages, images, "v1", 0, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	deps := testDeps(detEngine(nil, 0))
	deps.Report = h
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, tc := range []struct {
		path, body, ctype, cache string
		status                   int
	}{
		{"/report/", "<p>index</p>", "text/html; charset=utf-8", "no-cache", 200},
		{"/report", "<p>index</p>", "text/html; charset=utf-8", "no-cache", 200},
		{"/report/edit", "<p>editor</p>", "text/html; charset=utf-8", "no-cache", 200},
		{"/report/layer4", "<p>layer4</p>", "text/html; charset=utf-8", "no-cache", 200},
		{"/report/layer4/unit/3", "<p>layer4 unit 3 id -1</p>", "text/html; charset=utf-8", "no-cache", 200},
		{"/report/layer4/unit/3?id=12", "<p>layer4 unit 3 id 12</p>", "text/html; charset=utf-8", "no-cache", 200},
		{"/report/layer9", "not found", "", "", 404},
		{"/report/layer4/unit/x", "not found", "", "", 404},
		{"/report/layer4/unit/3?id=-2", "not found", "", "", 404},
		{"/report/layer4/unit/3?id=abc", "not found", "", "", 404},
		{"/report/broken/unit/1", "internal error", "", "", 500},
		{"/report/img/v1/strip/layer4/1.jpg", "JPEG", "image/jpeg", "public, max-age=31536000, immutable", 200},
		{"/report/img/v0/strip/layer4/1.jpg", "not found", "", "", 404},
		{"/report/img/v1/strip/layer4/99.jpg", "not found", "", "", 404},
		{"/report/img/v1/image/7.jpg", "busy", "", "", 503},
		{"/report/img/v1/image/8.jpg", "busy", "", "", 503},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%d %q, want %d with %q", resp.StatusCode, b, tc.status, tc.body)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if tc.cache != "" && resp.Header.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			if strings.HasPrefix(tc.ctype, "text/html") && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("page without the CSP: %v", resp.Header)
			}
			if tc.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	// HEAD is answered like GET (without a body); other methods get 405
	// with Allow.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"HEAD", "/report/", 200}, {"HEAD", "/report/layer4/unit/3", 200}, {"HEAD", "/report/img/v1/strip/layer4/1.jpg", 200},
		{"HEAD", "/report/layer9", 404}, {"POST", "/report/", 405}, {"DELETE", "/report/layer4", 405},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.method == "HEAD" && len(b) != 0 {
				t.Errorf("HEAD answered with a body of %d bytes", len(b))
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
		})
	}
	// The painter links to the report when the server has one.
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"ReportURL":"/report/"`) {
		t.Errorf("painter page data lacks the report link: %s", b)
	}
	if _, err := NewReportHandler(pages, images, "", 0, nil); err == nil {
		t.Error("a handler without a version was built")
	}
	if _, err := NewReportHandler(pages, images, "v1", -time.Second, nil); err == nil {
		t.Error("a handler with a negative timeout was built")
	}
}
