package report

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"
	"sync"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// Model is what the report's images need from the generator; *inference.Model
// is one.
type Model interface {
	ZBatch(ids []int64) ([]float32, error)
	Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
	Segment(ctx context.Context, imgs *inference.Images) ([]uint8, error)
	ImageRange() [2]float32
}

// StripLen is how many top images a unit's strip shows by default.
const StripLen = 6

// ErrBusy is returned when more renders wait than ImagesConfig.MaxWaiting;
// servers answer it with 503.
var ErrBusy = errors.New("report: too many images being rendered")

// ImagesConfig bounds the image renderer. Zero fields take the defaults.
type ImagesConfig struct {
	// CacheBytes bounds the encoded images kept in memory. Default 64 MiB.
	CacheBytes int64
	// Samples is how many generated images are kept with their activations
	// (they are shared by strips, heat maps and outlines). Default 256.
	Samples int
	// Workers is how many images render at once. Default 2.
	Workers int
	// MaxWaiting is how many renders may wait for a worker; more fail with
	// ErrBusy. Default 1024 (a layer page asks for one strip per unit).
	MaxWaiting int
	// StripLen is how many top images a unit's strip shows. Default
	// StripLen (the pages size their strips for it).
	StripLen int
	// JPEGQuality of the JPEG images. Default 90.
	JPEGQuality int
	// Timeout bounds one render. Default 60 s.
	Timeout time.Duration
}

