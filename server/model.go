package server

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"sync"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// ModelEngine adapts an *inference.Model to Engine: Features runs the
// generator's head for one id, Render applies the edits to a copy and runs
// the tail. It is safe for concurrent use (the Model has its own worker
// pool and answers inference.ErrBusy when its queue is full, which
// ModelEngine reports as ErrBusy).
type ModelEngine struct {
	m    *inference.Model
	info ModelInfo
	res  *dissection.Results // nil without a dissection

	mu     sync.Mutex
	levels map[string][]float32

	scratch sync.Pool // *renderScratch
}

// renderScratch holds the per-render buffers so strokes do not allocate a
// layer's activations and an image's floats every time.
type renderScratch struct {
	feats inference.Features
	mid   inference.Features // a second buffer for edits at a later layer
	imgs  inference.Images
}

// modelFeatures are one image's activations at one layer, plus the frame
// of the last render made from them: a painting session renders the same
// features stroke after stroke, and Model.Repaint then recomputes only the
// part of the image the newest change can reach.
type modelFeatures struct {
	f    *inference.Features
	memo *frameMemo
}

// frameMemo is the state a render leaves for the next one of the same
// features. The lock is only ever tried: a second render of the same
// features at the same time (not something a session does) takes the
// stateless path instead of waiting.
type frameMemo struct {
	mu     sync.Mutex
	frame  inference.Frame
	edited inference.Features
	// fwd keeps the blocks' outputs up to a later layer an edit names (a
	// door or dome brush paints at layer6): most strokes change a region of
	// them, and running the blocks for the whole image on every frame cost
	// a tenth of a loaded server's CPU.
	fwd inference.Frame
}

// forward is applyEdits' forwarder for the memo: a region-limited repaint
// of the blocks up to the later layer.
func (mm *frameMemo) forward(e *ModelEngine) forwarder {
	return func(ctx context.Context, src *inference.Features, to string) (*inference.Features, error) {
		if _, err := e.m.RepaintTo(ctx, &mm.fwd, src, to); err != nil {
			return nil, err
		}
		return mm.fwd.Output(), nil
	}
}

// forwarder runs the generator blocks after src's layer up to layer to and
// returns the activations there, in a buffer that is neither src nor the
// buffer edits are applied into.
type forwarder func(ctx context.Context, src *inference.Features, to string) (*inference.Features, error)

// forwardInto is the plain forwarder: the blocks always run, into dst.
func (e *ModelEngine) forwardInto(dst *inference.Features) forwarder {
	return func(ctx context.Context, src *inference.Features, to string) (*inference.Features, error) {
		if err := e.m.ForwardInto(ctx, dst, src, to); err != nil {
			return nil, err
		}
		return dst, nil
	}
}

func (mf modelFeatures) SizeBytes() int { return 4 * len(mf.f.Data) }

