package report

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var plantedDir = testenv.PlantedModel()

// testManifest is a 32×32 model with the planted model's classes.
func testManifest() inference.Manifest {
	return inference.Manifest{Name: "planted", Title: "Planted", Z: inference.ZSpec{Size: 8, MaxID: 100000},
		Image: inference.ImageSpec{Width: 32, Height: 32, Range: [2]float32{-1, 1}},
		Segmenter: &inference.SegmenterSpec{Classes: []inference.ClassSpec{
			{Name: "background", Color: "#808080"}, {Name: "sky", Color: "#87ceeb"}, {Name: "tree", Color: "#228b22"},
			{Name: "door", Color: "#8b4513"}, {Name: "grass", Color: "#7cfc00"}}}}
}

func testLayers() []inference.LayerInfo {
	return []inference.LayerInfo{{Name: "layer1", Channels: 4, Height: 4, Width: 4},
		{Name: "layer2", Index: 1, Channels: 8, Height: 8, Width: 8}}
}

// plantedResults is what a dissection of the planted model finds: unit k < 4
// of layer2 draws class k+1; its threshold is half its level, so the
// outlined region is where it is on. Units 4–7 match nothing.
func plantedResults() *dissection.Results {
	classes := []string{"background", "sky", "tree", "door", "grass"}
	l := &dissection.Layer{Layer: "layer2", Channels: 8, Height: 8, Width: 8, ClassNames: classes, Samples: 10,
		Rankings: map[string][]int{}, IoUThreshold: 0.05}
	for u := 0; u < 8; u++ {
		iou := make([]float64, len(classes))
		rec := dissection.Unit{Unit: u, Label: "background", Level: 1, Threshold: 0.5, ClassIoU: iou, TopIDs: []int64{3, 5, 8}, TopActs: []float32{1, 1, 1}}
		if u < 4 {
			iou[u+1] = 0.9
			rec.Label, rec.IoU, rec.Interpretable = classes[u+1], 0.9, true
			rec.Level = []float32{1, 1.5, 2, 2.5}[u]
			rec.Threshold = rec.Level / 2
		}
		l.Units = append(l.Units, rec)
	}
	for ci, c := range classes {
		order := []int{0, 1, 2, 3, 4, 5, 6, 7}
		if ci > 0 {
			order = append([]int{ci - 1}, slices.Delete(slices.Clone(order), ci-1, ci)...)
		}
		l.Rankings[c] = order
	}
	return &dissection.Results{Model: "planted", Layers: map[string]*dissection.Layer{"layer2": l}}
}

