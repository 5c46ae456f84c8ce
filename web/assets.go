package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// StaticPrefix is the URL path under which Assets serves its files. The
// server mounts Assets.Handler at StaticPrefix + "*".
const StaticPrefix = "/static/"

// hashLen is how many hex digits of the SHA-256 go into a URL: 12 digits
// (48 bits) make an accidental collision between two builds negligible while
// keeping URLs short.
const hashLen = 12

// immutableCache lets browsers and proxies keep an asset for a year without
// revalidating: the URL changes whenever the content does.
const immutableCache = "public, max-age=31536000, immutable"

// requiredAssets are the files the templates reference; NewPages checks them
// (app.js's imports are checked when the assets are built).
func requiredAssets() []string {
	return []string{"app.js", "app.css", "icon.svg", "analysis.css"}
}

// painterModules are the painter's ES modules: app.js and what it imports
// (served with their imports rewritten to hashed URLs, see add). The tools
// (browser history, edit list, compare panel, repair toggle, growth
// overlay, custom brush) are modules too, each installing itself only on a
// page that has its elements.
func painterModules() []string {
	return []string{"app.js", "edit.js", "status.js", "connection.js", "session.js", "original.js", "images.js",
		"history.js", "palette.js", "share.js", "canvas.js", "brush.js", "keys.js",
		"navigation.js", "strokes.js", "compare.js", "repair.js", "growth.js", "custombrush.js"}
}

// ErrUnknownAsset is returned by Assets.Lookup for a name that is not one of
// the embedded files.
var ErrUnknownAsset = errors.New("web: unknown asset")

// asset is one static file, held in memory with its precomputed variants.
type asset struct {
	name        string // logical name, e.g. "app.js"
	hashed      string // name with the content hash, e.g. "app.0123456789ab.js"
	contentType string
	body        []byte
	gzipped     []byte // nil when compression does not pay off
	etag        string
}

// Assets serves the UI's static files (JS, CSS, icons) at content-hashed URLs
// such as /static/app.0123456789ab.js, so they can be cached forever. It is
// safe for concurrent use and never changes after construction.
type Assets struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

// NewAssets returns the files embedded in the binary from web/static.
func NewAssets() (*Assets, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	return NewAssetsFS(sub)
}

// NewAssetsFS builds Assets from the regular files at the top level of fsys.
// It exists so tests (and a development mode that reads web/static from disk)
// can supply other files than the embedded ones.
func NewAssetsFS(fsys fs.FS) (*Assets, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("web: reading static files: %w", err)
	}
	a := &Assets{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	bodies := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: reading %s: %w", e.Name(), err)
		}
		bodies[e.Name()] = body
	}
	if len(bodies) == 0 {
		return nil, errors.New("web: no static files found")
	}
	names := make([]string, 0, len(bodies))
	for n := range bodies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := a.add(n, bodies, nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// moduleImport matches the static imports of the painter's ES modules
// between files of the same folder: import … from './name.js' and
// import './name.js'.
var moduleImport = regexp.MustCompile(`((?:^|[\s;}])(?:import|export)\s(?:[^'";]*?\sfrom\s*)?)(['"])\./([A-Za-z0-9_-]+\.js)(['"])`)

// add makes the asset called name, after the modules it imports: a module
// is served with its imports pointing at their hashed URLs, and its own
// hash covers them, so a changed dependency gives every importer a new URL
// too and nothing stale stays cached. Browsers resolve './x.<hash>.js'
// next to the importer, so no import map (an inline script) is needed.
// visiting holds the modules being added, to report an import cycle, which
// content hashes cannot express.
func (a *Assets) add(name string, bodies map[string][]byte, visiting map[string]bool) (*asset, error) {
	if as, ok := a.byName[name]; ok {
		return as, nil
	}
	body, ok := bodies[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAsset, name)
	}
	if path.Ext(name) == ".js" {
		if visiting[name] {
			return nil, fmt.Errorf("web: static module %s imports itself through a cycle", name)
		}
		if visiting == nil {
			visiting = map[string]bool{}
		}
		visiting[name] = true
		var err error
		body = moduleImport.ReplaceAllFunc(body, func(m []byte) []byte {
			sub := moduleImport.FindSubmatch(m)
			if err != nil || string(sub[2]) != string(sub[4]) {
				return m
			}
			dep, derr := a.add(string(sub[3]), bodies, visiting)
			if derr != nil {
				err = fmt.Errorf("web: %s imports %s: %w", name, sub[3], derr)
				return m
			}
			return []byte(string(sub[1]) + string(sub[2]) + "./" + dep.hashed + string(sub[4]))
		})
		delete(visiting, name)
		if err != nil {
			return nil, err
		}
	}
	as, err := newAsset(name, body)
	if err != nil {
		return nil, err
	}
	a.byName[as.name] = as
	a.byHashed[as.hashed] = as
	return as, nil
}

