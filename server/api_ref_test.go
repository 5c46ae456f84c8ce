package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// fakeRefModel is a RefModel made of function fields around a tiny model:
// 16×16 images, z of 4, layer1 (4 units, 2×2) and layer2 (8 units, 4×4).
type fakeRefModel struct {
	man      inference.Manifest
	layers   []inference.LayerInfo
	head     func(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error)
	tail     func(ctx context.Context, f *inference.Features) (*inference.Images, error)
	generate func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
	levels   func(layer string) ([]float32, error)
}

func (m *fakeRefModel) Manifest() inference.Manifest                            { return m.man }
func (m *fakeRefModel) Layers() []inference.LayerInfo                           { return m.layers }
func (m *fakeRefModel) ImageRange() [2]float32                                  { return [2]float32{-1, 1} }
func (m *fakeRefModel) Levels(ctx context.Context, l string) ([]float32, error) { return m.levels(l) }
func (m *fakeRefModel) ZBatch(ids []int64) ([]float32, error) {
	out := make([]float32, 0, 4*len(ids))
	for _, id := range ids {
		out = append(out, float32(id), 0, 0, 1)
	}
	return out, nil
}
func (m *fakeRefModel) Head(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error) {
	return m.head(ctx, layer, zs, n)
}
func (m *fakeRefModel) Tail(ctx context.Context, f *inference.Features) (*inference.Images, error) {
	return m.tail(ctx, f)
}
func (m *fakeRefModel) Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
	return m.generate(ctx, zs, n, layers)
}

// fakeAct is the fake's activation: z[0] + unit + cell/100.
func fakeAct(z0 float32, u, p int) float32 { return z0 + float32(u) + float32(p)/100 }

// newFakeRefModel records the features every Tail call receives.
func newFakeRefModel() (*fakeRefModel, *[]*inference.Features) {
	var mu sync.Mutex
	var tails []*inference.Features
	m := &fakeRefModel{
		man: inference.Manifest{Name: "fake64", Z: inference.ZSpec{Size: 4, MaxID: 1000},
			Image: inference.ImageSpec{Width: 16, Height: 16, Range: [2]float32{-1, 1}}},
		layers: []inference.LayerInfo{
			{Name: "layer1", Index: 0, Channels: 4, Height: 2, Width: 2},
			{Name: "layer2", Index: 1, Channels: 8, Height: 4, Width: 4},
		},
	}
	m.head = func(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error) {
		for _, li := range m.layers {
			if li.Name == layer {
				f := &inference.Features{Layer: li, N: n, Data: make([]float32, n*li.Size())}
				plane := li.Width * li.Height
				for i := 0; i < n; i++ {
					for u := 0; u < li.Channels; u++ {
						for p := 0; p < plane; p++ {
							f.Data[(i*li.Channels+u)*plane+p] = fakeAct(zs[i*4], u, p)
						}
					}
				}
				return f, nil
			}
		}
		return nil, inference.ErrUnknownLayer
	}
	images := func(n int) *inference.Images {
		img := &inference.Images{N: n, H: 16, W: 16, Data: make([]float32, n*3*16*16)}
		for i := range img.Data {
			img.Data[i] = float32(i%7)/7 - 0.5
		}
		return img
	}
	m.tail = func(ctx context.Context, f *inference.Features) (*inference.Images, error) {
		mu.Lock()
		tails = append(tails, &inference.Features{Layer: f.Layer, N: f.N, Data: slices.Clone(f.Data)})
		mu.Unlock()
		return images(f.N), nil
	}
	m.generate = func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
		feats := map[string]*inference.Features{}
		for _, l := range layers {
			f, err := m.head(ctx, l, zs, n)
			if err != nil {
				return nil, nil, err
			}
			feats[l] = f
		}
		return images(n), feats, nil
	}
	m.levels = func(layer string) ([]float32, error) {
		lv := make([]float32, 8)
		for u := range lv {
			lv[u] = float32(u) + 0.5
		}
		return lv, nil
	}
	return m, &tails
}

// fakeRefResults dissects layer2 only: unit u is labelled sky for even u
// and tree for odd u, with IoU u/10; quantile table q → u + q.
func fakeRefResults() *dissection.Results {
	l := &dissection.Layer{Model: "fake64", Layer: "layer2", Channels: 8, Height: 4, Width: 4, Samples: 10,
		ClassNames: []string{"background", "sky", "tree"}, LevelQuantile: 0.99, Rankings: map[string][]int{},
		Quantiles: &dissection.QuantileTable{Q: []float64{0, 0.5, 0.99, 1}}}
	for u := 0; u < 8; u++ {
		label := []string{"sky", "tree"}[u%2]
		iou := float64(u) / 10
		ci := []float64{0, 0, 0}
		ci[1+u%2] = iou
		l.Units = append(l.Units, dissection.Unit{Unit: u, Label: label, IoU: iou, ClassIoU: ci,
			Level: float32(u) + 0.99, Interpretable: iou > 0.05, TopIDs: []int64{1, 2}, TopActs: []float32{2, 1}})
		fu := float32(u)
		l.Quantiles.Values = append(l.Quantiles.Values, []float32{fu, fu + 0.5, fu + 0.99, fu + 1})
	}
	l.Rankings["background"] = []int{0, 1, 2, 3, 4, 5, 6, 7}
	l.Rankings["sky"] = []int{6, 4, 2, 0, 1, 3, 5, 7}
	l.Rankings["tree"] = []int{7, 5, 3, 1, 0, 2, 4, 6}
	l.Recipes = map[string]*dissection.Recipe{"tree-ace": {Concept: "tree", Kind: "ace",
		Units: []int{5, 3}, Weights: []float32{1, 0.5}, Values: []float32{2, -1}}}
	return &dissection.Results{Model: "fake64", Layers: map[string]*dissection.Layer{"layer2": l}}
}

