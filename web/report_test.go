package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/report"
	"github.com/ganpaint-go/ganpaint/server"
)

// testReport is a small two-layer model: layer4 (6 units) with causal
// measurements of tree, layer6 (4 units) without.
func testReport(t *testing.T) *report.Report { t.Helper(); return testReportAt(t, "") }

// testReportAt is testReport for a model whose painter paints at
// paintLayer by default ("": the manifest names none).
func testReportAt(t *testing.T, paintLayer string) *report.Report {
	t.Helper()
	man := inference.Manifest{Name: "scenes", Title: "Test scenes", Z: inference.ZSpec{Size: 4, MaxID: 1000}, DefaultLayer: paintLayer,
		Image: inference.ImageSpec{Width: 64, Height: 64},
		Segmenter: &inference.SegmenterSpec{Classes: []inference.ClassSpec{
			{Name: "sky", Color: "#87ceeb"}, {Name: "tree", Color: "#228b22"}, {Name: "door", Color: "#8b4513"}}}}
	layers := []inference.LayerInfo{{Name: "layer4", Channels: 6, Height: 4, Width: 4}, {Name: "layer6", Index: 1, Channels: 4, Height: 8, Width: 8}}
	classes := []string{"sky", "tree", "door"}
	mk := func(name string, labels []string, ious []float64) *dissection.Layer {
		l := &dissection.Layer{Layer: name, Channels: len(labels), Height: 4, Width: 4, Samples: 100, ThresholdMethod: "iqr",
			IoUThreshold: 0.05, LevelQuantile: 0.99, ClassNames: classes, Rankings: map[string][]int{}}
		for u, lab := range labels {
			ci := make([]float64, 3)
			for c := range ci {
				if classes[c] == lab {
					ci[c] = ious[u]
				} else {
					ci[c] = ious[u] / float64(4+c)
				}
			}
			l.Units = append(l.Units, dissection.Unit{Unit: u, Label: lab, IoU: ious[u], IQR: ious[u] / 3,
				Interpretable: ious[u] > 0.05, Level: 2, Threshold: 1, ThresholdQuantile: 0.9, ClassIoU: ci,
				TopIDs: []int64{int64(10 + u), int64(20 + u)}, TopActs: []float32{3, 2.5}})
		}
		for c := range classes {
			order := make([]int, len(labels))
			for i := range order {
				order[i] = (i + c) % len(labels)
			}
			l.Rankings[classes[c]] = order
		}
		return l
	}
	l4 := mk("layer4", []string{"tree", "sky", "tree", "door", "sky", "tree"}, []float64{0.31, 0.2, 0.04, 0.12, 0.5, 0.07})
	l4.Causal = &dissection.Causal{Samples: 24, Ks: []int{5, 10}, AppearShare: 0.2,
		Effects: map[string][]dissection.CausalEffect{"tree": {
			{K: 5, ShareBefore: 0.2, ShareAfter: 0.15, Drop: 0.05, RegionShare: 0.1, RegionAfter: 0.3, Rise: 0.2},
			{K: 10, ShareBefore: 0.2, ShareAfter: 0.1, Drop: 0.1, RegionShare: 0.1, RegionAfter: 0.45, Rise: 0.35}}},
		Locations: map[string]dissection.LocationMap{"tree": {K: 20, Rows: 2, Cols: 2, Rate: []float64{0, 0.5, 1, 0},
			Eligible: []int{3, 2, 3, 0}, Images: 3}}}
	l6 := mk("layer6", []string{"door", "door", "sky", "tree"}, []float64{0.2, 0.1, 0.01, 0.09})
	l6.Height, l6.Width = 8, 8
	rep, err := report.New(man, layers, &dissection.Results{Model: "scenes", Layers: map[string]*dissection.Layer{"layer4": l4, "layer6": l6}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// reportFS has fixed asset contents, so the goldens only change with the
// templates.
func reportFS() fstest.MapFS {
	fs := testFS("/* app */")
	fs["report.js"] = &fstest.MapFile{Data: []byte("/* report */")}
	fs["report.css"] = &fstest.MapFile{Data: []byte("/* report css */")}
	fs["editor.js"] = &fstest.MapFile{Data: []byte("/* editor */")}
	return fs
}

func testReportPages(t *testing.T, links report.Links) *Report {
	t.Helper()
	p, err := NewReport(testReport(t), links, mustAssets(t, reportFS()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoldenReportPages(t *testing.T) {
	rep := testReport(t)
	live := testReportPages(t, report.ServerLinks("/report", rep.Version))
	static := testReportPages(t, report.StaticLinks())
	for _, tc := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"report_index", func(b *bytes.Buffer) error { return live.Index(b) }},
		{"report_layer", func(b *bytes.Buffer) error { return live.Layer(b, "layer4") }},
		{"report_unit", func(b *bytes.Buffer) error { return live.Unit(b, "layer4", 0, -1) }},
		{"report_unit_id", func(b *bytes.Buffer) error { return live.Unit(b, "layer6", 3, 21) }},
		{"report_editor", func(b *bytes.Buffer) error { return live.Editor(b) }},
		{"report_static_layer", func(b *bytes.Buffer) error { return static.Layer(b, "layer6") }},
		{"report_static_unit", func(b *bytes.Buffer) error { return static.Unit(b, "layer4", 2, -1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(buf.Bytes(), []byte("<script>")) || bytes.Contains(buf.Bytes(), []byte(" style=")) {
				t.Error("inline script or style breaks the page's CSP")
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./web -update)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from %s (rerun with -update after checking the diff)", tc.name, path)
			}
		})
	}
}

func TestReportPageContents(t *testing.T) {
	rep := testReport(t)
	p := testReportPages(t, report.ServerLinks("/report", rep.Version))
	var buf bytes.Buffer
	if err := p.Layer(&buf, "layer4"); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		"5 of 6 units are interpretable and cover 3 concepts",
		`data-unit="5" data-label="tree"`,
		`<option value="rank:door-iou">door-iou</option>`,
		`/report/img/` + rep.Version + `/strip/layer4/3.jpg`,
		`data-concept="tree"`, // the causal row
	} {
		if !strings.Contains(html, want) {
			t.Errorf("layer page lacks %q", want)
		}
	}
	// One bar per concept with interpretable units, coloured by concept:
	// tree 2 (units 0, 5), sky 2 (1, 4), door 1 (3).
	chart := html[strings.Index(html, `id="concept-chart"`):]
	chart = chart[:strings.Index(chart, "</svg>")]
	bars := regexp.MustCompile(`<g class="bar-group" data-label="([a-z]+)">`).FindAllStringSubmatch(chart, -1)
	if len(bars) != 3 || bars[0][1] != "sky" || bars[1][1] != "tree" || bars[2][1] != "door" {
		t.Errorf("bars %v", bars)
	}
	if n := strings.Count(html, `class="unit-card"`); n != 6 {
		t.Errorf("%d unit cards", n)
	}
	// The grid's JSON lists every ranking in order.
	m := regexp.MustCompile(`(?s)<script id="report-grid" type="application/json">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no grid data")
	}
	var gd gridData
	if err := json.Unmarshal([]byte(m[1]), &gd); err != nil || len(gd.Rankings) != 3 || gd.Rankings["tree-iou"][0] != 1 {
		t.Errorf("grid data %s (%v)", m[1], err)
	}

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"unknown layer", p.Layer(&buf, "layer5")},
		{"unknown layer of a unit", p.Unit(&buf, "layer5", 0, -1)},
		{"unit out of range", p.Unit(&buf, "layer4", 6, -1)},
		{"negative unit", p.Unit(&buf, "layer4", -1, -1)},
		{"id out of range", p.Unit(&buf, "layer4", 0, 1000)},
	} {
		if !errors.Is(tc.err, report.ErrNotFound) {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
	}
	if _, err := NewReport(testReport(t), report.StaticLinks(), mustAssets(t, testFS("x"))); !errors.Is(err, ErrUnknownAsset) {
		t.Errorf("missing report assets: %v", err)
	}
}

// TestReportImplementsServer pins the interface the server consumes.
func TestReportImplementsServer(t *testing.T) {
	var _ server.ReportPages = testReportPages(t, report.StaticLinks())
}

// TestEditorConfigMatchesScript keeps editorConfig and editor.js in step.
func TestEditorConfigMatchesScript(t *testing.T) {
	js, err := staticFS.ReadFile("static/editor.js")
	if err != nil {
		t.Fatal(err)
	}
	p := testReportPages(t, report.ServerLinks("/report", "v"))
	var buf bytes.Buffer
	if err := p.Editor(&buf); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<script id="editor-config" type="application/json">(.*?)</script>`).FindSubmatch(buf.Bytes())
	if m == nil {
		t.Fatal("no editor config in the page")
	}
	var cfg map[string]any
	if err := json.Unmarshal(m[1], &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["unit_url"] != "/report/{layer}/unit/{unit}" {
		t.Errorf("unit_url %v", cfg["unit_url"])
	}
	uses := regexp.MustCompile(`\bcfg\.([a-z_]+)`).FindAllStringSubmatch(string(js), -1)
	if len(uses) < 8 {
		t.Fatalf("found only %d cfg reads in editor.js", len(uses))
	}
	for _, u := range uses {
		if _, ok := cfg[u[1]]; !ok {
			t.Errorf("editor.js reads cfg.%s, which the page config lacks", u[1])
		}
	}
}

// TestEmbeddedReportAssets: the binary carries every file the report pages
// reference.
func TestEmbeddedReportAssets(t *testing.T) {
	a, err := NewAssets()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewReport(testReport(t), report.StaticLinks(), a); err != nil {
		t.Fatal(err)
	}
}

// TestEditorOpensOnThePaintersLayer: the unit editor starts on the layer
// the painter paints at when that layer is dissected (its units then
// paint in a new painter session), else on the first dissected layer.
func TestEditorOpensOnThePaintersLayer(t *testing.T) {
	for _, tc := range []struct{ paint, want string }{
		{"", "layer4"},
		{"layer6", "layer6"},
		{"layer4", "layer4"},
		{"layer5", "layer4"}, // not dissected
	} {
		t.Run(tc.paint, func(t *testing.T) {
			p, err := NewReport(testReportAt(t, tc.paint), report.ServerLinks("/report", "v"), mustAssets(t, reportFS()))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.Editor(&buf); err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`"default_layer":"([^"]*)"`).FindSubmatch(buf.Bytes())
			if m == nil || string(m[1]) != tc.want {
				t.Errorf("default_layer %q, want %q", m, tc.want)
			}
		})
	}
}
