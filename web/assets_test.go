package web

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

func testFS(js string) fstest.MapFS {
	fsys := fstest.MapFS{
		"app.js":   {Data: []byte(js)},
		"app.css":  {Data: []byte("body { color: red; }\n" + strings.Repeat("/* padding so gzip pays off */\n", 20))},
		"icon.svg": {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		// The analysis tools' files (compare panel, repair toggle, growth overlay).
		"compare.js":     {Data: []byte("/* compare */")},
		"repair.js":      {Data: []byte("/* repair */")},
		"growth.js":      {Data: []byte("/* growth */")},
		"analysis.css":   {Data: []byte("/* analysis */")},
		"custombrush.js": {Data: []byte("/* custom brush */")},
		".hidden":        {Data: []byte("ignored")},
	}
	return fsys
}

func mustAssets(t testing.TB, fsys fstest.MapFS) *Assets {
	t.Helper()
	a, err := NewAssetsFS(fsys)
	if err != nil {
		t.Fatalf("NewAssetsFS: %v", err)
	}
	return a
}

func TestAssetURLIsContentHashed(t *testing.T) {
	a := mustAssets(t, testFS("console.log(1)"))
	b := mustAssets(t, testFS("console.log(2)"))
	same := mustAssets(t, testFS("console.log(1)"))

	urlRE := regexp.MustCompile(`^/static/app\.[0-9a-f]{12}\.js$`)
	if u := a.URL("app.js"); !urlRE.MatchString(u) {
		t.Fatalf("URL(app.js) = %q, want /static/app.<12 hex>.js", u)
	}
	if a.URL("app.js") == b.URL("app.js") {
		t.Errorf("URL did not change when the content changed: %s", a.URL("app.js"))
	}
	if a.URL("app.js") != same.URL("app.js") {
		t.Errorf("URL changed for the same content: %s vs %s", a.URL("app.js"), same.URL("app.js"))
	}
	if a.URL("app.css") != b.URL("app.css") {
		t.Errorf("an unchanged file's URL changed: %s vs %s", a.URL("app.css"), b.URL("app.css"))
	}
	if u := a.URL("missing.js"); u != "" {
		t.Errorf("URL(missing.js) = %q, want empty", u)
	}
	if _, err := a.Lookup("missing.js"); !errors.Is(err, ErrUnknownAsset) {
		t.Errorf("Lookup(missing.js) error = %v, want ErrUnknownAsset", err)
	}
	names := []string{"app.css", "app.js", "icon.svg", "analysis.css", "compare.js", "repair.js", "growth.js", "custombrush.js"}
	sort.Strings(names)
	if got, want := strings.Join(a.Names(), ","), strings.Join(names, ","); got != want {
		t.Errorf("Names() = %s, want %s (dot files skipped)", got, want)
	}
}

func TestAssetsHandler(t *testing.T) {
	const js = "console.log('hello');"
	a := mustAssets(t, testFS(js))
	h := a.Handler()
	jsURL := a.URL("app.js")
	cssURL := a.URL("app.css")

	tests := []struct {
		name        string
		method      string
		path        string
		header      map[string]string
		wantStatus  int
		wantType    string
		wantBody    string // exact body after decoding; "" = not checked
		wantGzip    bool
		wantCaching bool
	}{
		{name: "js", method: "GET", path: jsURL, wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBody: js, wantCaching: true},
		{name: "prefix stripped by a router", method: "GET", path: strings.TrimPrefix(jsURL, "/static"), wantStatus: 200, wantBody: js, wantCaching: true},
		{name: "head", method: "HEAD", path: jsURL, wantStatus: 200, wantCaching: true},
		{name: "css gzip", method: "GET", path: cssURL, header: map[string]string{"Accept-Encoding": "br, gzip"}, wantStatus: 200, wantType: "text/css; charset=utf-8", wantGzip: true, wantCaching: true},
		{name: "gzip refused with q=0", method: "GET", path: cssURL, header: map[string]string{"Accept-Encoding": "gzip;q=0"}, wantStatus: 200, wantCaching: true},
		{name: "svg", method: "GET", path: a.URL("icon.svg"), wantStatus: 200, wantType: "image/svg+xml", wantCaching: true},
		{name: "not modified", method: "GET", path: jsURL, header: map[string]string{"If-None-Match": `"` + hashOf(jsURL) + `"`}, wantStatus: 304, wantCaching: true},
		{name: "unknown file", method: "GET", path: "/static/nope.0123456789ab.js", wantStatus: 404},
		{name: "unhashed name", method: "GET", path: "/static/app.js", wantStatus: 404},
		{name: "stale hash", method: "GET", path: "/static/app.000000000000.js", wantStatus: 404},
		{name: "directory", method: "GET", path: "/static/", wantStatus: 404},
		{name: "traversal", method: "GET", path: "/static/../pages.go", wantStatus: 404},
		{name: "post", method: "POST", path: jsURL, wantStatus: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://example.test/", nil)
			req.URL.Path = tc.path
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			cc := res.Header.Get("Cache-Control")
			if tc.wantCaching && cc != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q, want immutable for a year", cc)
			}
			if !tc.wantCaching && strings.Contains(cc, "immutable") {
				t.Errorf("Cache-Control = %q on a %d answer", cc, res.StatusCode)
			}
			if tc.wantType != "" && res.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tc.wantType)
			}
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.wantGzip {
				t.Errorf("gzip = %v, want %v", got, tc.wantGzip)
			}
			body, _ := io.ReadAll(res.Body)
			if tc.wantGzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("gzip body: %v", err)
				}
				body, err = io.ReadAll(zr)
				if err != nil {
					t.Fatalf("gzip body: %v", err)
				}
				if !strings.HasPrefix(string(body), "body { color: red; }") {
					t.Errorf("decoded body = %.40q", body)
				}
			}
			if tc.wantBody != "" && string(body) != tc.wantBody {
				t.Errorf("body = %q, want %q", body, tc.wantBody)
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD returned %d body bytes", len(body))
			}
		})
	}
}

