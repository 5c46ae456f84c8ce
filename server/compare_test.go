package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/compare"
	"github.com/ganpaint-go/ganpaint/inpaint"
	"github.com/ganpaint-go/ganpaint/painting"
)

// fakeComparer is a Comparer of function fields.
type fakeComparer struct {
	mask func(ctx context.Context, img *image.RGBA, concept string) (*image.Gray, error)
	fill func(ctx context.Context, img *image.RGBA, mask *image.Gray) ([]compare.Fill, error)
}

func (f fakeComparer) ConceptMask(ctx context.Context, img *image.RGBA, concept string) (*image.Gray, error) {
	return f.mask(ctx, img, concept)
}
func (f fakeComparer) Fill(ctx context.Context, img *image.RGBA, mask *image.Gray) ([]compare.Fill, error) {
	return f.fill(ctx, img, mask)
}

// recordingComparer remembers what it was given; its mask is the left
// quarter of the image and its fills paint the mask white, except the
// learned slot, which is unavailable.
type recordingComparer struct {
	mu      sync.Mutex
	concept string
	masks   []*image.Gray
	befores []*image.RGBA
}

func (r *recordingComparer) comparer() fakeComparer {
	return fakeComparer{
		mask: func(ctx context.Context, img *image.RGBA, concept string) (*image.Gray, error) {
			r.mu.Lock()
			r.concept = concept
			r.mu.Unlock()
			b := img.Bounds()
			m := image.NewGray(b)
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx()/4; x++ {
					m.Pix[y*m.Stride+x] = 255
				}
			}
			return m, nil
		},
		fill: func(ctx context.Context, img *image.RGBA, mask *image.Gray) ([]compare.Fill, error) {
			r.mu.Lock()
			r.masks = append(r.masks, mask)
			r.befores = append(r.befores, img)
			r.mu.Unlock()
			out := []compare.Fill{{Method: compare.MethodLearned, Err: compare.ErrUnavailable}}
			for _, m := range []string{compare.MethodNS, compare.MethodTelea} {
				filled := image.NewRGBA(img.Bounds())
				copy(filled.Pix, img.Pix)
				for i, v := range mask.Pix {
					if v != 0 {
						copy(filled.Pix[4*i:4*i+4], []byte{255, 255, 255, 255})
					}
				}
				out = append(out, compare.Fill{Method: m, Image: filled, Elapsed: 3 * time.Millisecond})
			}
			return out, nil
		},
	}
}