func (c ImagesConfig) withDefaults() ImagesConfig {
	if c.CacheBytes <= 0 {
		c.CacheBytes = 64 << 20
	}
	if c.Samples <= 0 {
		c.Samples = 256
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.MaxWaiting <= 0 {
		c.MaxWaiting = 1024
	}
	if c.StripLen <= 0 {
		c.StripLen = StripLen
	}
	if c.JPEGQuality <= 0 || c.JPEGQuality > 100 {
		c.JPEGQuality = 90
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	return c
}

// Images renders the report's images on demand and keeps the most recently
// used ones, encoded, within CacheBytes. It is safe for concurrent use;
// concurrent requests for one image render it once.
type Images struct {
	cfg    ImagesConfig
	rep    *Report
	m      Model
	layers []string
	ups    map[string]*dissection.Upsampler
	colors []color.RGBA
	rng    [2]float32

	mu      sync.Mutex
	cache   *lru[[]byte]
	samples *lru[*sample]
	flight  map[string]*call
	waiting int

	slots chan struct{}
}

// sample is one generated image with its activations at every dissected
// layer and, once asked for, its segmentation.
type sample struct {
	img   *image.RGBA
	feats map[string][]float32
	seg   []uint8
}

type call struct {
	done chan struct{}
	body []byte
	err  error
}

// NewImages returns the renderer of rep's images from m.
func NewImages(rep *Report, m Model, cfg ImagesConfig) (*Images, error) {
	if rep == nil || m == nil {
		return nil, errors.New("report: NewImages needs a report and a model")
	}
	cfg = cfg.withDefaults()
	im := &Images{cfg: cfg, rep: rep, m: m, ups: map[string]*dissection.Upsampler{}, rng: m.ImageRange(),
		flight: map[string]*call{}, slots: make(chan struct{}, cfg.Workers)}
	im.cache = newLRU(cfg.CacheBytes, func(b []byte) int64 { return int64(len(b)) + 64 })
	im.samples = newLRU(int64(cfg.Samples), func(*sample) int64 { return 1 })
	for _, l := range rep.Layers {
		up, err := dissection.NewUpsampler(l.Height, l.Width, rep.ImageH, rep.ImageW)
		if err != nil {
			return nil, err
		}
		im.layers = append(im.layers, l.Layer.Layer)
		im.ups[l.Layer.Layer] = up
	}
	for _, c := range rep.Classes {
		im.colors = append(im.colors, parseHex(c.Color))
	}
	return im, nil
}

// ContentType is the media type of an image key's file.
func ContentType(k Key) string {
	if k.Kind == KindSeg {
		return "image/png"
	}
	return "image/jpeg"
}

// Get returns the encoded image of key (see ParseKey) and its content type.
func (im *Images) Get(ctx context.Context, key string) ([]byte, string, error) {
	k, err := ParseKey(key)
	if err != nil {
		return nil, "", err
	}
	if err := im.check(k); err != nil {
		return nil, "", err
	}
	key = k.String()
	im.mu.Lock()
	if b, ok := im.cache.get(key); ok {
		im.mu.Unlock()
		return b, ContentType(k), nil
	}
	c, running := im.flight[key]
	if !running {
		if im.waiting >= im.cfg.MaxWaiting {
			im.mu.Unlock()
			return nil, "", ErrBusy
		}
		im.waiting++
		c = &call{done: make(chan struct{})}
		im.flight[key] = c
		// The render outlives the request that started it: others may be
		// waiting for the same image.
		go im.run(context.WithoutCancel(ctx), k, key, c)
	}
	im.mu.Unlock()
	select {
	case <-c.done:
		return c.body, ContentType(k), c.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

func (im *Images) run(ctx context.Context, k Key, key string, c *call) {
	im.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(ctx, im.cfg.Timeout)
	c.body, c.err = im.render(ctx, k)
	cancel()
	<-im.slots
	im.mu.Lock()
	im.waiting--
	delete(im.flight, key)
	if c.err == nil {
		im.cache.put(key, c.body)
	}
	im.mu.Unlock()
	close(c.done)
}

// check rejects keys for layers, units or ids the report does not have.
func (im *Images) check(k Key) error {
	if k.Kind == KindSeg && !im.rep.Segmented {
		return fmt.Errorf("%w: the model %s has no segmenter, so no segmentations", ErrNotFound, im.rep.Model)
	}
	if k.ID >= im.rep.MaxID {
		return fmt.Errorf("%w: image id %d (ids are below %d)", ErrNotFound, k.ID, im.rep.MaxID)
	}
	if k.Layer == "" {
		return nil
	}
	l, err := im.rep.Layer(k.Layer)
	if err != nil {
		return err
	}
	_, err = l.Unit(k.Unit)
	return err
}

func (im *Images) render(ctx context.Context, k Key) ([]byte, error) {
	var img image.Image
	switch k.Kind {
	case KindImage:
		s, err := im.sample(ctx, k.ID, false)
		if err != nil {
			return nil, err
		}
		img = s.img
	case KindSeg:
		s, err := im.sample(ctx, k.ID, true)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		err = inference.EncodePNG(&buf, segImage(s.seg, im.rep.ImageW, im.rep.ImageH, im.colors))
		return buf.Bytes(), err
	case KindMask, KindHeat:
		s, err := im.sample(ctx, k.ID, false)
		if err != nil {
			return nil, err
		}
		img = im.unitView(s, k)
	case KindStrip:
		var err error
		if img, err = im.strip(ctx, k.Layer, k.Unit); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: image kind %q", ErrNotFound, k.Kind)
	}
	var buf bytes.Buffer
	err := inference.EncodeJPEG(&buf, img, im.cfg.JPEGQuality)
	return buf.Bytes(), err
}

// unitView draws one image with a unit's region outlined (mask) or its
// activation as a heat map (heat).
func (im *Images) unitView(s *sample, k Key) *image.RGBA {
	l, _ := im.rep.Layer(k.Layer)
	rec := l.Units[k.Unit]
	up, region := im.region(s, k.Layer, k.Unit, rec.Threshold)
	out := image.NewRGBA(s.img.Rect)
	copy(out.Pix, s.img.Pix)
	if k.Kind == KindHeat {
		top := rec.Level
		if len(rec.TopActs) > 0 {
			top = max(top, rec.TopActs[0])
		}
		drawHeat(out, up, top, region)
	} else {
		drawRegion(out, region)
	}
	return out
}

// region upsamples a unit's activation to the image, as the dissection
// does, and marks the pixels above threshold.
func (im *Images) region(s *sample, layer string, unit int, thr float32) ([]float32, []bool) {
	l, _ := im.rep.Layer(layer)
	plane := l.Height * l.Width
	up := make([]float32, im.rep.ImageW*im.rep.ImageH)
	im.ups[layer].Upsample(up, s.feats[layer][unit*plane:(unit+1)*plane])
	region := make([]bool, len(up))
	for i, v := range up {
		region[i] = v > thr
	}
	return up, region
}

// stripGap separates the images of a strip.
const stripGap = 2

var stripBackground = color.RGBA{14, 17, 22, 255}

// strip lays out the unit's top images side by side, each with the unit's
// above-threshold region outlined.
func (im *Images) strip(ctx context.Context, layer string, unit int) (*image.RGBA, error) {
	l, _ := im.rep.Layer(layer)
	rec := l.Units[unit]
	ids := rec.TopIDs[:min(len(rec.TopIDs), im.cfg.StripLen)]
	w, h := im.rep.ImageW, im.rep.ImageH
	n := max(len(ids), 1)
	out := image.NewRGBA(image.Rect(0, 0, n*w+(n-1)*stripGap, h))
	draw.Draw(out, out.Rect, &image.Uniform{stripBackground}, image.Point{}, draw.Src)
	samples, err := im.samplesFor(ctx, ids, false)
	if err != nil {
		return nil, err
	}
	for i, s := range samples {
		tile := im.unitView(s, Key{Kind: KindMask, Layer: layer, Unit: unit})
		x := i * (w + stripGap)
		draw.Draw(out, image.Rect(x, 0, x+w, h), tile, image.Point{}, draw.Src)
	}
	return out, nil
}

func (im *Images) sample(ctx context.Context, id int64, withSeg bool) (*sample, error) {
	s, err := im.samplesFor(ctx, []int64{id}, withSeg)
	if err != nil {
		return nil, err
	}
	return s[0], nil
}

// samplesFor returns the generated images of ids, generating the missing
// ones (and their segmentation when asked) in one batch.
func (im *Images) samplesFor(ctx context.Context, ids []int64, withSeg bool) ([]*sample, error) {
	out := make([]*sample, len(ids))
	var missing []int64
	im.mu.Lock()
	for i, id := range ids {
		if s, ok := im.samples.get(sampleKey(id)); ok && (!withSeg || s.seg != nil) {
			out[i] = s
		} else if !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	im.mu.Unlock()
	if len(missing) > 0 {
		zs, err := im.m.ZBatch(missing)
		if err != nil {
			return nil, err
		}
		imgs, feats, err := im.m.Generate(ctx, zs, len(missing), im.layers)
		if err != nil {
			return nil, err
		}
		var seg []uint8
		if withSeg {
			if seg, err = im.m.Segment(ctx, imgs); err != nil {
				return nil, err
			}
			if len(seg) != len(missing)*imgs.H*imgs.W {
				return nil, fmt.Errorf("report: segmenter gave %d labels for %d images", len(seg), len(missing))
			}
		}
		if imgs.H != im.rep.ImageH || imgs.W != im.rep.ImageW || imgs.N != len(missing) {
			return nil, fmt.Errorf("report: generator gave %d images of %d×%d", imgs.N, imgs.W, imgs.H)
		}
		im.mu.Lock()
		for i, id := range missing {
			s := &sample{img: imgs.RGBA(i, im.rng), feats: map[string][]float32{}}
			for _, name := range im.layers {
				f := feats[name]
				size := f.Layer.Size()
				s.feats[name] = slices.Clone(f.Data[i*size : (i+1)*size])
			}
			if withSeg {
				plane := imgs.H * imgs.W
				s.seg = slices.Clone(seg[i*plane : (i+1)*plane])
			}
			im.samples.put(sampleKey(id), s)
			for j, want := range ids {
				if want == id {
					out[j] = s
				}
			}
		}
		im.mu.Unlock()
	}
	return out, nil
}

func sampleKey(id int64) string { return fmt.Sprint(id) }

// lru is a least-recently-used map bounded by the summed size of its values.
type lru[V any] struct {
	max, size int64
	sizeOf    func(V) int64
	ll        *list.List
	items     map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int64, sizeOf func(V) int64) *lru[V] {
	return &lru[V]{max: max, sizeOf: sizeOf, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string) (V, bool) {
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, v V) {
	if e, ok := c.items[key]; ok {
		c.size -= c.sizeOf(e.Value.(*lruEntry[V]).val)
		e.Value.(*lruEntry[V]).val = v
		c.ll.MoveToFront(e)
	} else {
		c.items[key] = c.ll.PushFront(&lruEntry[V]{key, v})
	}
	c.size += c.sizeOf(v)
	for c.size > c.max && c.ll.Len() > 1 {
		e := c.ll.Back()
		ent := e.Value.(*lruEntry[V])
		c.ll.Remove(e)
		delete(c.items, ent.key)
		c.size -= c.sizeOf(ent.val)
	}
}

// CacheStats reports the encoded-image cache's size in bytes and entries.
func (im *Images) CacheStats() (bytes int64, entries int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.cache.size, im.cache.ll.Len()
}
