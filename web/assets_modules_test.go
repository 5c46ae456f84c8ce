package web

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// serve fetches a hashed URL from a's handler.
func serve(t *testing.T, a *Assets, u string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestModuleImportsPointAtHashedURLs(t *testing.T) {
	fsys := func(c string) fstest.MapFS {
		return fstest.MapFS{
			"app.js":  {Data: []byte("import { b } from './b.js';\nimport './side.js';\nexport { b };\nconst s = \"import x from './not-an-import.js'\";\n")},
			"b.js":    {Data: []byte("import { c } from \"./c.js\";\nexport const b = c;\n")},
			"c.js":    {Data: []byte("export const c = " + c + ";\n")},
			"side.js": {Data: []byte("window.side = 1;\n")},
		}
	}
	a := mustAssets(t, fsys("1"))
	code, app := serve(t, a, a.URL("app.js"))
	if code != 200 {
		t.Fatalf("GET app: %d", code)
	}
	bURL := strings.TrimPrefix(a.URL("b.js"), StaticPrefix)
	sideURL := strings.TrimPrefix(a.URL("side.js"), StaticPrefix)
	for _, want := range []string{"from './" + bURL + "'", "import './" + sideURL + "'", `'./not-an-import.js'`} {
		if !strings.Contains(app, want) {
			t.Errorf("served app.js lacks %q:\n%s", want, app)
		}
	}
	_, b := serve(t, a, a.URL("b.js"))
	if cURL := strings.TrimPrefix(a.URL("c.js"), StaticPrefix); !strings.Contains(b, `from "./`+cURL+`"`) {
		t.Errorf("served b.js does not import %s:\n%s", cURL, b)
	}
	// A change deep in the graph gives every importer a new URL, so no
	// browser keeps a cached module that imports a stale one.
	other := mustAssets(t, fsys("2"))
	for _, n := range []string{"app.js", "b.js", "c.js"} {
		if a.URL(n) == other.URL(n) {
			t.Errorf("%s kept its URL when c.js changed", n)
		}
	}
	if a.URL("side.js") != other.URL("side.js") {
		t.Error("side.js changed its URL although it did not change")
	}
}

func TestModuleImportErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"missing", fstest.MapFS{"app.js": {Data: []byte("import './gone.js';")}}, "gone.js"},
		{"cycle", fstest.MapFS{
			"app.js": {Data: []byte("import './b.js';")},
			"b.js":   {Data: []byte("import './app.js';")},
		}, "cycle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewAssetsFS(tc.fsys); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewAssetsFS = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestPainterModulesResolve: every import of the embedded painter modules
// is served at the URL it names.
func TestPainterModulesResolve(t *testing.T) {
	a, err := NewAssets()
	if err != nil {
		t.Fatal(err)
	}
	imp := regexp.MustCompile(`from '\./([^']+)'`)
	for _, name := range painterModules() {
		code, body := serve(t, a, a.URL(name))
		if code != 200 {
			t.Fatalf("GET %s: %d", name, code)
		}
		for _, m := range imp.FindAllStringSubmatch(body, -1) {
			if c, _ := serve(t, a, StaticPrefix+m[1]); c != 200 {
				t.Errorf("%s imports ./%s, which answers %d", name, m[1], c)
			}
		}
	}
	_, app := serve(t, a, a.URL("app.js"))
	if n := len(imp.FindAllString(app, -1)); n < 10 {
		t.Errorf("app.js has %d rewritten imports, want one per module", n)
	}
}
