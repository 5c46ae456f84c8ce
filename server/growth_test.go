package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/painting"
)

func getGrowth(t *testing.T, base, query string) (int, GrowthMap, map[string]string) {
	t.Helper()
	resp, body := httpGet(t, base+"/api/growth?"+query, nil)
	var gm GrowthMap
	var e map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &gm); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
	} else if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return resp.StatusCode, gm, e
}

// On the planted model every layer2 cell shows one concept (a 4×4 block of
// its colour). Adding the tree unit to a cell where unit k is on paints
// BG + (C_k − BG) + (C_tree − BG); the segmenter picks the nearest class
// colour, so tree "grows" there exactly when that colour is nearest to
// tree's. Cells that already show tree are present.
func TestMeasureGrowthPlanted(t *testing.T) {
	deps := plantedDeps(t)
	eng := deps.Engine.(*ModelEngine)
	deps.Growth = eng
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tok, _ := painting.EncodeState(painting.State{Model: "planted", Layer: "layer2", ID: 11})
	code, gm, e := getGrowth(t, ts.URL, "image=1&concept=tree&state="+url.QueryEscape(tok))
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, e)
	}
	if gm.Source != "image" || gm.Rows != 8 || gm.Cols != 8 || gm.K != 1 || gm.Images != 1 || gm.AppearShare != DefaultAppearShare {
		t.Fatalf("map %+v", gm)
	}
	// The image's cells, from its pixels (each cell is a 4×4 block).
	f, _ := eng.Features(context.Background(), "layer2", 11)
	img, err := eng.Render(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	colours := [][3]int{{0x80, 0x80, 0x80}, {0x87, 0xce, 0xeb}, {0x22, 0x8b, 0x22}, {0x8b, 0x45, 0x13}, {0x7c, 0xfc, 0x00}}
	nearest := func(c [3]int) int {
		best, bd := 0, 1<<30
		for i, k := range colours {
			d := 0
			for ch := 0; ch < 3; ch++ {
				d += (c[ch] - k[ch]) * (c[ch] - k[ch])
			}
			if d < bd {
				best, bd = i, d
			}
		}
		return best
	}
	for cell := 0; cell < 64; cell++ {
		px := img.RGBAAt((cell%8)*4+1, (cell/8)*4+1)
		here := nearest([3]int{int(px.R), int(px.G), int(px.B)})
		if gm.Present[cell] != (here == 2) {
			t.Errorf("cell %d shows class %d, present = %v", cell, here, gm.Present[cell])
			continue
		}
		if here == 2 {
			continue
		}
		var mixed [3]int
		for ch := 0; ch < 3; ch++ {
			v := int(colours[here][ch]) + colours[2][ch] - colours[0][ch]
			mixed[ch] = min(max(v, 0), 255)
		}
		want := 0.0
		if nearest(mixed) == 2 {
			want = 1
		}
		if gm.Rate[cell] != want {
			t.Errorf("cell %d (class %d): rate %v, want %v", cell, here, gm.Rate[cell], want)
		}
	}
	// Without image=1: the dissection's map, which the planted results lack.
	if code, _, e := getGrowth(t, ts.URL, "concept=tree&state="+url.QueryEscape(tok)); code != http.StatusNotFound || !strings.Contains(e["error"], "location map") {
		t.Errorf("no dissection map: %d %v", code, e)
	}
	if code, _, _ := getGrowth(t, ts.URL, "image=1&concept=dragon&state="+url.QueryEscape(tok)); code != http.StatusBadRequest {
		t.Errorf("unknown concept: %d", code)
	}
	if code, _, _ := getGrowth(t, ts.URL, "concept=tree&state=@@"); code != http.StatusBadRequest {
		t.Errorf("bad token: %d", code)
	}
}