func unitImg(layer string, unit int) string {
	return fmt.Sprintf("/report/img/%s/%d/strip.jpg", layer, unit)
}

// newRefServer serves the API through the painter server's router, as
// ganpaint serve wires it.
func newRefServer(t *testing.T, cfg RefAPIConfig, m RefModel) *httptest.Server {
	t.Helper()
	cfg.Logger = quietLogger()
	api, err := NewRefAPI(cfg, RefAPIDeps{Model: m, Results: fakeRefResults(), UnitImageURL: unitImg})
	if err != nil {
		t.Fatal(err)
	}
	deps := testDeps(detEngine(nil, 0))
	deps.API = api
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a apiAnswer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %s is not the expected JSON: %v", a.body, err)
	}
}

func apiCall(t *testing.T, ts *httptest.Server, method, path, ctype, body string, hdr map[string]string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiAnswer{resp.StatusCode, resp.Header, b}
}

func apiGet(t *testing.T, ts *httptest.Server, path string) apiAnswer {
	return apiCall(t, ts, http.MethodGet, path, "", "", nil)
}

func apiPost(t *testing.T, ts *httptest.Server, path string, body any) apiAnswer {
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return apiCall(t, ts, http.MethodPost, path, "application/json; charset=UTF-8", string(b), nil)
}