// NewModelEngine wraps m. When res is not nil, the dissection's per-unit
// levels replace the Model's fallback levels for every dissected layer, as
// the reference paints "add" at each unit's 0.99 quantile.
func NewModelEngine(m *inference.Model, res *dissection.Results) (*ModelEngine, error) {
	if m == nil {
		return nil, errors.New("server: NewModelEngine needs a model")
	}
	man := m.Manifest()
	info := ModelInfo{
		Name: man.Name, Title: man.Title, ImageWidth: man.Image.Width, ImageHeight: man.Image.Height,
		MaxID: man.Z.MaxID, SampleIDs: append([]int64(nil), man.SampleIDs...), DefaultLayer: man.DefaultLayer,
	}
	for _, l := range m.Layers() {
		info.Layers = append(info.Layers, LayerInfo{Name: l.Name, Channels: l.Channels, Width: l.Width, Height: l.Height})
	}
	if res != nil {
		if err := res.ApplyLevels(m); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	return &ModelEngine{m: m, info: info, res: res, levels: map[string][]float32{}}, nil
}

// Model implements Engine.
func (e *ModelEngine) Model() ModelInfo { return e.info }

// busy marks the Model's queue-full error as the server's ErrBusy while
// keeping the original in the chain.
func busy(err error) error {
	if errors.Is(err, inference.ErrBusy) {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}

// Features implements Engine.
func (e *ModelEngine) Features(ctx context.Context, layer string, id int64) (Features, error) {
	z, err := e.m.Z(id)
	if err != nil {
		return nil, err
	}
	f, err := e.m.Head(ctx, layer, z, 1)
	if err != nil {
		return nil, busy(err)
	}
	return modelFeatures{f: f, memo: &frameMemo{}}, nil
}

func (e *ModelEngine) levelsOf(ctx context.Context, layer string) ([]float32, error) {
	e.mu.Lock()
	l, ok := e.levels[layer]
	e.mu.Unlock()
	if ok {
		return l, nil
	}
	l, err := e.m.Levels(ctx, layer)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.levels[layer] = l
	e.mu.Unlock()
	return l, nil
}

// Render implements Engine.
func (e *ModelEngine) Render(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error) {
	mf, ok := f.(modelFeatures)
	if !ok || mf.f == nil {
		return nil, fmt.Errorf("server: features of type %T did not come from this engine", f)
	}
	if mf.memo != nil && mf.memo.mu.TryLock() {
		defer mf.memo.mu.Unlock()
		src, err := e.applyEdits(ctx, &mf.memo.edited, mf.memo.forward(e), mf.f, edits)
		if err != nil {
			return nil, err
		}
		if _, err := e.m.Repaint(ctx, &mf.memo.frame, src); err != nil {
			return nil, busy(err)
		}
		return e.toRGBA(mf.memo.frame.Image())
	}
	sc, _ := e.scratch.Get().(*renderScratch)
	if sc == nil {
		sc = &renderScratch{}
	}
	defer e.scratch.Put(sc)
	src, err := e.applyEdits(ctx, &sc.feats, e.forwardInto(&sc.mid), mf.f, edits)
	if err != nil {
		return nil, err
	}
	if err := e.m.TailInto(ctx, &sc.imgs, src); err != nil {
		return nil, busy(err)
	}
	return e.toRGBA(&sc.imgs)
}

func (e *ModelEngine) toRGBA(imgs *inference.Images) (*image.RGBA, error) {
	img := imgs.RGBA(0, e.m.ImageRange())
	if img == nil {
		return nil, errors.New("server: model returned no image")
	}
	return img, nil
}

// applyEdits returns src with edits applied, written into feats; with no
// edits it returns src itself. Edits apply layer by layer in
// generator order: the features' layer first, then each later layer an edit
// names, running the blocks between with forward, so the result may be at a
// later layer than src.
func (e *ModelEngine) applyEdits(ctx context.Context, feats *inference.Features, forward forwarder, src *inference.Features, edits []Edit) (*inference.Features, error) {
	li := src.Layer
	byLayer := map[string][]Edit{}
	for _, ed := range edits {
		l := ed.Layer
		if l == "" {
			l = li.Name
		}
		byLayer[l] = append(byLayer[l], ed)
	}
	for _, l := range e.m.Layers() {
		eds, ok := byLayer[l.Name]
		if !ok {
			continue
		}
		delete(byLayer, l.Name)
		if l.Index < li.Index {
			return nil, fmt.Errorf("server: an edit at %s comes before the features' layer %s", l.Name, li.Name)
		}
		if l.Name != src.Layer.Name {
			out, err := forward(ctx, src, l.Name)
			if err != nil {
				return nil, busy(err)
			}
			src = out
		}
		var err error
		if src, err = e.apply(ctx, src, eds, feats); err != nil {
			return nil, err
		}
	}
	if len(byLayer) > 0 {
		return nil, fmt.Errorf("server: edits at unknown layers (%d left)", len(byLayer))
	}
	return src, nil
}

// apply applies one layer's edits to src, into a scratch buffer other than
// src (src itself may be the cached features, which must not change).
func (e *ModelEngine) apply(ctx context.Context, src *inference.Features, edits []Edit, feats *inference.Features) (*inference.Features, error) {
	li := src.Layer
	ie := make([]inference.Edit, len(edits))
	needLevels := false
	for i, ed := range edits {
		ie[i] = ed.Edit
		if ie[i].Strength == 0 {
			ie[i].Strength = 1
		}
		needLevels = needLevels || ed.Mode == inference.ModeAdd
	}
	var levels []float32
	if needLevels {
		var err error
		if levels, err = e.levelsOf(ctx, li.Name); err != nil {
			return nil, busy(err)
		}
	}
	dst := feats
	if src == feats {
		dst = src // a scratch buffer may be edited in place
	}
	if err := inference.ApplyEdits(dst, src, ie, levels, inference.PoolMax); err != nil {
		return nil, err
	}
	return dst, nil
}

// DissectionConcepts adapts dissection results to Concepts. A concept is
// offered at a layer when at least one unit there overlaps it at all
// (IoU > 0); its units are the dissection's ranking, cut where the IoU
// reaches 0, since units that never coincide with a concept cannot paint it.
type DissectionConcepts struct {
	list   []Concept
	ranked map[string]map[string][]int // layer → concept → units
	set    *brushes.Set                // brushes and steps (NewBrushConcepts); nil: IoU only
}

// NewDissectionConcepts builds the palette from res. classes (normally the
// segmenter's, from inference.Model.Classes) give the display order and
// colours; concepts that only the dissection knows come after them in grey.
func NewDissectionConcepts(res *dissection.Results, classes []inference.ClassSpec) (*DissectionConcepts, error) {
	if res == nil {
		return nil, errors.New("server: NewDissectionConcepts needs dissection results")
	}
	dc := &DissectionConcepts{ranked: map[string]map[string][]int{}}
	offered := map[string]bool{}
	for name, l := range res.Layers {
		byConcept := map[string][]int{}
		for ci, concept := range l.ClassNames {
			var units []int
			for _, u := range l.Rankings[concept] {
				if u < 0 || u >= len(l.Units) || ci >= len(l.Units[u].ClassIoU) {
					return nil, fmt.Errorf("server: dissection of %s ranks unit %d for %q without its IoU", name, u, concept)
				}
				if l.Units[u].ClassIoU[ci] <= 0 {
					break
				}
				units = append(units, u)
			}
			if len(units) > 0 {
				byConcept[concept] = units
				offered[concept] = true
			}
		}
		dc.ranked[name] = byConcept
	}
	seen := map[string]bool{}
	for _, c := range classes {
		if offered[c.Name] && !seen[c.Name] {
			dc.list = append(dc.list, Concept{Name: c.Name, Color: c.Color})
			seen[c.Name] = true
		}
	}
	var rest []string
	for name := range offered {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		dc.list = append(dc.list, Concept{Name: name, Color: "#9e9e9e"})
	}
	return dc, nil
}

// List implements Concepts.
func (dc *DissectionConcepts) List() []Concept { return append([]Concept(nil), dc.list...) }

// Ranked implements Concepts.
func (dc *DissectionConcepts) Ranked(layer, concept string) []int {
	return dc.ranked[layer][concept]
}