func TestNew(t *testing.T) {
	res := plantedResults()
	res.Layers["layer2"].Units[5].Label, res.Layers["layer2"].Units[5].Interpretable = "sky", true
	rep, err := New(testManifest(), testLayers(), res)
	if err != nil {
		t.Fatal(err)
	}
	l, err := rep.Layer("layer2")
	if err != nil {
		t.Fatal(err)
	}
	if l.Interpretable != 5 || l.Concepts != 4 {
		t.Errorf("summary %d units, %d concepts", l.Interpretable, l.Concepts)
	}
	var got []string
	for _, c := range l.Counts {
		got = append(got, c.Name+":"+c.Color)
	}
	// sky has two units; the rest one each, in class order.
	if want := []string{"sky:#87ceeb", "tree:#228b22", "door:#8b4513", "grass:#7cfc00"}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	if len(l.Rankings) != 5 || l.Rankings[1].Name != "sky-iou" || l.Rankings[1].Units[0] != 0 {
		t.Errorf("rankings %+v", l.Rankings)
	}
	if _, err := rep.Layer("layer1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("undissected layer: %v", err)
	}
	if _, err := l.Unit(8); !errors.Is(err, ErrNotFound) {
		t.Errorf("unit 8: %v", err)
	}
	if c := rep.Class("dragon"); c.Color != greyColor {
		t.Errorf("unknown class colour %q", c.Color)
	}

	// The version follows the thresholds, so image URLs change with them.
	res2 := plantedResults()
	res2.Layers["layer2"].Units[0].Threshold = 0.6
	rep2, err := New(testManifest(), testLayers(), res2)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Version == rep.Version || len(rep.Version) != 12 {
		t.Errorf("versions %q and %q", rep.Version, rep2.Version)
	}

	bad := plantedResults()
	bad.Layers["layer2"].Channels = 7
	if _, err := New(testManifest(), testLayers(), bad); err == nil || !strings.Contains(err.Error(), "units") {
		t.Errorf("channel mismatch: %v", err)
	}
	odd := plantedResults()
	odd.Layers["layer 2"] = odd.Layers["layer2"]
	layers := append(testLayers(), inference.LayerInfo{Name: "layer 2", Channels: 8, Height: 8, Width: 8})
	if _, err := New(testManifest(), layers, odd); err == nil || !strings.Contains(err.Error(), "URLs") {
		t.Errorf("unsafe layer name: %v", err)
	}
	if _, err := New(testManifest(), testLayers()[:1], plantedResults()); err == nil {
		t.Error("results for no layer of the model were accepted")
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want Key
		ok   bool
	}{
		{"strip/layer4/12.jpg", Key{Kind: KindStrip, Layer: "layer4", Unit: 12}, true},
		{"image/0.jpg", Key{Kind: KindImage}, true},
		{"seg/77.png", Key{Kind: KindSeg, ID: 77}, true},
		{"heat/layer4/3/99.jpg", Key{Kind: KindHeat, Layer: "layer4", Unit: 3, ID: 99}, true},
		{"mask/layer6/0/5.jpg", Key{Kind: KindMask, Layer: "layer6", Unit: 0, ID: 5}, true},
		{"strip/layer4/012.jpg", Key{}, false},
		{"strip/layer4/+1.jpg", Key{}, false},
		{"strip/layer4/-1.jpg", Key{}, false},
		{"strip/layer4/1.png", Key{}, false},
		{"image/1.png", Key{}, false},
		{"seg/1.jpg", Key{}, false},
		{"strip/../1.jpg", Key{}, false},
		{"strip/a b/1.jpg", Key{}, false},
		{"heat/layer4/3.jpg", Key{}, false},
		{"image/99999999999999999999.jpg", Key{}, false},
		{"", Key{}, false},
		{"video/1.mp4", Key{}, false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got, err := ParseKey(tc.key)
			if tc.ok != (err == nil) || (tc.ok && got != tc.want) {
				t.Fatalf("ParseKey = %+v, %v", got, err)
			}
			if !tc.ok && !errors.Is(err, ErrNotFound) {
				t.Errorf("error %v is not ErrNotFound", err)
			}
			if tc.ok && got.String() != tc.key {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
}

func TestLinks(t *testing.T) {
	s, st := ServerLinks("/report/", "abc"), StaticLinks()
	for _, tc := range []struct{ got, want string }{
		{s.Index(), "/report/"}, {st.Index(), "index.html"},
		{s.Layer("layer4"), "/report/layer4"}, {st.Layer("layer4"), "layer4.html"},
		{s.Unit("layer4", 3), "/report/layer4/unit/3"}, {st.Unit("layer4", 3), "layer4-unit3.html"},
		{s.UnitAt("layer4", 3, 9), "/report/layer4/unit/3?id=9"}, {st.UnitAt("layer4", 3, 9), "layer4-unit3.html"},
		{s.Image("seg/1.png"), "/report/img/abc/seg/1.png"}, {st.Image("seg/1.png"), "img/seg/1.png"},
		{s.Editor(), "/report/edit"}, {st.Editor(), ""}, {s.Painter(), "/"}, {st.Painter(), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

// fakeModel is a Model of function fields: images are a flat colour per id,
// activations unit+cell/100, the segmentation all label 1.
type fakeModel struct {
	generate func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
}

func (m fakeModel) ZBatch(ids []int64) ([]float32, error) {
	out := make([]float32, 0, 8*len(ids))
	for _, id := range ids {
		out = append(out, float32(id), 0, 0, 0, 0, 0, 0, 0)
	}
	return out, nil
}
func (m fakeModel) Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
	return m.generate(ctx, zs, n, layers)
}
func (m fakeModel) Segment(ctx context.Context, imgs *inference.Images) ([]uint8, error) {
	seg := make([]uint8, imgs.N*imgs.H*imgs.W)
	for i := range seg {
		seg[i] = 1
	}
	return seg, nil
}
func (m fakeModel) ImageRange() [2]float32 { return [2]float32{-1, 1} }

func fakeGenerate(calls *atomic.Int64, delay time.Duration) func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
	return func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
		calls.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		imgs := &inference.Images{N: n, H: 32, W: 32, Data: make([]float32, n*3*32*32)}
		for i := range imgs.Data {
			imgs.Data[i] = zs[(i/(3*32*32))*8]/1000 - 0.5
		}
		feats := map[string]*inference.Features{}
		for _, name := range layers {
			li := testLayers()[1]
			f := &inference.Features{Layer: li, N: n, Data: make([]float32, n*li.Size())}
			for i := range f.Data {
				f.Data[i] = float32((i/64)%8) + float32(i%64)/100
			}
			feats[name] = f
		}
		return imgs, feats, nil
	}
}

func newTestImages(t *testing.T, m Model, cfg ImagesConfig) *Images {
	t.Helper()
	rep, err := New(testManifest(), testLayers(), plantedResults())
	if err != nil {
		t.Fatal(err)
	}
	im, err := NewImages(rep, m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestImagesRenderOnceAndCache(t *testing.T) {
	var calls atomic.Int64
	im := newTestImages(t, fakeModel{generate: fakeGenerate(&calls, 20*time.Millisecond)}, ImagesConfig{})
	var wg sync.WaitGroup
	bodies := make([][]byte, 8)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, ct, err := im.Get(context.Background(), "strip/layer2/1.jpg")
			if err != nil || ct != "image/jpeg" {
				t.Errorf("Get: %v %q", err, ct)
			}
			bodies[i] = b
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("8 concurrent requests for one strip generated %d times", n)
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatal("concurrent requests got different bytes")
		}
	}
	// The strip's three images are cached: their outlines need no model run.
	if _, _, err := im.Get(context.Background(), "mask/layer2/1/5.jpg"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("a cached sample was generated again (%d runs)", n)
	}
	if _, entries := im.CacheStats(); entries != 2 {
		t.Errorf("%d cached images, want 2", entries)
	}
}

func TestImagesCacheBound(t *testing.T) {
	var calls atomic.Int64
	const bound = 3000
	im := newTestImages(t, fakeModel{generate: fakeGenerate(&calls, 0)}, ImagesConfig{CacheBytes: bound, Samples: 2})
	for id := 0; id < 20; id++ {
		if _, _, err := im.Get(context.Background(), ImageKey(int64(id))); err != nil {
			t.Fatal(err)
		}
		if size, _ := im.CacheStats(); size > bound {
			t.Fatalf("cache holds %d bytes, bound %d", size, bound)
		}
	}
	if _, entries := im.CacheStats(); entries < 1 || entries >= 20 {
		t.Errorf("%d entries after 20 images", entries)
	}
	// An evicted image is rendered again, identically.
	before := calls.Load()
	b1, _, _ := im.Get(context.Background(), ImageKey(0))
	if calls.Load() == before {
		t.Error("image 0 should have been evicted")
	}
	b2, _, _ := im.Get(context.Background(), ImageKey(0))
	if !bytes.Equal(b1, b2) {
		t.Error("re-rendered image differs")
	}
}

func TestImagesBusyAndNotFound(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	gen := fakeGenerate(&calls, 0)
	m := fakeModel{generate: func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
		<-release
		return gen(ctx, zs, n, layers)
	}}
	im := newTestImages(t, m, ImagesConfig{Workers: 1, MaxWaiting: 1})
	done := make(chan error)
	go func() {
		_, _, err := im.Get(context.Background(), ImageKey(1))
		done <- err
	}()
	for {
		im.mu.Lock()
		w := im.waiting
		im.mu.Unlock()
		if w == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, _, err := im.Get(context.Background(), ImageKey(2)); !errors.Is(err, ErrBusy) {
		t.Errorf("second render while the queue is full: %v", err)
	}
	// A waiting client that gives up does not stop the render for others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := im.Get(ctx, ImageKey(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
	for _, key := range []string{"strip/layer1/0.jpg", "strip/layer2/8.jpg", "image/100000.jpg", "heat/layer9/0/1.jpg", "nonsense"} {
		if _, _, err := im.Get(context.Background(), key); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", key, err)
		}
	}
}

// TestPlantedImages renders from the planted model, where unit k of layer2
// is on exactly in the cells drawn in class k+1: the outlined region must
// coincide with that class in the segmentation, and the strip is pinned by
// a golden file.
func TestPlantedImages(t *testing.T) {
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(plantedDir, inference.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rep, err := New(m.Manifest(), m.Layers(), plantedResults())
	if err != nil {
		t.Fatal(err)
	}
	im, err := NewImages(rep, m, ImagesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for u := 0; u < 4; u++ {
		s, err := im.sample(ctx, 5, true)
		if err != nil {
			t.Fatal(err)
		}
		_, region := im.region(s, "layer2", u, rep.Layers[0].Units[u].Threshold)
		inter, union := 0, 0
		for i, on := range region {
			cls := int(s.seg[i]) == u+1
			if on && cls {
				inter++
			}
			if on || cls {
				union++
			}
		}
		if union > 0 && float64(inter)/float64(union) < 0.6 {
			t.Errorf("unit %d: region and class %d overlap with IoU %d/%d", u, u+1, inter, union)
		}
	}
	strip, err := im.strip(ctx, "layer2", 2)
	if err != nil {
		t.Fatal(err)
	}
	if strip.Rect.Dx() != 3*32+2*stripGap || strip.Rect.Dy() != 32 {
		t.Fatalf("strip is %v", strip.Rect)
	}
	checkGolden(t, "strip_layer2_2.png", strip)
	for _, key := range []string{ImageKey(5), SegKey(5), HeatKey("layer2", 1, 5), MaskKey("layer2", 1, 5), StripKey("layer2", 0)} {
		b, ct, err := im.Get(ctx, key)
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v", key, err)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Height != 32 || (ct != "image/png") != (strings.HasSuffix(key, ".jpg")) {
			t.Errorf("%s: %v %+v %s", key, err, cfg, ct)
		}
	}
}

func checkGolden(t *testing.T, name string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file (rerun with -update after checking it)", name)
	}
}