func newAsset(name string, body []byte) (*asset, error) {
	ext := path.Ext(name)
	if ext == "" {
		return nil, fmt.Errorf("web: static file %q has no extension, so no content type", name)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])[:hashLen]
	ct := mime.TypeByExtension(ext)
	if ct == "" {
		ct = "application/octet-stream"
	}
	as := &asset{
		name:        name,
		hashed:      strings.TrimSuffix(name, ext) + "." + hash + ext,
		contentType: ct,
		body:        body,
		etag:        `"` + hash + `"`,
	}
	if compressible(ct) {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("web: gzip %s: %w", name, err)
		}
		if _, err := zw.Write(body); err != nil {
			return nil, fmt.Errorf("web: gzip %s: %w", name, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("web: gzip %s: %w", name, err)
		}
		// Tiny files can grow under gzip; only keep a variant that is smaller.
		if buf.Len() < len(body) {
			as.gzipped = buf.Bytes()
		}
	}
	return as, nil
}

func compressible(contentType string) bool {
	return strings.HasPrefix(contentType, "text/") ||
		strings.Contains(contentType, "javascript") ||
		strings.Contains(contentType, "json") ||
		strings.Contains(contentType, "svg")
}

// URL returns the content-hashed URL path of the named static file, e.g.
// URL("app.js") == "/static/app.0123456789ab.js". Templates call it for every
// asset reference; an unknown name yields "" (and Lookup reports it), which the
// golden tests catch.
func (a *Assets) URL(name string) string {
	u, err := a.Lookup(name)
	if err != nil {
		return ""
	}
	return u
}

// Lookup is URL with an error for unknown names.
func (a *Assets) Lookup(name string) (string, error) {
	as, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownAsset, name)
	}
	return StaticPrefix + as.hashed, nil
}

// Names lists the logical names of all files, sorted.
func (a *Assets) Names() []string {
	names := make([]string, 0, len(a.byName))
	for n := range a.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler serves the files at their hashed URLs. It accepts the full path
// (/static/app.<hash>.js, when mounted with a router wildcard) as well as the
// path with StaticPrefix already stripped. Anything else, including a stale
// hash or the unhashed name, is a 404: serving other bytes under a URL that is
// cached for a year would pin the wrong content in browsers.
func (a *Assets) Handler() http.Handler {
	return http.HandlerFunc(a.serve)
}

func (a *Assets) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, StaticPrefix)
	if !ok {
		name = strings.TrimPrefix(r.URL.Path, "/")
	}
	as, ok := a.byHashed[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.contentType)
	h.Set("Cache-Control", immutableCache)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", as.etag)
	body := as.body
	if as.gzipped != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			body = as.gzipped
		}
	}
	// ServeContent answers If-None-Match with 304 (the ETag is set) and
	// handles HEAD and ranges; the zero modtime keeps Last-Modified out.
	http.ServeContent(w, r, as.hashed, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip, honouring
// an explicit q=0 refusal.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		if q, ok := strings.CutPrefix(params, "q="); ok {
			return !(q == "0" || q == "0.0" || q == "0.00" || q == "0.000")
		}
		return true
	}
	return false
}