func TestRefAPIGetShapes(t *testing.T) {
	m, _ := newFakeRefModel()
	ts := newRefServer(t, RefAPIConfig{}, m)

	t.Run("all_projects is a bare list", func(t *testing.T) {
		a := apiGet(t, ts, "/api/all_projects")
		var got []refProject
		a.decode(t, &got)
		if a.status != 200 || len(got) != 1 || got[0].Project != "fake64" || !slices.Equal(got[0].Info.Layers, []string{"layer2"}) {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("the painter's /api/model still answers", func(t *testing.T) {
		if a := apiGet(t, ts, "/api/model"); a.status != 200 || !bytes.Contains(a.body, []byte(`"protocol"`)) {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	for _, tc := range []struct {
		path  string
		check func(t *testing.T, req map[string]any, res json.RawMessage)
	}{
		{"/api/layers?project=fake64", func(t *testing.T, req map[string]any, res json.RawMessage) {
			if string(res) != `[{"layer":"layer2","channels":8,"shape":[4,4]}]` {
				t.Errorf("res %s", res)
			}
		}},
		{"/api/units?project=fake64&layer=layer2", func(t *testing.T, req map[string]any, res json.RawMessage) {
			var units []refUnit
			_ = json.Unmarshal(res, &units)
			if len(units) != 8 || units[3].Unit != 3 || units[3].Label != "tree" || units[3].Img != unitImg("layer2", 3) || units[3].IoU != 0.3 {
				t.Errorf("res %s", res)
			}
			if req["layer"] != "layer2" || req["project"] != "fake64" {
				t.Errorf("request echo %v", req)
			}
		}},
		{"/api/rankings?project=fake64&layer=layer2", func(t *testing.T, req map[string]any, res json.RawMessage) {
			var rs []refRanking
			_ = json.Unmarshal(res, &rs)
			var names []string
			for _, r := range rs {
				names = append(names, r.Name)
			}
			// The class rankings, then the learned recipes (api_ref_rankings_test.go).
			if !slices.Equal(names, []string{"background-iou", "sky-iou", "tree-iou", "tree-ace"}) {
				t.Fatalf("names %v", names)
			}
			// Lower scores rank first: the tree ranking's scores sort to
			// the tree ranking's order.
			tree := rs[2]
			if tree.Metric != "iou" || tree.Scores[7] != -0.7 || tree.Scores[0] != 0 {
				t.Errorf("tree scores %v", tree.Scores)
			}
		}},
		{"/api/levels?project=fake64&layer=layer2&quantiles=0.99", func(t *testing.T, req map[string]any, res json.RawMessage) {
			var lv [][]float32
			_ = json.Unmarshal(res, &lv)
			if len(lv) != 8 || len(lv[5]) != 1 || lv[5][0] != 5.99 {
				t.Errorf("res %s", res)
			}
		}},
		{"/api/levels?project=fake64&layer=layer2&quantiles=0.25,1&quantiles=0.5", func(t *testing.T, req map[string]any, res json.RawMessage) {
			var lv [][]float32
			_ = json.Unmarshal(res, &lv)
			if len(lv) != 8 || !slices.Equal(lv[2], []float32{2.25, 3, 2.5}) {
				t.Errorf("res %s", res)
			}
			if qs, _ := req["quantiles"].([]any); len(qs) != 3 {
				t.Errorf("request echo %v", req)
			}
		}},
		{"/api/channels?project=fake64&layer=layer2", func(t *testing.T, req map[string]any, res json.RawMessage) {
			var ch struct {
				Channels []refChannel `json:"channels"`
				Ablation any          `json:"ablation"`
			}
			_ = json.Unmarshal(res, &ch)
			if len(ch.Channels) != 8 || ch.Channels[2].ID != 2 || ch.Channels[2].D != unitImg("layer2", 2) || ch.Ablation != nil {
				t.Errorf("res %s", res)
			}
		}},
		{"/api/recipes?project=fake64", func(t *testing.T, req map[string]any, res json.RawMessage) {
			want := `[{"layer":"layer2","name":"tree-ace","unit":[{"unit":5,"alpha":1,"value":2},{"unit":3,"alpha":0.5,"value":-1}]}]`
			if string(res) != want {
				t.Errorf("res %s, want %s", res, want)
			}
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			a := apiGet(t, ts, tc.path)
			if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q %s", a.status, a.header.Get("Content-Type"), a.body)
			}
			var env struct {
				Request map[string]any  `json:"request"`
				Res     json.RawMessage `json:"res"`
			}
			a.decode(t, &env)
			tc.check(t, env.Request, env.Res)
		})
	}
}

// cellOf reads one image's activation of unit u at cell p from features.
func cellOf(f *inference.Features, i, u, p int) float32 {
	plane := f.Layer.Width * f.Layer.Height
	return f.Data[(i*f.Layer.Channels+u)*plane+p]
}

func closeTo(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

type generateAnswer struct {
	Request json.RawMessage `json:"request"`
	Res     []struct {
		ID *int64    `json:"id"`
		D  string    `json:"d"`
		Z  []float32 `json:"z"`
	} `json:"res"`
}

func TestRefAPIGenerate(t *testing.T) {
	// A canvas drawing over the top-left 4×4 pixels: cell (0,0) of layer2.
	canvas := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			canvas.Set(x, y, color.NRGBA{34, 139, 34, 255})
		}
	}
	canvasURL := pngURL(t, canvas)

	type cellWant struct {
		img, unit, cell int
		want            float32
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		ids   []int64
		tails int // Tail calls expected (0: generated without edits)
		cells []cellWant
		wantZ bool
	}{
		{name: "GANPaint image strip", body: map[string]any{"ablations": []any{}, "project": "fake64", "ids": []int{104, 425}, "wantz": 0},
			ids: []int64{104, 425}},
		{name: "GANPaint stroke with a canvas mask", body: map[string]any{"project": "fake64", "ids": []int{7}, "wantz": 0, "return_urls": 0,
			"interventions": []any{map[string]any{
				"ablations": []any{map[string]any{"layer": "layer2", "unit": 3, "alpha": 1, "value": 0},
					map[string]any{"layer": "layer2", "unit": 5, "alpha": 1, "value": 9.5}},
				"mask": map[string]any{"bitbounds": []int{}, "bitstring": canvasURL, "shape": []int{}}}}},
			ids: []int64{7}, tails: 1,
			cells: []cellWant{{0, 3, 0, 0}, {0, 5, 0, 9.5}, {0, 3, 1, fakeAct(7, 3, 1)}, {0, 4, 0, fakeAct(7, 4, 0)}}},
		{name: "edit page: ablation everywhere, insertion at a clicked pixel", body: map[string]any{"project": "fake64", "wantz": 0, "ids": []int{10, 11},
			"interventions": []any{
				map[string]any{"ablations": []any{map[string]any{"layer": "layer2", "unit": 1, "alpha": 1}}},
				map[string]any{"ablations": []any{map[string]any{"layer": "layer2", "unit": 2, "alpha": 0.5, "value": 10}},
					"mask": map[string]any{"shape": []int{16, 16}, "bitbounds": []int{15, 15, 16, 16}, "bitstring": "1"}}}},
			ids: []int64{10, 11}, tails: 1,
			cells: []cellWant{{0, 1, 0, 0}, {1, 1, 9, 0}, {1, 2, 15, 0.5*fakeAct(11, 2, 15) + 5}, {1, 2, 14, fakeAct(11, 2, 14)}}},
		{name: "value level and over-composition", body: map[string]any{"project": "fake64", "ids": []int{3},
			"interventions": []any{
				map[string]any{"ablations": []any{map[string]any{"layer": "layer2", "unit": 4, "value": "level"}}},
				map[string]any{"ablations": []any{map[string]any{"layer": "layer2", "unit": 4, "alpha": 0.5, "value": 0.5}}}}},
			ids: []int64{3}, tails: 1,
			cells: []cellWant{{0, 4, 6, 0.5*4.5 + 0.5*0.5}}},
		{name: "the last ablation of a unit in one intervention wins", body: map[string]any{"project": "fake64", "ids": []int{3},
			"interventions": []any{map[string]any{"ablations": []any{
				map[string]any{"layer": "layer2", "unit": 6, "alpha": 1, "value": 100},
				map[string]any{"layer": "layer2", "unit": 6, "alpha": 1, "value": -1}}}}},
			ids: []int64{3}, tails: 1, cells: []cellWant{{0, 6, 0, -1}}},
		{name: "top-level ablations act everywhere", body: map[string]any{"project": "fake64", "ids": []int{1},
			"ablations": []any{map[string]any{"layer": "layer1", "unit": 2, "alpha": 1, "value": 7}}},
			ids: []int64{1}, tails: 1, cells: []cellWant{{0, 2, 3, 7}}},
		{name: "zs with wantz", body: map[string]any{"project": "fake64", "zs": [][]float64{{0.5, 1, 2, 3}}, "wantz": true},
			wantZ: true},
		{name: "alpha 0 edits nothing", body: map[string]any{"project": "fake64", "ids": []int{2},
			"interventions": []any{map[string]any{"ablations": []any{map[string]any{"layer": "layer2", "unit": 1, "alpha": 0, "value": 5}}}}},
			ids: []int64{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, tails := newFakeRefModel()
			ts := newRefServer(t, RefAPIConfig{}, m)
			a := apiPost(t, ts, "/api/generate", tc.body)
			if a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			var got generateAnswer
			a.decode(t, &got)
			sent, _ := json.Marshal(tc.body)
			var echo, want any
			_ = json.Unmarshal(got.Request, &echo)
			_ = json.Unmarshal(sent, &want)
			if fmt.Sprint(echo) != fmt.Sprint(want) {
				t.Errorf("request echo %s, sent %s", got.Request, sent)
			}
			n := len(tc.ids)
			if tc.ids == nil {
				n = 1
			}
			if len(got.Res) != n {
				t.Fatalf("%d images for %d requested", len(got.Res), n)
			}
			for i, g := range got.Res {
				if tc.ids != nil && (g.ID == nil || *g.ID != tc.ids[i]) {
					t.Errorf("image %d has id %v", i, g.ID)
				}
				if tc.ids == nil && g.ID != nil {
					t.Errorf("image from z has id %d", *g.ID)
				}
				b64, ok := strings.CutPrefix(g.D, "data:image/jpeg;base64,")
				raw, err := base64.StdEncoding.DecodeString(b64)
				if !ok || err != nil {
					t.Fatalf("d is not a JPEG data URL: %.40s", g.D)
				}
				if cfg, err := jpeg.DecodeConfig(bytes.NewReader(raw)); err != nil || cfg.Width != 16 || cfg.Height != 16 {
					t.Errorf("image %d: %v %+v", i, err, cfg)
				}
				if tc.wantZ != (g.Z != nil) || (tc.wantZ && !slices.Equal(g.Z, []float32{0.5, 1, 2, 3})) {
					t.Errorf("z %v", g.Z)
				}
			}
			if len(*tails) != tc.tails {
				t.Fatalf("%d edited runs, want %d", len(*tails), tc.tails)
			}
			for _, c := range tc.cells {
				if got := cellOf((*tails)[0], c.img, c.unit, c.cell); !closeTo(got, c.want) {
					t.Errorf("image %d unit %d cell %d = %v, want %v", c.img, c.unit, c.cell, got, c.want)
				}
			}
		})
	}
}

func TestRefAPIFeatures(t *testing.T) {
	m, _ := newFakeRefModel()
	ts := newRefServer(t, RefAPIConfig{}, m)
	// The reference editor's query: one clicked pixel (y 5, x 9) of a
	// 16×16 image, which lies in layer2 cell (1, 2) = 6 and layer1 cell 1.
	pixel := map[string]any{"shape": []int{16, 16}, "bitbounds": []int{5, 9, 6, 10}, "bitstring": "1"}
	a := apiPost(t, ts, "/api/features", map[string]any{"project": "fake64", "ids": []int{20, 30},
		"masks":  []any{pixel, map[string]any{"shape": []int{16, 16}, "bitbounds": []int{0, 0, 1, 1}, "bitstring": "0"}},
		"layers": []string{"layer2", "layer1"}})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var got struct {
		Res map[string]refFeatureStats `json:"res"`
	}
	a.decode(t, &got)
	l2 := got.Res["layer2"]
	for u := 0; u < 8; u++ {
		want := fakeAct(20, u, 6) // the second image's mask is empty
		if !closeTo(l2.Max[u], want) || !closeTo(l2.Mean[u], want) {
			t.Errorf("layer2 unit %d: max %v mean %v, want %v", u, l2.Max[u], l2.Mean[u], want)
		}
		// The table maps u+0.5 → 0.5 and u+0.99 → 0.99; 20+u is above the max.
		if l2.MaxQuantile[u] != 1 || l2.MeanQuantile[u] != 1 {
			t.Errorf("layer2 unit %d quantiles %v %v", u, l2.MaxQuantile[u], l2.MeanQuantile[u])
		}
	}
	l1 := got.Res["layer1"]
	if !closeTo(l1.Max[2], fakeAct(20, 2, 1)) || l1.MaxQuantile != nil {
		t.Errorf("layer1 (not dissected): %+v", l1)
	}

	// The GANPaint client's shape: empty shape and bounds, a PNG mask, no
	// layers (every dissected layer), and top-level ablations it ignores.
	canvas := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	canvas.Set(0, 0, color.NRGBA{0, 0, 0, 255})
	a = apiPost(t, ts, "/api/features", map[string]any{"ablations": []any{}, "project": "fake64", "ids": []int{0},
		"masks": []any{map[string]any{"shape": []int{}, "bitbounds": []int{}, "bitstring": pngURL(t, canvas)}}})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	got.Res = nil
	a.decode(t, &got)
	if _, ok := got.Res["layer1"]; ok || len(got.Res) != 1 {
		t.Errorf("default layers: %s", a.body)
	}
	// Unit 0 at cell 0 of image 0 is 0, a quarter of the way from the
	// table's 0 (q 0) to 0.5 (q 0.5)... exactly its minimum: q = 0.
	if got.Res["layer2"].Max[0] != 0 || got.Res["layer2"].MaxQuantile[0] != 0 {
		t.Errorf("layer2 unit 0: %+v", got.Res["layer2"])
	}
	// Mean weights cells by the share the mask covers: one pixel of a 4×4
	// cell, so the mean is cell 0's value too.
	if !closeTo(got.Res["layer2"].Mean[3], 3) || !closeTo(float32(got.Res["layer2"].MeanQuantile[3]), 0) {
		t.Errorf("layer2 unit 3 mean %v q %v", got.Res["layer2"].Mean[3], got.Res["layer2"].MeanQuantile[3])
	}
}

func TestRefAPIRejectsBadRequests(t *testing.T) {
	m, _ := newFakeRefModel()
	ts := newRefServer(t, RefAPIConfig{MaxIDs: 4, MaxInterventions: 2, MaxAblations: 3, MaxMaskSide: 64, MaxBodyBytes: 4096, MaxQuantiles: 3}, m)
	ok := `"project":"fake64","ids":[1]`
	abl := func(s string) string { return `{` + ok + `,"interventions":[{"ablations":[` + s + `]}]}` }
	mask := func(s string) string {
		return `{` + ok + `,"interventions":[{"ablations":[{"layer":"layer2","unit":1}],"mask":` + s + `}]}`
	}
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string
	}{
		// GET parameters
		{"missing project", "GET", "/api/layers", "", "", 400, "missing project"},
		{"unknown project", "GET", "/api/units?project=church&layer=layer2", "", "", 404, `unknown project "church"`},
		{"missing layer", "GET", "/api/units?project=fake64", "", "", 400, "missing query parameter layer"},
		{"unknown layer", "GET", "/api/rankings?project=fake64&layer=layer9", "", "", 404, `unknown layer "layer9"`},
		{"undissected layer", "GET", "/api/units?project=fake64&layer=layer1", "", "", 404, "was not dissected"},
		{"levels without quantiles", "GET", "/api/levels?project=fake64&layer=layer2", "", "", 400, "missing query parameter quantiles"},
		{"quantile not a number", "GET", "/api/levels?project=fake64&layer=layer2&quantiles=high", "", "", 400, `quantile "high"`},
		{"quantile above 1", "GET", "/api/levels?project=fake64&layer=layer2&quantiles=1.5", "", "", 400, "in [0, 1]"},
		{"too many quantiles", "GET", "/api/levels?project=fake64&layer=layer2&quantiles=0.1,0.2,0.3,0.4", "", "", 400, "more than 3"},
		{"unknown endpoint", "GET", "/api/featuremapz", "", "", 404, "no API endpoint"},
		{"GET on a POST endpoint", "GET", "/api/generate", "", "", 405, "method GET"},
		// Bodies
		{"not JSON", "POST", "/api/generate", "application/json", "project=fake64", 400, "JSON object"},
		{"empty body", "POST", "/api/generate", "application/json", "", 400, "JSON object"},
		{"a list, not an object", "POST", "/api/generate", "application/json", "[1,2]", 400, "JSON object"},
		{"truncated JSON", "POST", "/api/generate", "application/json", `{"project":"fake64","ids":[1`, 400, "malformed JSON"},
		{"trailing data", "POST", "/api/generate", "application/json", `{"project":"fake64","ids":[1]} {}`, 400, "after the JSON object"},
		{"form content type", "POST", "/api/generate", "application/x-www-form-urlencoded", `{` + ok + `}`, 415, "must be JSON"},
		{"body too large", "POST", "/api/generate", "application/json", `{` + ok + `,"pad":"` + strings.Repeat("x", 5000) + `"}`, 413, "larger than 4096"},
		// Types
		{"ids as a string", "POST", "/api/generate", "", `{"project":"fake64","ids":"1,2"}`, 400, "field ids: got a JSON string, want a list"},
		{"id as a string", "POST", "/api/generate", "", `{"project":"fake64","ids":["1"]}`, 400, "want an integer"},
		{"fractional id", "POST", "/api/generate", "", `{"project":"fake64","ids":[1.5]}`, 400, "want an integer"},
		{"project as a number", "POST", "/api/generate", "", `{"project":7,"ids":[1]}`, 400, "field project"},
		{"unit as a string", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":"3"}`), 400, "unit"},
		{"alpha as a string", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":3,"alpha":"1"}`), 400, "alpha"},
		{"value as a bool", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":3,"value":true}`), 400, "value must be a number"},
		{"wantz as a word", "POST", "/api/generate", "", `{` + ok + `,"wantz":"yes"}`, 400, "want true, false, 0 or 1"},
		{"interventions as an object", "POST", "/api/generate", "", `{` + ok + `,"interventions":{}}`, 400, "field interventions"},
		{"zs of strings", "POST", "/api/generate", "", `{"project":"fake64","zs":[["a"]]}`, 400, "want a number"},
		// Semantics
		{"unknown project in body", "POST", "/api/generate", "", `{"project":"church","ids":[1]}`, 404, "unknown project"},
		{"no project", "POST", "/api/generate", "", `{"ids":[1]}`, 400, "missing project"},
		{"neither ids nor zs", "POST", "/api/generate", "", `{"project":"fake64"}`, 400, "give ids"},
		{"ids and zs", "POST", "/api/generate", "", `{"project":"fake64","ids":[1],"zs":[[1,2,3,4]]}`, 400, "not both"},
		{"empty ids", "POST", "/api/generate", "", `{"project":"fake64","ids":[]}`, 400, "ids is empty"},
		{"too many ids", "POST", "/api/generate", "", `{"project":"fake64","ids":[1,2,3,4,5]}`, 413, "at most 4"},
		{"negative id", "POST", "/api/generate", "", `{"project":"fake64","ids":[-1]}`, 400, "id -1 is not in 0..999"},
		{"id past max", "POST", "/api/generate", "", `{"project":"fake64","ids":[1000]}`, 400, "id 1000"},
		{"short z", "POST", "/api/generate", "", `{"project":"fake64","zs":[[1,2]]}`, 400, "z has 4"},
		{"too many zs", "POST", "/api/generate", "", `{"project":"fake64","zs":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}`, 413, "at most 4"},
		{"huge z", "POST", "/api/generate", "", `{"project":"fake64","zs":[[1e300,2,3,4]]}`, 400, "finite"},
		{"ablation without layer", "POST", "/api/generate", "", abl(`{"unit":3}`), 400, "missing layer"},
		{"ablation at unknown layer", "POST", "/api/generate", "", abl(`{"layer":"layer7","unit":3}`), 400, `unknown layer "layer7"`},
		{"ablation without unit", "POST", "/api/generate", "", abl(`{"layer":"layer2"}`), 400, "missing unit"},
		{"unit out of range", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":8}`), 400, "unit 8 is not in 0..7"},
		{"negative unit", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":-1}`), 400, "unit -1"},
		{"alpha above 1", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":1,"alpha":2}`), 400, "alpha 2"},
		{"two layers", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":1},{"layer":"layer1","unit":1}`), 400, "one request may edit one layer"},
		{"too many ablations", "POST", "/api/generate", "", abl(`{"layer":"layer2","unit":1},{"layer":"layer2","unit":2},{"layer":"layer2","unit":3},{"layer":"layer2","unit":4}`), 413, "more than 3 ablations"},
		{"too many interventions", "POST", "/api/generate", "", `{` + ok + `,"interventions":[{},{},{}]}`, 413, "at most 2"},
		{"bad pooling", "POST", "/api/generate", "", `{` + ok + `,"interventions":[{"ablations":[{"layer":"layer2","unit":1}],"maskpooling":"min"}]}`, 400, "maskpooling"},
		{"mask shape of one", "POST", "/api/generate", "", mask(`{"shape":[16]}`), 400, "shape must be"},
		{"oversized mask", "POST", "/api/generate", "", mask(`{"shape":[65,16]}`), 400, "each side must be 1..64"},
		{"mask bounds outside", "POST", "/api/generate", "", mask(`{"shape":[16,16],"bitbounds":[0,0,17,1],"bitstring":"1"}`), 400, "bitbounds"},
		{"mask bits too short", "POST", "/api/generate", "", mask(`{"shape":[16,16],"bitbounds":[0,0,2,2],"bitstring":"1"}`), 400, "1 characters"},
		{"mask PNG not base64", "POST", "/api/generate", "", mask(`{"bitstring":"data:image/png;base64,!!"}`), 400, "base64"},
		{"mask as a string", "POST", "/api/generate", "", mask(`"everywhere"`), 400, "field interventions.mask"},
		// /api/features
		{"features without ids", "POST", "/api/features", "", `{"project":"fake64","masks":[]}`, 400, "missing ids"},
		{"features mask count", "POST", "/api/features", "", `{"project":"fake64","ids":[1,2],"masks":[{}]}`, 400, "1 masks for 2 ids"},
		{"features null mask", "POST", "/api/features", "", `{"project":"fake64","ids":[1],"masks":[null]}`, 400, "masks[0] is null"},
		{"features bad mask", "POST", "/api/features", "", `{"project":"fake64","ids":[1],"masks":[{"shape":[0,0]}]}`, 400, "masks[0]"},
		{"features unknown layer", "POST", "/api/features", "", `{"project":"fake64","ids":[1],"masks":[{}],"layers":["conv5"]}`, 400, `unknown layer "conv5"`},
		{"features layer twice", "POST", "/api/features", "", `{"project":"fake64","ids":[1],"masks":[{}],"layers":["layer2","layer2"]}`, 400, "twice"},
		{"features with interventions", "POST", "/api/features", "", `{"project":"fake64","ids":[1],"masks":[{}],"interventions":[{"ablations":[{"layer":"layer2","unit":1}]}]}`, 400, "not supported"},
		{"features too many ids", "POST", "/api/features", "", `{"project":"fake64","ids":[1,2,3,4,5],"masks":[{},{},{},{},{}]}`, 413, "at most 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctype := tc.ctype
			if ctype == "" && tc.method == "POST" {
				ctype = "application/json"
			}
			a := apiCall(t, ts, tc.method, tc.path, ctype, tc.body, nil)
			var e struct {
				Error string `json:"error"`
			}
			a.decode(t, &e)
			if a.status != tc.status || !strings.Contains(e.Error, tc.want) {
				t.Errorf("%d %q, want %d with %q", a.status, e.Error, tc.status, tc.want)
			}
		})
	}
}

func TestRefAPICORS(t *testing.T) {
	m, _ := newFakeRefModel()
	const site = "https://course.example.edu"
	off := newRefServer(t, RefAPIConfig{}, m)
	on := newRefServer(t, RefAPIConfig{CORSOrigins: []string{site}}, m)
	for _, tc := range []struct {
		name, method string
		ts           *httptest.Server
		origin       string
		status       int
		allow        string
	}{
		{"off by default", "GET", off, site, 200, ""},
		{"preflight refused when off", "OPTIONS", off, site, 405, ""},
		{"allowed origin", "GET", on, site, 200, site},
		{"preflight", "OPTIONS", on, site, 204, site},
		{"other origin", "GET", on, "https://evil.example", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := apiCall(t, tc.ts, tc.method, "/api/layers?project=fake64", "", "", map[string]string{
				"Origin": tc.origin, "Access-Control-Request-Method": "POST"})
			if a.status != tc.status || a.header.Get("Access-Control-Allow-Origin") != tc.allow {
				t.Errorf("%d, allow %q; want %d, %q", a.status, a.header.Get("Access-Control-Allow-Origin"), tc.status, tc.allow)
			}
			if tc.method == "OPTIONS" && tc.status == 204 && !strings.Contains(a.header.Get("Access-Control-Allow-Methods"), "POST") {
				t.Errorf("preflight methods %q", a.header.Get("Access-Control-Allow-Methods"))
			}
		})
	}
	if _, err := NewRefAPI(RefAPIConfig{CORSOrigins: []string{"course.example.edu"}}, RefAPIDeps{Model: m, Results: fakeRefResults()}); err == nil {
		t.Error("an origin without a scheme was accepted")
	}
}

func TestRefAPIBusy(t *testing.T) {
	m, _ := newFakeRefModel()
	entered, release := make(chan struct{}), make(chan struct{})
	gen := m.generate
	m.generate = func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
		if zs[0] == 99 {
			close(entered)
			<-release
		}
		if zs[0] == 98 {
			return nil, nil, fmt.Errorf("queue: %w", inference.ErrBusy)
		}
		return gen(ctx, zs, n, layers)
	}
	ts := newRefServer(t, RefAPIConfig{MaxRunning: 1}, m)
	done := make(chan apiAnswer)
	go func() {
		done <- apiPost(t, ts, "/api/generate", map[string]any{"project": "fake64", "ids": []int{99}})
	}()
	<-entered
	a := apiPost(t, ts, "/api/generate", map[string]any{"project": "fake64", "ids": []int{1}})
	if a.status != 503 || a.header.Get("Retry-After") == "" || !bytes.Contains(a.body, []byte("busy")) {
		t.Errorf("second request while one runs: %d %s", a.status, a.body)
	}
	close(release)
	if first := <-done; first.status != 200 {
		t.Errorf("first request: %d %s", first.status, first.body)
	}
	a = apiPost(t, ts, "/api/generate", map[string]any{"project": "fake64", "ids": []int{98}})
	if a.status != 503 || !bytes.Contains(a.body, []byte("busy")) {
		t.Errorf("model busy: %d %s", a.status, a.body)
	}
}

// TestRefAPIPlantedModel runs the API on the planted model, whose layer2
// unit k < 4 draws class k+1 in the 4×4-pixel blocks of the cells where it
// is on (inference/testdata/planted/README.md).
func TestRefAPIPlantedModel(t *testing.T) {
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(plantedDir, inference.Options{Workers: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	api, err := NewRefAPI(RefAPIConfig{Logger: quietLogger()}, RefAPIDeps{Model: m, Results: plantedResults()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	const id = 3
	f, err := m.HeadID(context.Background(), "layer2", id)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(a apiAnswer) image.Image {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		var g generateAnswer
		a.decode(t, &g)
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(g.Res[0].D, "data:image/jpeg;base64,"))
		img, err := jpeg.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	before := decode(apiPost(t, ts, "/generate", map[string]any{"project": "planted", "ids": []int{id}}))
	after := decode(apiPost(t, ts, "/generate", map[string]any{"project": "planted", "ids": []int{id},
		"interventions": []any{map[string]any{"ablations": []any{map[string]any{"layer": "layer2", "unit": 0, "alpha": 1, "value": 0}}}}}))
	grey := func(c color.Color) bool {
		r, g, b, _ := c.RGBA()
		return absDiff(r>>8, 0x80) < 12 && absDiff(g>>8, 0x80) < 12 && absDiff(b>>8, 0x80) < 12
	}
	on, changed := 0, 0
	for cell := 0; cell < 64; cell++ {
		cx, cy := cell%8*4+2, cell/8*4+2 // the centre of the cell's 4×4 block
		if cellOf(f, 0, 0, cell) > 0 {
			on++
			if !grey(after.At(cx, cy)) {
				t.Errorf("cell %d: unit 0 was on and removed, pixel %v is not background", cell, after.At(cx, cy))
			}
		} else if r1, g1, b1, _ := before.At(cx, cy).RGBA(); true {
			r2, g2, b2, _ := after.At(cx, cy).RGBA()
			if absDiff(r1>>8, r2>>8)+absDiff(g1>>8, g2>>8)+absDiff(b1>>8, b2>>8) > 24 {
				changed++
			}
		}
	}
	if on == 0 || changed > 0 {
		t.Errorf("unit 0 on in %d cells; %d cells where it was off changed", on, changed)
	}

	// Click the centre of a cell where unit k is on: unit k has the largest
	// maximum of units 0–3 there, at its level A_k.
	for cell := 0; cell < 64; cell++ {
		k := -1
		for u := 0; u < 4; u++ {
			if cellOf(f, 0, u, cell) > 0 {
				k = u
			}
		}
		if k < 0 {
			continue
		}
		y, x := cell/8*4+1, cell%8*4+1
		a := apiPost(t, ts, "/features", map[string]any{"project": "planted", "ids": []int{id}, "layers": []string{"layer2"},
			"masks": []any{map[string]any{"shape": []int{32, 32}, "bitbounds": []int{y, x, y + 1, x + 1}, "bitstring": "1"}}})
		var got struct {
			Res map[string]refFeatureStats `json:"res"`
		}
		a.decode(t, &got)
		mx := got.Res["layer2"].Max
		if len(mx) != 8 || slices.Index(mx[:4], slices.Max(mx[:4])) != k || mx[k] != []float32{1, 1.5, 2, 2.5}[k] {
			t.Errorf("cell %d (unit %d on): max %v", cell, k, mx)
		}
		break
	}
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestRefAPIDocumented: docs/openapi.json and docs/api.md describe exactly
// the routes the API serves, with the right methods: each at /api/, where
// ?model= chooses the model, and at /models/{model}/api/, and the models'
// reports at /models/{model}/report/. Every documented route is then asked
// for on a server with two models and must be served.
func TestRefAPIDocumented(t *testing.T) {
	m, _ := newFakeRefModel()
	api, err := NewRefAPI(RefAPIConfig{}, RefAPIDeps{Model: m, Results: fakeRefResults()})
	if err != nil {
		t.Fatal(err)
	}
	// A server with two models, each with this API, and a report for one.
	deps := twoModelDeps()
	deps.API = api
	deps.Models[0].API = api
	deps.Models[0].Report = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "report of fakeB") })
	srv := mustNew(t, deps)
	mux, ok := srv.Handler().(chi.Routes)
	if !ok {
		t.Fatalf("the server's handler is a %T, not a chi router", srv.Handler())
	}
	// The API's routes under each prefix the server mounts it at, and the
	// report's front page under the per-model prefix.
	served := map[string]bool{}
	var prefixes []string
	err = chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		switch route {
		case "/api/*", "/models/{model}/api/*":
			if !slices.Contains(prefixes, route) {
				prefixes = append(prefixes, route)
			}
		case "/models/{model}/report/*":
			served["get /models/{model}/report/"] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(prefixes) != 2 {
		t.Fatalf("the API is mounted at %v, want /api and /models/{model}/api", prefixes)
	}
	err = chi.Walk(api.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		for _, p := range prefixes {
			served[strings.ToLower(method)+" "+strings.TrimSuffix(p, "/*")+route] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	documented := map[string]bool{}
	methods := map[string]string{} // documented route -> its HTTP method
	for p, ops := range spec.Paths {
		for method, opRaw := range ops {
			if !slices.Contains([]string{"get", "post", "put", "patch", "delete", "head", "options"}, method) {
				continue // path-level parameters, summary
			}
			r := method + " " + p
			documented[r], methods[r] = true, strings.ToUpper(method)
			var op struct {
				Parameters []param `json:"parameters"`
			}
			if err := json.Unmarshal(opRaw, &op); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			// Where the model comes from: the path under /models/, else ?model=.
			wantIn := "query"
			if strings.HasPrefix(p, "/models/{model}/") {
				wantIn = "path"
			}
			found := false
			for _, pr := range op.Parameters {
				if name, ok := strings.CutPrefix(pr.Ref, "#/components/parameters/"); ok {
					pr = spec.Comps.Parameters[name]
				}
				found = found || (pr.Name == ModelParam && pr.In == wantIn)
			}
			if !found {
				t.Errorf("docs/openapi.json: %s has no %s parameter %q", r, wantIn, ModelParam)
			}
		}
	}
	md, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in docs/openapi.json", r)
		}
		if path := strings.SplitN(r, " ", 2)[1]; strings.HasPrefix(path, "/api/") && !bytes.Contains(md, []byte(path)) {
			t.Errorf("%s is served but docs/api.md does not mention it", path)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("docs/openapi.json has %s, which is not served", r)
		}
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Errorf("openapi version %q", spec.OpenAPI)
	}

	// Every documented route is served: without a project the API answers
	// 400 (200 for all_projects), never 404 or 405.
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for r, method := range methods {
		path := strings.ReplaceAll(strings.SplitN(r, " ", 2)[1], "{model}", "fakeB")
		t.Run(r, func(t *testing.T) {
			req, err := http.NewRequest(method, ts.URL+path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, body)
			}
		})
	}
}