func decodeDataURL(t *testing.T, s string) image.Image {
	t.Helper()
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(s, prefix) {
		t.Fatalf("not a PNG data URL: %.40q", s)
	}
	raw, err := base64.StdEncoding.DecodeString(s[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func getCompare(t *testing.T, base, tok string) (int, CompareResult, map[string]string, http.Header) {
	t.Helper()
	u := base + "/api/compare"
	if tok != "" {
		u += "?state=" + url.QueryEscape(tok)
	}
	resp, body := httpGet(t, u, nil)
	var res CompareResult
	var e map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
	} else if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return resp.StatusCode, res, e, resp.Header
}

func TestCompareStroke(t *testing.T) {
	rc := &recordingComparer{}
	deps := testDeps(detEngine(nil, 0))
	deps.Comparer = rc.comparer()
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	// An add stroke, then a remove stroke over the cell (1, 1) of the 8×8 grid
	// (pixels 8..15 of the 64×64 image).
	tok, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 9, Edits: []painting.Edit{
		{Concept: "sky", Units: 2, Radius: 3, Points: []painting.Point{{X: 40, Y: 40}}},
		{Concept: "tree", Mode: painting.Remove, Units: 3, Radius: 1, Points: []painting.Point{{X: 12, Y: 12}}},
	}})
	code, res, e, _ := getCompare(t, ts.URL, tok)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, e)
	}
	if res.ID != 9 || res.Layer != "layer4" || res.Concept != "tree" || res.Scope != "stroke" || res.MaskMS != 0 {
		t.Errorf("result %+v", res)
	}
	if res.MaskShare != 1.0/64 {
		t.Errorf("mask share %v, want one cell of 64", res.MaskShare)
	}
	if len(rc.masks) != 1 {
		t.Fatalf("%d fills", len(rc.masks))
	}
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			in := x >= 8 && x < 16 && y >= 8 && y < 16
			if (rc.masks[0].Pix[y*64+x] != 0) != in {
				t.Fatalf("mask pixel (%d,%d) = %d, want brushed cell only", x, y, rc.masks[0].Pix[y*64+x])
			}
		}
	}
	// "Before" is the image with every edit but the last: the sky stroke is
	// there, the removal is not; /render.png of that state is the oracle.
	first, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 9, Edits: []painting.Edit{
		{Concept: "sky", Units: 2, Radius: 3, Points: []painting.Point{{X: 40, Y: 40}}}}})
	resp, body := httpGet(t, ts.URL+"/render.png?state="+url.QueryEscape(first), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("render.png: %d", resp.StatusCode)
	}
	wantImg, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := image.NewRGBA(wantImg.Bounds())
	draw.Draw(want, want.Bounds(), wantImg, image.Point{}, draw.Src)
	if got := decodeDataURL(t, res.Before); !sameImage(got, want) || !sameImage(rc.befores[0], want) {
		t.Error("before image is not the state without its last edit")
	}
	if len(res.Methods) != 4 {
		t.Fatalf("%d methods", len(res.Methods))
	}
	names := []string{"gan", "learned", "ns", "telea"}
	for i, m := range res.Methods {
		if m.Method != names[i] || m.Label != compare.Labels[m.Method] {
			t.Errorf("method %d = %q %q", i, m.Method, m.Label)
		}
	}
	if l := res.Methods[1]; l.Available || l.Reason != "not available for this model" || l.Image != "" {
		t.Errorf("learned slot %+v", l)
	}
	if g := res.Methods[0]; !g.Available || g.MS < 0 {
		t.Errorf("gan slot %+v", g)
	} else if r, gg, b, _ := decodeDataURL(t, g.Image).At(12, 12).RGBA(); r != 0 || gg != 0 || b != 0 {
		// detRender paints removed cells black.
		t.Errorf("GAN image at the removed cell = %v %v %v, want black", r, gg, b)
	}
	if ns := res.Methods[2]; !ns.Available || ns.MS != 3 {
		t.Errorf("ns slot %+v", ns)
	} else if r, _, _, _ := decodeDataURL(t, ns.Image).At(12, 12).RGBA(); r>>8 != 255 {
		t.Error("ns image is not the fill's")
	}
	mask := decodeDataURL(t, res.Mask)
	if r, _, _, _ := mask.At(12, 12).RGBA(); r == 0 {
		t.Error("mask image empty at the brushed cell")
	}
}

func sameImage(a image.Image, b *image.RGBA) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := 0; y < b.Bounds().Dy(); y++ {
		for x := 0; x < b.Bounds().Dx(); x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				return false
			}
		}
	}
	return true
}

func TestCompareEverywhere(t *testing.T) {
	rc := &recordingComparer{}
	deps := testDeps(detEngine(nil, 0))
	deps.Comparer = rc.comparer()
	srv, _ := New(Config{Logger: quietLogger()}, deps)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tok, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 2, Edits: []painting.Edit{
		{Concept: "door", Mode: painting.Remove, Everywhere: true, Units: 2},
	}})
	code, res, e, _ := getCompare(t, ts.URL, tok)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, e)
	}
	if res.Scope != "everywhere" || rc.concept != "door" || res.MaskShare != 0.25 {
		t.Errorf("scope %q, segmented concept %q, mask share %v", res.Scope, rc.concept, res.MaskShare)
	}
	// The unedited image went to the segmenter and the fills.
	want, _ := detRender(testModel(), fakeFeatures{"layer4", 2}, nil)
	if !sameImage(rc.befores[0], want) {
		t.Error("fills did not get the image before the removal")
	}
}

