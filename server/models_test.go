package server

import (
	"bytes"
	"context"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// modelB is a second fake model: another name, another palette (tree and
// "dome", which fake64 lacks) and other pixels, so a render or a session on
// the wrong model shows.
func modelB() ModelDeps {
	info := testModel()
	info.Name, info.Title = "fakeB", "Fake model B"
	eng := fakeEngine{
		model: func() ModelInfo { return info },
		features: func(ctx context.Context, layer string, id int64) (Features, error) {
			return fakeFeatures{layer: layer, id: id}, nil
		},
		render: func(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
			img, err := detRender(info, f.(fakeFeatures), edits)
			if err != nil {
				return nil, err
			}
			// Model B's pixels are the negative of fake64's.
			for i := 0; i < len(img.Pix); i += 4 {
				img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 255-img.Pix[i], 255-img.Pix[i+1], 255-img.Pix[i+2]
			}
			return img, nil
		},
	}
	concepts := fakeConcepts{
		list: func() []Concept { return []Concept{{"tree", "#228b22"}, {"dome", "#f1c40f"}} },
		ranked: func(layer, concept string) []int {
			switch layer + "/" + concept {
			case "layer4/tree":
				return []int{7, 8, 9}
			case "layer4/dome":
				return []int{1, 2, 3, 4}
			}
			return nil
		},
	}
	return ModelDeps{Engine: eng, Concepts: concepts}
}

// twoModelDeps: fake64 (the default, with a report and an API that echo
// their model) and fakeB (no compare, growth, report or API).
func twoModelDeps() Deps {
	deps := testDeps(detEngine(nil, 0))
	deps.Report = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "report of fake64") })
	deps.API = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api of fake64") })
	deps.Growth = fakeGrowth{}
	deps.Models = []ModelDeps{modelB()}
	return deps
}

