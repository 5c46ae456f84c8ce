package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
	"github.com/ganpaint-go/ganpaint/server"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testHello is a model like the default one: seven concepts at layer4.
func testHello() server.Hello {
	concepts := []server.HelloConcept{
		{Name: "tree", Color: "#228b22"}, {Name: "grass", Color: "#7cfc00"}, {Name: "door", Color: "#8b4513"},
		{Name: "sky", Color: "#87ceeb"}, {Name: "cloud", Color: "#f5f5f5"}, {Name: "brick", Color: "#b22222"},
		{Name: "dome", Color: "#daa520"},
	}
	counts := map[string]int{}
	for _, c := range concepts {
		counts[c.Name] = 40
	}
	return server.Hello{
		T: "hello", Protocol: 1,
		Model:        server.HelloModel{Name: "scenes128", Title: "Procedural outdoor scenes, 128 px"},
		Image:        server.HelloImage{Width: 128, Height: 128},
		MaxID:        1000000,
		SampleIDs:    []int64{0, 1, 2, 3},
		DefaultLayer: "layer4",
		Layers:       []server.HelloLayer{{Name: "layer4", Channels: 512, Width: 8, Height: 8, Concepts: counts}},
		Concepts:     concepts,
		Formats:      []string{"jpeg", "png"},
		Format:       "jpeg",
		Limits: server.HelloLimits{MaxUnits: 64, MaxRadius: 64, MaxPoints: 1024, MaxStrokePoints: 4096,
			MaxEdits: 200, MaxHistory: 100, MaxMessageBytes: 65536, MessagesPerSecond: 60, MessageBurst: 120},
	}
}

// testPages renders with fixed asset contents, so the goldens only change
// when the templates do (not with every edit of app.js).
func testPages(t *testing.T) *Pages {
	t.Helper()
	p, err := NewPages(mustAssets(t, testFS("/* app */")))
	if err != nil {
		t.Fatalf("NewPages: %v", err)
	}
	return p
}

func withState(d server.PageData, state, embedPage string) server.PageData {
	d.State = state
	q := ""
	if state != "" {
		q = "?state=" + state
	}
	d.PainterURL = d.BaseURL + "/" + q
	d.ImageURL = d.BaseURL + "/render.png" + q
	d.PageURL = d.BaseURL + embedPage + q
	if state != "" {
		// What the server decodes from the token, and the 4× preview size
		// it asks /render.png for.
		d.ImageURL += "&size=512"
		d.Painting = &server.Painting{ID: 7, Layer: "layer4", Edits: []painting.Edit{
			{Concept: "tree"}, {Concept: "tree"}, {Concept: "cloud", Mode: painting.Remove, Everywhere: true},
		}}
	} else {
		d.ImageURL += "?size=512"
	}
	d.ImageWidth, d.ImageHeight = 512, 512
	return d
}

func basePageData() server.PageData {
	return withState(server.PageData{Hello: testHello(), WSPath: "/ws", BaseURL: "https://paint.example.org", ReportURL: "/report/"}, "", "/")
}

