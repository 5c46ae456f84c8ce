package main

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/assets"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
	"github.com/ganpaint-go/ganpaint/painting"
	"github.com/ganpaint-go/ganpaint/server"
)

// oldName is the slimmed copy's name in these tests: the embedded model
// kept next to a newer default, as scenes128 will be when v2 lands.
const oldName = "scenes128old"

// slimCopy slims the embedded default model into a temporary folder and
// renames it, as a second model for one server.
func slimCopy(t *testing.T) string {
	t.Helper()
	src, err := assets.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), oldName)
	res, err := slimModel(src, dir, slimKeep{})
	if err != nil {
		t.Fatalf("slim: %v", err)
	}
	for _, f := range []string{"segmenter.onnx", "discriminator.onnx", "inpainter.onnx", "fid_reference.json"} {
		if !slices.Contains(res.Dropped, f) {
			t.Errorf("slim kept %s (dropped %v)", f, res.Dropped)
		}
	}
	for _, f := range []string{"manifest.json", "efficacy.json", "generator/layer1.onnx", "generator/to_rgb.onnx", "dissection/index.json", "dissection/artifacts-layer4.json"} {
		if !slices.Contains(res.Kept, f) {
			t.Errorf("slim dropped %s (kept %v)", f, res.Kept)
		}
	}
	if res.KeptBytes > 14<<20 {
		t.Errorf("slimmed model is %.1f MB, want the generator and dissection only (about 13 MB)", float64(res.KeptBytes)/(1<<20))
	}
	mp := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	man, err := inference.ParseManifest(data)
	if err != nil {
		t.Fatalf("slimmed manifest: %v", err)
	}
	if man.Segmenter != nil || man.Discriminator != nil || man.Inpainter != nil || len(man.Palette) == 0 {
		t.Errorf("slimmed manifest keeps segmenter %v discriminator %v inpainter %v, palette %d classes",
			man.Segmenter != nil, man.Discriminator != nil, man.Inpainter != nil, len(man.Palette))
	}
	data = bytes.Replace(data, []byte(`"name": "`+assets.DefaultModelName+`"`), []byte(`"name": "`+oldName+`"`), 1)
	if err := os.WriteFile(mp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadForTest(t *testing.T, fsys fs.FS, source string) *servedModel {
	t.Helper()
	sm, err := loadServedModel(modelSrc{fsys: fsys, source: source}, "", inference.Options{Workers: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.m.Close() })
	return sm
}

func testServer(t *testing.T, models ...*servedModel) *httptest.Server {
	t.Helper()
	extras := extraConfig{Report: true, ReportCacheBytes: 8 << 20, API: &server.RefAPIConfig{Logger: quiet()}}
	srv, err := newPainterServer(server.Config{Logger: quiet()}, extras, models)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func fetch(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestServeEmbeddedAndSlimmedModel: the embedded model and a slimmed,
// renamed copy in one server. A token made for each renders with its own
// model exactly as a server with that model alone renders it, and the
// slimmed copy renders byte-identically to the full model (what keeps old
// links working once v1 is slimmed); the parts the copy lacks are off.
func TestServeEmbeddedAndSlimmedModel(t *testing.T) {
	testenv.RequireRuntime(t)
	embedded, err := assets.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	full := loadForTest(t, embedded, "embedded")
	slim := loadForTest(t, os.DirFS(slimCopy(t)), oldName)
	two := testServer(t, full, slim)
	aloneFull := testServer(t, full)
	aloneSlim := testServer(t, slim)

	// Edits as the painter makes them: the default tree brush (a recipe)
	// at its default step, a door recipe trained at layer6, a legacy
	// IoU-unit edit (links made before brushes), a removal everywhere and
	// the repair toggle.
	var hello server.Hello
	_, body := fetch(t, two.URL+"/api/model")
	if err := json.Unmarshal(body, &hello); err != nil {
		t.Fatal(err)
	}
	brush := func(concept string) (string, string) {
		for _, l := range hello.Layers {
			if l.Name == hello.DefaultLayer && l.Brushes[concept] != nil && len(l.Brushes[concept].Add) > 0 {
				b := l.Brushes[concept].Add[0]
				return b.Name, b.Default
			}
		}
		t.Fatalf("no %s brush at %s", concept, hello.DefaultLayer)
		return "", ""
	}
	treeBrush, treeStep := brush("tree")
	doorBrush, doorStep := brush("door")
	edits := []painting.Edit{
		{Concept: "tree", Units: 15, Radius: 12, Brush: treeBrush, Step: treeStep, Points: []painting.Point{{X: 20, Y: 90}, {X: 50, Y: 96}}},
		{Concept: "door", Units: 15, Radius: 10, Brush: doorBrush, Step: doorStep, Points: []painting.Point{{X: 80, Y: 80}}},
		{Concept: "cloud", Units: 10, Radius: 8, Points: []painting.Point{{X: 64, Y: 20}}},
		{Concept: "sky", Mode: painting.Remove, Units: 15, Everywhere: true},
	}
	token := func(model string, id int64, repair bool, edits []painting.Edit) string {
		tok, err := painting.EncodeState(painting.State{Model: model, Layer: hello.DefaultLayer, ID: id, Repair: repair, Edits: edits})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name   string
		id     int64
		repair bool
		edits  []painting.Edit
	}{
		{"plain", 6, false, nil},
		{"painted", 13, false, edits},
		{"painted and repaired", 88, true, edits[:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := token(assets.DefaultModelName, tc.id, tc.repair, tc.edits), token(oldName, tc.id, tc.repair, tc.edits)
			render := func(ts *httptest.Server, tok string) []byte {
				t.Helper()
				status, png := fetch(t, ts.URL+"/render.png?state="+url.QueryEscape(tok))
				if status != http.StatusOK {
					t.Fatalf("render: %d %s", status, png)
				}
				return png
			}
			gotA, gotB := render(two, a), render(two, b)
			if !bytes.Equal(gotA, render(aloneFull, a)) {
				t.Error("the embedded model's token renders differently next to a second model")
			}
			if !bytes.Equal(gotB, render(aloneSlim, b)) {
				t.Error("the slimmed model's token renders differently next to the embedded model")
			}
			if !bytes.Equal(gotA, gotB) {
				t.Error("the slimmed copy renders the same state differently from the full model")
			}
		})
	}
	// Without a token, ?model= picks; the other model's token does not
	// render on a server without it.
	_, def := fetch(t, aloneFull.URL+"/render.png")
	if _, got := fetch(t, two.URL+"/render.png?model="+oldName); !bytes.Equal(got, def) {
		t.Error("?model= did not render the slimmed model's default image")
	}
	if status, msg := fetch(t, aloneFull.URL+"/render.png?state="+url.QueryEscape(token(oldName, 6, false, nil))); status != http.StatusNotFound || !strings.Contains(string(msg), oldName) {
		t.Errorf("a token for a model the server lacks: %d %s, want 404 naming it", status, msg)
	}

	// The slimmed model keeps its palette's colours and loses the parts
	// that need a segmenter.
	var helloOld server.Hello
	_, body = fetch(t, two.URL+"/api/model?model="+oldName)
	if err := json.Unmarshal(body, &helloOld); err != nil || helloOld.Model.Name != oldName {
		t.Fatalf("api/model?model=%s: %s (%v)", oldName, body, err)
	}
	if !slices.Equal(helloOld.Concepts, hello.Concepts) {
		t.Errorf("slimmed palette %v, want the full model's %v", helloOld.Concepts, hello.Concepts)
	}
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/growth?concept=tree&" + server.ModelParam + "=" + oldName, http.StatusNotFound, "no segmenter"},
		{"/api/compare?state=" + url.QueryEscape(token(oldName, 6, false, edits[3:])), http.StatusNotFound, "no segmenter"},
		{"/api/compare?state=" + url.QueryEscape(token(assets.DefaultModelName, 6, false, edits[3:])), http.StatusOK, "methods"},
		{"/?model=" + oldName, http.StatusOK, `class="model-picker"`},
		{"/models/" + oldName + "/report/", http.StatusOK, oldName},
		{"/models/" + oldName + "/report/edit", http.StatusOK, `"api":"/models/` + oldName + `/api"`},
		{"/api/layers?project=" + oldName, http.StatusOK, `"project":"` + oldName + `"`},
		{"/api/all_projects", http.StatusOK, `"project":"` + oldName + `"`},
	} {
		t.Run(tc.path[:min(len(tc.path), 40)], func(t *testing.T) {
			status, body := fetch(t, two.URL+tc.path)
			if status != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d %.300s, want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}
	// A POST to /api/ reaches the model its body names: each model's API
	// refuses another's project, so a 200 is the right model's answer.
	for _, name := range []string{assets.DefaultModelName, oldName} {
		resp, err := http.Post(two.URL+"/api/generate", "application/json", strings.NewReader(`{"project":"`+name+`","ids":[6]}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST /api/generate for %s: %d %.300s", name, resp.StatusCode, body)
		}
	}
	// The renders above are counted per model.
	_, metrics := fetch(t, two.URL+"/metrics")
	for _, name := range []string{assets.DefaultModelName, oldName} {
		line := `ganpaint_render_png_total{model="` + name + `",result="rendered"} `
		if !strings.Contains(string(metrics), line) || strings.Contains(string(metrics), line+"0\n") {
			t.Errorf("no renders counted for %s", name)
		}
	}
	_, page := fetch(t, two.URL+"/?model="+oldName)
	if strings.Contains(string(page), `data-endpoint="/api/compare"`) || strings.Contains(string(page), `data-endpoint="/api/growth"`) {
		t.Error("the slimmed model's page offers the compare panel or growth overlay")
	}
}

// TestSlimErrors: slim refuses what it cannot do, with the reason.
func TestSlimErrors(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", nil, "--out DIR is required"},
		{"out not empty", []string{"--out", full}, "is not empty"},
		{"no model dir", []string{"--model", filepath.Join(t.TempDir(), "nope"), "--out", t.TempDir()}, "is not a directory"},
		{"no dissection", []string{"--model", plantedModelDir, "--out", filepath.Join(t.TempDir(), "o")}, "dissection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runSlim(t.Context(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