func tokenFor(t *testing.T, st painting.State) string {
	t.Helper()
	tok, err := painting.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestModelsRenderWithTheirOwnModel: a token renders with the model it
// names, on a server with both models exactly as on a server with that one.
func TestModelsRenderWithTheirOwnModel(t *testing.T) {
	two := httptest.NewServer(mustNew(t, twoModelDeps()).Handler())
	defer two.Close()
	onlyA := httptest.NewServer(mustNew(t, testDeps(detEngine(nil, 0))).Handler())
	defer onlyA.Close()
	onlyB := httptest.NewServer(mustNew(t, Deps{ModelDeps: modelB(), Pages: testPages()}).Handler())
	defer onlyB.Close()

	treeStroke := painting.Edit{Concept: "tree", Units: 3, Radius: 8, Points: []painting.Point{{X: 10, Y: 10}, {X: 30, Y: 12}}}
	domeStroke := painting.Edit{Concept: "dome", Units: 2, Radius: 8, Points: []painting.Point{{X: 40, Y: 40}}}
	for _, tc := range []struct {
		name  string
		query string
		alone *httptest.Server
	}{
		{"default model, no token", "", onlyA},
		{"fake64 token", "state=" + tokenFor(t, painting.State{Model: "fake64", Layer: "layer4", ID: 9, Edits: []painting.Edit{treeStroke}}), onlyA},
		{"fakeB token", "state=" + tokenFor(t, painting.State{Model: "fakeB", Layer: "layer4", ID: 9, Edits: []painting.Edit{treeStroke, domeStroke}}), onlyB},
		{"?model=fakeB", "model=fakeB", onlyB},
		{"?model=fake64", "model=fake64", onlyA},
		// The token wins over ?model=: a link keeps its model.
		{"fakeB token, ?model=fake64", "model=fake64&state=" + tokenFor(t, painting.State{Model: "fakeB", Layer: "layer4", ID: 3}), onlyB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := httpGet(t, two.URL+"/render.png?"+tc.query, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			// The single-model server knows no ?model=; its default is it.
			q, _ := url.ParseQuery(tc.query)
			q.Del(ModelParam)
			_, want := httpGet(t, tc.alone.URL+"/render.png?"+q.Encode(), nil)
			if !bytes.Equal(got, want) {
				t.Errorf("render differs from the single-model server's (%d vs %d bytes)", len(got), len(want))
			}
		})
	}
	// And the two models do draw differently, so the comparisons above can fail.
	_, a := httpGet(t, two.URL+"/render.png?model=fake64", nil)
	_, b := httpGet(t, two.URL+"/render.png?model=fakeB", nil)
	if bytes.Equal(a, b) {
		t.Error("fake64 and fakeB render the same picture")
	}
}

func mustNew(t *testing.T, deps Deps) *Server {
	t.Helper()
	s, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// TestUnknownModelOnEveryRoute: a token or ?model= naming a model the
// server does not have is refused with a message that names it, never
// answered with another model's picture.
func TestUnknownModelOnEveryRoute(t *testing.T) {
	srv := mustNew(t, twoModelDeps())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	gone := tokenFor(t, painting.State{Model: "scenes64", Layer: "layer4", ID: 1})
	for _, q := range []string{"model=scenes64", "state=" + gone} {
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/render.png", http.StatusNotFound},
			{"/api/model", http.StatusNotFound},
			{"/api/compare", http.StatusNotFound},
			{"/api/growth", http.StatusNotFound},
			{"/api/layers", http.StatusNotFound},
			// The pages open on the default model and say why.
			{"/", http.StatusOK},
			{"/embed", http.StatusOK},
		} {
			if tc.path == "/api/layers" && strings.HasPrefix(q, "state=") {
				continue // the API names its model by ?model= or ?project=
			}
			t.Run(tc.path+"?"+q[:min(len(q), 14)], func(t *testing.T) {
				resp, body := httpGet(t, ts.URL+tc.path+"?"+q, nil)
				if resp.StatusCode != tc.status || !strings.Contains(string(body), "scenes64") {
					t.Fatalf("status %d body %.300s, want %d naming scenes64", resp.StatusCode, body, tc.status)
				}
				if tc.status != http.StatusOK {
					return
				}
				d := pageData(t, body)
				if d.ModelError == "" || d.State != "" || d.Hello.Model.Name != "fake64" || d.StateError != "" {
					t.Errorf("page: model error %q, state %q, model %q, state error %q; want the default model and a model error",
						d.ModelError, d.State, d.Hello.Model.Name, d.StateError)
				}
			})
		}
	}
	for _, path := range []string{"/report/?model=scenes64", "/models/scenes64/report/", "/models/scenes64/api/layers", "/models/scenes64"} {
		resp, body := httpGet(t, ts.URL+path, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "scenes64") {
			t.Errorf("%s: status %d body %.200s, want 404 naming scenes64", path, resp.StatusCode, body)
		}
	}
	// A websocket on an unknown model gets the error frame, then paints
	// with the default model.
	_, addr := startServer(t, Config{}, twoModelDeps())
	for _, q := range []string{"?model=scenes64", "?state=" + gone} {
		c := dial(t, addr, q)
		m, _ := c.next()
		if m["t"] != "hello" || m["model"].(map[string]any)["name"] != "fake64" {
			t.Fatalf("%s: first message %v, want fake64's hello", q, m)
		}
		e := c.errorFrame()
		if e["code"] != codeUnknownModel || !strings.Contains(e["message"].(string), "scenes64") {
			t.Errorf("%s: error %v, want unknown_model naming scenes64", q, e)
		}
	}
}

// TestModelPages: each model's page paints with it, links its own report,
// hides what the model lacks, and lists both models in the picker.
func TestModelPages(t *testing.T) {
	ts := httptest.NewServer(mustNew(t, twoModelDeps()).Handler())
	defer ts.Close()
	bTok := tokenFor(t, painting.State{Model: "fakeB", Layer: "layer4", ID: 4})
	for _, tc := range []struct {
		query, model, ws, report, growth, imageURL string
	}{
		{"", "fake64", "/ws", "/report/", "/api/growth", "/render.png?size=512"},
		{"?model=fake64", "fake64", "/ws", "/report/", "/api/growth", "/render.png?size=512"},
		{"?model=fakeB", "fakeB", "/ws?model=fakeB", "", "", "/render.png?model=fakeB&size=512"},
		{"?state=" + bTok, "fakeB", "/ws?model=fakeB", "", "", "/render.png?state=" + bTok + "&size=512"},
	} {
		t.Run(tc.query[:min(len(tc.query), 14)], func(t *testing.T) {
			_, body := httpGet(t, ts.URL+"/"+tc.query, nil)
			d := pageData(t, body)
			if d.Hello.Model.Name != tc.model || d.WSPath != tc.ws || d.ReportURL != tc.report || d.GrowthPath != tc.growth ||
				d.ImageURL != ts.URL+tc.imageURL || d.ModelError != "" || d.StateError != "" {
				t.Errorf("model %q ws %q report %q growth %q image %q errors %q %q; want %q %q %q %q %q", d.Hello.Model.Name, d.WSPath,
					d.ReportURL, d.GrowthPath, d.ImageURL, d.ModelError, d.StateError, tc.model, tc.ws, tc.report, tc.growth, ts.URL+tc.imageURL)
			}
			if len(d.Models) != 2 || d.Models[0].Name != "fake64" || d.Models[0].Path != "/" ||
				d.Models[1].Name != "fakeB" || d.Models[1].Path != "/?model=fakeB" || d.Models[0].Current == d.Models[1].Current ||
				d.Models[1].Current != (tc.model == "fakeB") {
				t.Errorf("picker %+v", d.Models)
			}
		})
	}
	// One model: no picker.
	one := httptest.NewServer(mustNew(t, testDeps(detEngine(nil, 0))).Handler())
	defer one.Close()
	_, body := httpGet(t, one.URL+"/", nil)
	if d := pageData(t, body); d.Models != nil {
		t.Errorf("one model has a picker: %+v", d.Models)
	}
}

// TestModelOptionalParts: a model without growth, report or API answers
// 404 saying so, while the default model's still work.
func TestModelOptionalParts(t *testing.T) {
	ts := httptest.NewServer(mustNew(t, twoModelDeps()).Handler())
	defer ts.Close()
	bTok := tokenFor(t, painting.State{Model: "fakeB", Layer: "layer4", ID: 4,
		Edits: []painting.Edit{{Concept: "dome", Mode: painting.Remove, Units: 2, Radius: 8, Points: []painting.Point{{X: 9, Y: 9}}}}})
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/growth?concept=dome&state=" + bTok, http.StatusNotFound, "(it has no segmenter)"},
		{"/api/compare?state=" + bTok, http.StatusNotFound, "(it has no segmenter)"},
		{"/report/?model=fakeB", http.StatusFound, ""},
		{"/models/fakeB/report/", http.StatusNotFound, "no dissection report"},
		{"/api/layers?model=fakeB", http.StatusNotFound, "no REST API"},
		{"/api/layers?project=fakeB", http.StatusNotFound, "no REST API"},
		{"/models/fakeB/api/layers", http.StatusNotFound, "no REST API"},
		{"/report/", http.StatusOK, "report of fake64"},
		{"/report/?model=fake64", http.StatusOK, "report of fake64"},
		{"/models/fake64/report/", http.StatusOK, "report of fake64"},
		{"/api/layers", http.StatusOK, "api of fake64"},
		{"/api/layers?project=fake64", http.StatusOK, "api of fake64"},
		{"/models/fake64/api/layers", http.StatusOK, "api of fake64"},
		{"/api/model?model=fakeB", http.StatusOK, `"name":"fakeB"`},
		{"/models/fakeB", http.StatusFound, ""},
	} {
		t.Run(tc.path[:min(len(tc.path), 30)], func(t *testing.T) {
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("status %d body %.200s, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
			if tc.status == http.StatusFound {
				want := map[string]string{"/report/?model=fakeB": "/models/fakeB/report/", "/models/fakeB": "/?model=fakeB"}[tc.path]
				if loc := resp.Header.Get("Location"); loc != want {
					t.Errorf("Location %q, want %q", loc, want)
				}
			}
		})
	}
}

// TestSessionOnSecondModel: a websocket opened for model B says hello with
// B, paints with B's concepts (not A's), and its tokens name B; a link for
// A cannot be opened inside it.
func TestSessionOnSecondModel(t *testing.T) {
	_, addr := startServer(t, Config{}, twoModelDeps())
	c := dial(t, addr, "?model=fakeB")
	hello, first := c.hello()
	if hello["model"].(map[string]any)["name"] != "fakeB" {
		t.Fatalf("hello %v, want fakeB", hello["model"])
	}
	var names []string
	for _, cc := range hello["concepts"].([]any) {
		names = append(names, cc.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "tree,dome" {
		t.Errorf("concepts %v, want B's tree,dome", names)
	}
	seq := c.sendSeq(stroke("dome", "add", 4, 8, [2]float64{20, 20}))
	f, st := c.frameSeq(seq)
	if bytes.Equal(f.image, first.image) {
		t.Error("the dome stroke changed nothing")
	}
	dec, err := painting.DecodeState(st["state"].(string))
	if err != nil || dec.Model != "fakeB" || len(dec.Edits) != 1 || dec.Edits[0].Concept != "dome" {
		t.Errorf("state token %+v (%v), want fakeB with the dome stroke", dec, err)
	}
	// fake64's door is not B's.
	c.sendSeq(stroke("door", "add", 1, 8, [2]float64{20, 20}))
	if e := c.errorFrame(); e["code"] != codeUnknownConcept {
		t.Errorf("door on fakeB: %v, want unknown_concept", e)
	}
	c.sendSeq(map[string]any{"t": "open", "state": tokenFor(t, painting.State{Model: "fake64", Layer: "layer4", ID: 2})})
	if e := c.errorFrame(); e["code"] != codeBadState || !strings.Contains(e["message"].(string), "new page") {
		t.Errorf("opening a fake64 link in a fakeB session: %v, want bad_state saying to open it in a new page", e)
	}
	// Reconnecting with the token keeps model B, whatever ?model= says.
	c2 := dial(t, addr, "?state="+url.QueryEscape(st["state"].(string)))
	if h, _ := c2.hello(); h["model"].(map[string]any)["name"] != "fakeB" {
		t.Errorf("reconnect hello %v, want fakeB", h["model"])
	}
}

// TestModelsConfigErrors: several models need distinct, path-safe names.
func TestModelsConfigErrors(t *testing.T) {
	renamed := func(name string) ModelDeps {
		md := modelB()
		eng := md.Engine.(fakeEngine)
		info := eng.model()
		info.Name = name
		eng.model = func() ModelInfo { return info }
		md.Engine = eng
		return md
	}
	for _, tc := range []struct {
		name   string
		models []ModelDeps
	}{
		{"same name twice", []ModelDeps{renamed("fake64")}},
		{"name with a slash", []ModelDeps{renamed("a/b")}},
		{"empty name", []ModelDeps{renamed("")}},
		{"no engine", []ModelDeps{{Concepts: testConcepts()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps := testDeps(detEngine(nil, 0))
			deps.Models = tc.models
			if _, err := New(Config{Logger: quietLogger()}, deps); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}