func TestGrowthMapFromDissection(t *testing.T) {
	res := plantedResults()
	res.Layers["layer2"].Causal = &dissection.Causal{AppearShare: 0.3, Locations: map[string]dissection.LocationMap{
		"tree": {K: 4, Rows: 2, Cols: 2, Rate: []float64{0, 0.5, 1, 0}, Eligible: []int{3, 2, 3, 0}, Images: 3},
		"bad":  {K: 4, Rows: 2, Cols: 2, Rate: []float64{0}, Eligible: []int{3}},
	}}
	e := &ModelEngine{res: res}
	gm, ok := e.GrowthMap("layer2", "tree")
	if !ok || gm.Source != "dissection" || gm.Rows != 2 || gm.Rate[1] != 0.5 || !gm.Present[3] || gm.Present[0] || gm.AppearShare != 0.3 || gm.K != 4 {
		t.Fatalf("map %+v %v", gm, ok)
	}
	for _, c := range [][2]string{{"layer2", "sky"}, {"layer2", "bad"}, {"layer9", "tree"}} {
		if _, ok := e.GrowthMap(c[0], c[1]); ok {
			t.Errorf("%v: map for nothing", c)
		}
	}
	if _, ok := (&ModelEngine{}).GrowthMap("layer2", "tree"); ok {
		t.Error("map without a dissection")
	}
}

// fakeGrowth is a Growth of function fields.
type fakeGrowth struct {
	m       func(layer, concept string) (*GrowthMap, bool)
	measure func(ctx context.Context, f Features, edits []Edit, units []int, concept string, appear float64) (*GrowthMap, error)
}

func (g fakeGrowth) GrowthMap(layer, concept string) (*GrowthMap, bool) { return g.m(layer, concept) }
func (g fakeGrowth) MeasureGrowth(ctx context.Context, f Features, edits []Edit, units []int, concept string, appear float64) (*GrowthMap, error) {
	return g.measure(ctx, f, edits, units, concept, appear)
}

// The endpoint hands the measurement the state's edits (with the repair
// first), the concept's top units and the dissection's threshold.
func TestGrowthEndpointWiring(t *testing.T) {
	var got struct {
		edits  []Edit
		units  []int
		appear float64
	}
	deps := repairDeps()
	deps.Growth = fakeGrowth{
		m: func(layer, concept string) (*GrowthMap, bool) {
			return &GrowthMap{Layer: layer, Concept: concept, Source: "dissection", AppearShare: 0.35}, true
		},
		measure: func(ctx context.Context, f Features, edits []Edit, units []int, concept string, appear float64) (*GrowthMap, error) {
			got.edits, got.units, got.appear = edits, units, appear
			return &GrowthMap{Source: "image"}, nil
		},
	}
	srv, _ := New(Config{Logger: quietLogger(), MaxUnits: 12}, deps)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tok, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 3, Repair: true, Edits: []painting.Edit{
		{Concept: "sky", Units: 2, Radius: 2, Points: []painting.Point{{X: 5, Y: 5}}}}})
	if code, gm, e := getGrowth(t, ts.URL, "concept=tree&state="+url.QueryEscape(tok)); code != 200 || gm.Source != "dissection" {
		t.Fatalf("dissection map: %d %v", code, e)
	}
	code, gm, e := getGrowth(t, ts.URL, "image=1&concept=tree&state="+url.QueryEscape(tok))
	if code != 200 || gm.Source != "image" || gm.MS <= 0 {
		t.Fatalf("image map: %d %+v %v", code, gm, e)
	}
	if len(got.edits) != 2 || !got.edits[0].Removes() || got.edits[0].Units[0] != 5 || got.edits[1].Units[0] != 20 {
		t.Errorf("edits %+v: want the repair, then the sky stroke", got.edits)
	}
	// layer4's tree ranking has 20 units; the server's MaxUnits is 12.
	if len(got.units) != 12 || got.units[0] != 3 || got.appear != 0.35 {
		t.Errorf("units %v appear %v", got.units, got.appear)
	}
	// No Growth: 404; no state: the default image.
	plain, _ := New(Config{Logger: quietLogger()}, testDeps(detEngine(nil, 0)))
	ts2 := httptest.NewServer(plain.Handler())
	defer ts2.Close()
	if code, _, _ := getGrowth(t, ts2.URL, "concept=tree"); code != http.StatusNotFound {
		t.Errorf("without Growth: %d", code)
	}
	if code, _, _ := getGrowth(t, ts.URL, "concept=tree"); code != http.StatusOK {
		t.Errorf("without state: %d", code)
	}
}