func TestGoldenPages(t *testing.T) {
	twoLayers := basePageData()
	twoLayers.Hello.Layers = append(twoLayers.Hello.Layers, server.HelloLayer{
		Name: "layer6", Channels: 512, Width: 16, Height: 16, Concepts: map[string]int{"tree": 12},
	})
	twoLayers.Hello.Concepts = twoLayers.Hello.Concepts[:1]
	twoLayers.Hello.SampleIDs = nil
	twoLayers.Hello.Limits.MaxUnits = 12

	badLink := basePageData()
	badLink.StateError = "the link is for model \"other\", this server has \"scenes128\""

	embedded := withState(basePageData(), "AQtoken_-1", "/embed")
	embedded.Embed = true
	embeddedCompare := embedded
	embeddedCompare.ComparePath = "/api/compare"

	withCompare := basePageData()
	withCompare.ComparePath = "/api/compare"

	// Every analysis tool: compare panel, growth overlay, and a layer with
	// artifact units (the repair toggle).
	withTools := withCompare
	withTools.GrowthPath = "/api/growth"
	withTools.Hello.Layers = append([]server.HelloLayer(nil), withTools.Hello.Layers...)
	withTools.Hello.Layers[0].Repair = 10

	// A custom brush from the unit editor: its palette button, its part
	// script and its config; and an address whose brush was refused.
	withCustom := basePageData()
	withCustom.Custom = &server.PageCustom{Layer: "layer4", Units: []int{3, 17, 40}, Remove: true, Label: "custom: 3 units @ layer4"}
	badCustom := basePageData()
	badCustom.CustomError = "The custom brush in this address cannot be used: unit 600 is not in 0..511 of layer4."

	// A server with two models: the picker, on the second model's page
	// (its websocket path carries ?model=); and a link for a model the
	// server does not have, which names that model.
	twoModels := basePageData()
	twoModels.WSPath = "/ws?model=scenes128v2"
	twoModels.Hello.Model = server.HelloModel{Name: "scenes128v2", Title: "Scene world v2, 128 px"}
	twoModels.Models = []server.ModelChoice{
		{Name: "scenes128", Title: "Procedural outdoor scenes, 128 px", Path: "/"},
		{Name: "scenes128v2", Title: "Scene world v2, 128 px", Path: "/?model=scenes128v2", Current: true},
	}
	unknownModel := basePageData()
	unknownModel.ModelError = "this link was made with the model \"scenes64\", which this server does not have (it has \"scenes128\")"

	tests := []struct {
		name  string
		embed bool
		data  server.PageData
	}{
		{"painter", false, basePageData()},
		{"painter_two_models", false, twoModels},
		{"painter_unknown_model", false, unknownModel},
		{"painter_custom", false, withCustom},
		{"painter_custom_error", false, badCustom},
		{"painter_state", false, withState(basePageData(), "AQtoken_-1", "/")},
		{"painter_bad_link", false, badLink},
		{"painter_two_layers", false, twoLayers},
		{"embed", true, embedded},
		// The compare panel and its files appear on the painter only.
		{"painter_compare", false, withCompare},
		{"painter_tools", false, withTools},
		{"embed", true, embeddedCompare},
	}
	p := testPages(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			render := p.Painter
			if tc.embed {
				render = p.Embed
			}
			if err := render(&buf, tc.data); err != nil {
				t.Fatalf("render: %v", err)
			}
			checkHTML(t, buf.String())
			// One tag per line, so a template change shows as a readable diff.
			got := strings.ReplaceAll(buf.String(), "><", ">\n<")
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./web -run TestGoldenPages -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendered page; rerun with -update after checking the change\n%s",
					golden, firstDiff(string(want), got))
			}
		})
	}
}