// hashOf extracts the hash from a hashed URL such as /static/app.<hash>.js.
func hashOf(u string) string {
	parts := strings.Split(u, ".")
	return parts[len(parts)-2]
}

func TestNewAssetsFSErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"empty", fstest.MapFS{}},
		{"only hidden files", fstest.MapFS{".keep": {Data: []byte("x")}}},
		{"no extension", fstest.MapFS{"LICENSE": {Data: []byte("x")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := NewAssetsFS(tc.fsys); err == nil {
				t.Fatalf("NewAssetsFS succeeded with %v", a.Names())
			}
		})
	}
}

// TestEmbeddedAssets checks the real files: every file the templates need is
// embedded and served, and the JS carries no leftover debugging hook.
func TestEmbeddedAssets(t *testing.T) {
	a, err := NewAssets()
	if err != nil {
		t.Fatalf("NewAssets: %v", err)
	}
	for _, name := range requiredAssets() {
		u, err := a.Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", name, err)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d with %d bytes", u, rec.Code, rec.Body.Len())
		}
	}
	for _, name := range painterModules() {
		js, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, banned := range []string{"debugger", "console.log("} {
			if bytes.Contains(js, []byte(banned)) {
				t.Errorf("%s contains %q", name, banned)
			}
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip;q=1.0, *;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0.5", true},
		{"br", false},
		{"x-gzip", false},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			if got := acceptsGzip(tc.header); got != tc.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// FuzzAssetsHandler feeds arbitrary paths and Accept-Encoding headers (both
// come from outside) to the handler: it must never panic, and must answer 200
// only for the hashed URLs it hands out.
func FuzzAssetsHandler(f *testing.F) {
	a := mustAssets(f, testFS("x()"))
	valid := map[string]bool{}
	for _, n := range a.Names() {
		valid[a.URL(n)] = true
		valid[strings.TrimPrefix(a.URL(n), StaticPrefix)] = true
		valid["/"+strings.TrimPrefix(a.URL(n), StaticPrefix)] = true
	}
	f.Add(a.URL("app.js"), "gzip")
	f.Add("/static/app.js", "")
	f.Add("/static/../../etc/passwd", "gzip;q=0")
	f.Add("", "gzip;q=")
	f.Fuzz(func(t *testing.T, path, enc string) {
		req := httptest.NewRequest("GET", "http://example.test/", nil)
		req.URL.Path = path
		req.Header.Set("Accept-Encoding", enc)
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code == 200 && !valid[path] {
			t.Fatalf("200 for %q", path)
		}
		if valid[path] && rec.Code != 200 {
			t.Fatalf("%d for valid %q", rec.Code, path)
		}
	})
}