func TestCompareRejects(t *testing.T) {
	deps := testDeps(detEngine(nil, 0))
	noCmp, _ := New(Config{Logger: quietLogger()}, deps)
	ts0 := httptest.NewServer(noCmp.Handler())
	defer ts0.Close()
	removal, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 2, Edits: []painting.Edit{
		{Concept: "door", Mode: painting.Remove, Everywhere: true, Units: 2}}})
	if code, _, e, _ := getCompare(t, ts0.URL, removal); code != http.StatusNotFound || e["error"] == "" {
		t.Errorf("without a Comparer: %d %v", code, e)
	}

	block := make(chan struct{})
	entered := make(chan struct{}, 4)
	rc := &recordingComparer{}
	cmp := rc.comparer()
	slow := fakeComparer{mask: cmp.mask, fill: func(ctx context.Context, img *image.RGBA, mask *image.Gray) ([]compare.Fill, error) {
		entered <- struct{}{}
		<-block
		return cmp.fill(ctx, img, mask)
	}}
	failing := fakeComparer{mask: cmp.mask, fill: func(context.Context, *image.RGBA, *image.Gray) ([]compare.Fill, error) {
		return nil, fmt.Errorf("segmenter: %w", ErrBusy)
	}}
	deps.Comparer = slow
	srv, _ := New(Config{Logger: quietLogger(), MaxCompares: 1}, deps)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	add, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 2, Edits: []painting.Edit{
		{Concept: "sky", Units: 2, Radius: 3, Points: []painting.Point{{X: 40, Y: 40}}}}})
	empty, _ := painting.EncodeState(painting.State{Model: "fake64", Layer: "layer4", ID: 2})
	for _, c := range []struct {
		name, tok string
		code      int
		want      string
	}{
		{"no state", "", http.StatusBadRequest, "paint something"},
		{"garbage", "@@@", http.StatusBadRequest, ""},
		{"no edits", empty, http.StatusConflict, "not a removal"},
		{"last edit adds", add, http.StatusConflict, "not a removal"},
	} {
		code, _, e, _ := getCompare(t, ts.URL, c.tok)
		if code != c.code || !strings.Contains(e["error"], c.want) {
			t.Errorf("%s: %d %v, want %d mentioning %q", c.name, code, e, c.code, c.want)
		}
	}
	// One compare at a time: a second gets 503 at once.
	done := make(chan int)
	go func() {
		code, _, _, _ := getCompare(t, ts.URL, removal)
		done <- code
	}()
	<-entered
	code, _, e, hdr := getCompare(t, ts.URL, removal)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(e["error"], "busy") {
		t.Errorf("second compare: %d %v", code, e)
	}
	close(block)
	if code := <-done; code != http.StatusOK {
		t.Errorf("first compare: %d", code)
	}
	// An engine that stays busy: 503, not 500.
	deps.Comparer = failing
	srv2, _ := New(Config{Logger: quietLogger()}, deps)
	ts2 := httptest.NewServer(srv2.Handler())
	defer ts2.Close()
	if code, _, _, hdr := getCompare(t, ts2.URL, removal); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("busy comparer: %d", code)
	}
}

// The real adapter on the planted model: "remove tree everywhere" is
// compared with the tree pixels (grown by DefaultDilate) as the mask, and the
// planted learned inpainter is available.
func TestCompareWithPlantedModel(t *testing.T) {
	deps := plantedDeps(t)
	if deps.Comparer == nil {
		deps.Comparer = deps.Engine.(*ModelEngine)
	}
	srv, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tok, _ := painting.EncodeState(painting.State{Model: "planted", Layer: "layer2", ID: 4, Edits: []painting.Edit{
		{Concept: "tree", Mode: painting.Remove, Everywhere: true, Units: 1}}})
	code, res, e, _ := getCompare(t, ts.URL, tok)
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, e)
	}
	before := decodeDataURL(t, res.Before)
	mask := decodeDataURL(t, res.Mask)
	grown := image.NewGray(before.Bounds())
	trees := 0
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, g, b, _ := before.At(x, y).RGBA()
			if r>>8 == 0x22 && g>>8 == 0x8b && b>>8 == 0x22 {
				grown.Pix[y*32+x] = 255
				trees++
			}
		}
	}
	if trees == 0 {
		t.Fatal("image 4 has no tree; pick another id")
	}
	grown = inpaint.Dilate(grown, compare.DefaultDilate)
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, _, _, _ := mask.At(x, y).RGBA()
			if (r != 0) != (grown.Pix[y*32+x] != 0) {
				t.Fatalf("mask at (%d,%d) = %v, want the tree pixels grown by %d", x, y, r, compare.DefaultDilate)
			}
		}
	}
	for _, m := range res.Methods {
		if !m.Available || m.Image == "" {
			t.Errorf("%s unavailable: %s", m.Method, m.Reason)
		}
	}
}