// checkHTML holds every page to what the server and the browser code rely on.
func checkHTML(t *testing.T, html string) {
	t.Helper()
	// A strict CSP (script-src 'self', style-src 'self') must stay possible:
	// no inline style attributes or executable inline scripts.
	if strings.Contains(html, " style=") {
		t.Error("page has an inline style attribute")
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, ` src="`) && !strings.Contains(m, `type="application/json"`) {
			t.Errorf("inline executable script %s", m)
		}
	}
	// The config must parse and carry what app.js reads first.
	m := regexp.MustCompile(`(?s)<script id="ganpaint-config" type="application/json">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no ganpaint-config script")
	}
	var cfg clientConfig
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config JSON: %v", err)
	}
	if cfg.Model.Width <= 0 || cfg.Paths.WS == "" || cfg.Units.Default <= 0 || cfg.PartialMS <= 0 {
		t.Errorf("config incomplete: %+v", cfg)
	}
	for _, id := range []string{"image", "overlay", "palette", "undo", "status", "mode-add", "mode-remove"} {
		if !strings.Contains(html, ` id="`+id+`"`) {
			t.Errorf("element #%s missing", id)
		}
	}
}

func firstDiff(want, got string) string {
	n := min(len(want), len(got))
	i := 0
	for i < n && want[i] == got[i] {
		i++
	}
	lo := max(0, i-60)
	return "want …" + want[lo:min(len(want), i+60)] + "…\n got …" + got[lo:min(len(got), i+60)] + "…"
}

func TestPageMeta(t *testing.T) {
	p := testPages(t)
	d := withState(basePageData(), "AQtok", "/")
	var buf bytes.Buffer
	if err := p.Painter(&buf, d); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		`<meta property="og:image" content="https://paint.example.org/render.png?state=AQtok&amp;size=512">`,
		`<meta property="og:image:width" content="512">`,
		`<meta property="og:image:height" content="512">`,
		`<meta name="twitter:card" content="summary_large_image">`,
		`<meta property="og:url" content="https://paint.example.org/?state=AQtok">`,
		`<meta property="og:title" content="Image 7: tree added, cloud removed · GANPaint">`,
		`<meta property="og:description" content="A scene from Procedural outdoor scenes, 128 px, generated by a GAN (image 7) and painted in GANPaint: tree added in 2 strokes; cloud removed everywhere. Open the link to see it and paint on.">`,
		`<title>Image 7: tree added, cloud removed · GANPaint</title>`,
		`href="/render.png?state=AQtok"`,
		`"state":"AQtok"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Sample thumbnails are share tokens of the unedited images, which the
	// server's own decoder must accept.
	thumbs := regexp.MustCompile(`<img data-src="/render.png\?state=([A-Za-z0-9_-]+)"`).FindAllStringSubmatch(html, -1)
	if len(thumbs) != len(d.Hello.SampleIDs) {
		t.Fatalf("%d thumbnails, want %d", len(thumbs), len(d.Hello.SampleIDs))
	}
	for i, m := range thumbs {
		st, err := painting.DecodeState(m[1])
		if err != nil {
			t.Fatalf("thumbnail %d token: %v", i, err)
		}
		if st.ID != d.Hello.SampleIDs[i] || st.Model != "scenes128" || st.Layer != "layer4" || len(st.Edits) != 0 {
			t.Errorf("thumbnail %d decodes to %+v", i, st)
		}
	}

	// Without a base URL there is no absolute URL to offer previews.
	d.BaseURL, d.ImageURL, d.PainterURL, d.PageURL = "", "", "", ""
	buf.Reset()
	if err := p.Painter(&buf, d); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "og:image") || strings.Contains(buf.String(), "og:url") {
		t.Error("og:image/og:url present without a base URL")
	}
}

// TestPageEscaping: names from a model manifest end up in HTML and in the
// JSON config; neither may break out of its context.
func TestPageEscaping(t *testing.T) {
	const evil = `</script><script>alert(1)</script>`
	d := basePageData()
	d.Hello.Model.Title = evil
	d.Hello.Concepts[0].Name = `tree"><img src=x onerror=alert(1)>` + evil
	d.State = `"><script>alert(2)</script>`
	p := testPages(t)
	for name, render := range map[string]func(*bytes.Buffer) error{
		"painter": func(b *bytes.Buffer) error { return p.Painter(b, d) },
		"embed":   func(b *bytes.Buffer) error { return p.Embed(b, d) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render(&buf); err != nil {
				t.Fatal(err)
			}
			html := buf.String()
			if strings.Contains(html, "<script>alert") || strings.Contains(html, "<img src=x") {
				t.Errorf("unescaped markup in page:\n%s", html)
			}
			checkHTML(t, html)
		})
	}
}

func TestPageDataValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*server.PageData)
	}{
		{"no image size", func(d *server.PageData) { d.Hello.Image.Width = 0 }},
		{"negative max id", func(d *server.PageData) { d.Hello.MaxID = -1 }},
		{"bad colour", func(d *server.PageData) { d.Hello.Concepts[0].Color = "red;background:url(x)" }},
		{"short colour", func(d *server.PageData) { d.Hello.Concepts[0].Color = "#fff" }},
		{"empty concept", func(d *server.PageData) { d.Hello.Concepts[0].Name = "" }},
		{"repeated concept", func(d *server.PageData) { d.Hello.Concepts[1].Name = d.Hello.Concepts[0].Name }},
		{"empty grid", func(d *server.PageData) { d.Hello.Layers[0].Width = 0 }},
		{"sample out of range", func(d *server.PageData) { d.Hello.SampleIDs = []int64{d.Hello.MaxID} }},
		{"relative base URL", func(d *server.PageData) { d.BaseURL = "paint.example.org" }},
		{"javascript image URL", func(d *server.PageData) { d.ImageURL = "javascript:alert(1)" }},
		{"huge token", func(d *server.PageData) { d.State = strings.Repeat("A", maxStateLen+1) }},
		{"relative ws path", func(d *server.PageData) { d.WSPath = "ws" }},
	}
	p := testPages(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := basePageData()
			d.Hello.Concepts = append([]server.HelloConcept(nil), d.Hello.Concepts...)
			d.Hello.Layers = append([]server.HelloLayer(nil), d.Hello.Layers...)
			tc.mutate(&d)
			var buf bytes.Buffer
			for _, render := range []func() error{
				func() error { return p.Painter(&buf, d) },
				func() error { return p.Embed(&buf, d) },
			} {
				buf.Reset()
				err := render()
				if !errors.Is(err, ErrInvalidPageData) {
					t.Fatalf("error = %v, want ErrInvalidPageData", err)
				}
				if buf.Len() != 0 {
					t.Errorf("wrote %d bytes despite the error", buf.Len())
				}
			}
		})
	}
}

func TestNewPagesNeedsAssets(t *testing.T) {
	if _, err := NewPages(nil); err == nil {
		t.Error("NewPages(nil) succeeded")
	}
	fsys := testFS("x")
	delete(fsys, "icon.svg")
	if _, err := NewPages(mustAssets(t, fsys)); !errors.Is(err, ErrUnknownAsset) {
		t.Errorf("NewPages without icon.svg: %v, want ErrUnknownAsset", err)
	}
}

// TestConfigMatchesScript keeps the Go config and app.js in step: every
// cfg.field (and cfg.object.field) the script reads must be in the JSON.
func TestConfigMatchesScript(t *testing.T) {
	var js []byte
	for _, name := range painterModules() {
		b, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		js = append(js, b...)
	}
	// A page with every optional field: a bad link and a custom brush.
	d := basePageData()
	d.StateError = "bad link"
	d.Custom = &server.PageCustom{Layer: "layer4", Units: []int{1, 2}, Label: "custom: 2 units @ layer4"}
	v, err := newView(d, mustAssets(t, testFS("x")), new(painting.TokenEncoder), false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v.Config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	uses := regexp.MustCompile(`\bcfg\.([a-z_]+)(?:\.([a-z_]+))?`).FindAllStringSubmatch(string(js), -1)
	if len(uses) < 10 {
		t.Fatalf("found only %d cfg reads in app.js; has the variable been renamed?", len(uses))
	}
	arrayMethods := map[string]bool{"length": true, "slice": true, "map": true}
	for _, m := range uses {
		top, ok := cfg[m[1]]
		if !ok {
			t.Errorf("app.js reads cfg.%s, which the page config lacks", m[1])
			continue
		}
		if m[2] == "" {
			continue
		}
		switch val := top.(type) {
		case map[string]any:
			if _, ok := val[m[2]]; !ok {
				t.Errorf("app.js reads cfg.%s.%s, which the page config lacks", m[1], m[2])
			}
		case []any:
			if !arrayMethods[m[2]] {
				t.Errorf("app.js reads cfg.%s.%s on an array", m[1], m[2])
			}
		default:
			t.Errorf("app.js reads cfg.%s.%s on a %T", m[1], m[2], top)
		}
	}
}
