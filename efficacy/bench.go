package efficacy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/progress"
	"github.com/ganpaint-go/ganpaint/internal/splitmix"
)

var (
	// ErrBadConfig: a Config value is out of range.
	ErrBadConfig = errors.New("efficacy: bad configuration")
	// ErrBadBrush: a brush is inconsistent with its layer.
	ErrBadBrush = errors.New("efficacy: bad brush")
)

// Model is what the benchmark needs from the engine; *inference.Model is one.
type Model interface {
	Manifest() inference.Manifest
	Layers() []inference.LayerInfo
	ZBatch(ids []int64) ([]float32, error)
	Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
	Tail(ctx context.Context, f *inference.Features) (*inference.Images, error)
	Segment(ctx context.Context, imgs *inference.Images) ([]uint8, error)
}

// Config controls a benchmark run. Zero fields take the documented defaults.
type Config struct {
	// Images is the pool of held-out images regions are drawn from. Default 40.
	Images int
	// Plausible and Other are how many insertion regions per concept are
	// drawn from the pool's eligible regions where the concept's rule holds
	// (default 40) and where it does not (default 12).
	Plausible, Other int
	// Present is how many regions where the concept covers at least half
	// are erased per concept. Default 20.
	Present int
	// Everywhere is how many images showing the concept (at least
	// MinImageShare of their pixels) are erased whole per concept. Default 12.
	Everywhere    int
	MinImageShare float64 // default 0.01
	// Side is the tiling: Side×Side regions per image. Default 4.
	Side int
	// IDFrom and IDTo bound the image ids as fractions of the model's
	// max_id: ids are taken in order from ⌈IDFrom·max_id⌉ upward, skipping
	// Exclude. Default [0.9, 1): the evaluation range (docs/efficacy.md).
	IDFrom, IDTo float64
	// Exclude lists ids never used (the dissection's samples).
	Exclude []int64
	// IDs, when set, are the images (Images, IDFrom, IDTo and Exclude are
	// then ignored): the dissection's causal measurement passes its own
	// held-out ids.
	IDs []int64
	// Tiles adds to every painting row its success per region of the
	// tiling (InsertResult.Tiles), a map of where the concept can be painted.
	Tiles bool
	// Seed selects the regions drawn from the pool.
	Seed uint64
	// Batch is the number of probes per generator call. Default 4.
	Batch int
	// Workers is the number of inference calls in flight. Default: CPUs.
	Workers int
	// Progress receives a progress line; nil for none.
	Progress io.Writer
	Now      func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if len(c.IDs) > 0 {
		c.Images = len(c.IDs)
	}
	def(&c.Images, 40)
	def(&c.Plausible, 40)
	def(&c.Other, 12)
	def(&c.Present, 20)
	def(&c.Everywhere, 12)
	def(&c.Side, 4)
	def(&c.Batch, 4)
	def(&c.Workers, runtime.NumCPU())
	if c.MinImageShare == 0 {
		c.MinImageShare = 0.01
	}
	if c.IDFrom == 0 && c.IDTo == 0 {
		c.IDFrom, c.IDTo = EvalRange[0], EvalRange[1]
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Images < 1 || c.Plausible < 0 || c.Other < 0 || c.Present < 0 || c.Everywhere < 0 || c.Side < 1 || c.Batch < 1 || c.Workers < 1 {
		return c, fmt.Errorf("%w: images %d, plausible %d, other %d, present %d, everywhere %d, side %d, batch %d, workers %d",
			ErrBadConfig, c.Images, c.Plausible, c.Other, c.Present, c.Everywhere, c.Side, c.Batch, c.Workers)
	}
	if !(c.IDFrom >= 0 && c.IDFrom < c.IDTo && c.IDTo <= 1) {
		return c, fmt.Errorf("%w: id range [%v, %v) must lie in [0, 1]", ErrBadConfig, c.IDFrom, c.IDTo)
	}
	if !(c.MinImageShare > 0 && c.MinImageShare < 1) {
		return c, fmt.Errorf("%w: min image share %v", ErrBadConfig, c.MinImageShare)
	}
	return c, nil
}

// Id ranges, as fractions of a model's max_id (docs/efficacy.md). Recipes
// are trained on TrainRange, strength steps calibrated on CalibRange and
// the benchmark measured on EvalRange; the dissection's own samples are
// excluded from all three.
var (
	TrainRange = [2]float64{0.1, 0.2}
	CalibRange = [2]float64{0.8, 0.9}
	EvalRange  = [2]float64{0.9, 1}
)

// HeldOutIDs returns the first n ids of [⌈from·maxID⌉, ⌈to·maxID⌉) not in
// exclude.
func HeldOutIDs(maxID int64, from, to float64, n int, exclude []int64) ([]int64, error) {
	skip := make(map[int64]bool, len(exclude))
	for _, id := range exclude {
		skip[id] = true
	}
	lo, hi := ceilFrac(maxID, from), ceilFrac(maxID, to)
	var out []int64
	for id := lo; id < hi && len(out) < n; id++ {
		if !skip[id] {
			out = append(out, id)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("%w: only %d usable ids in [%d, %d), %d wanted", ErrBadConfig, len(out), lo, hi, n)
	}
	return out, nil
}

func ceilFrac(maxID int64, f float64) int64 {
	v := int64(f * float64(maxID))
	if float64(v) < f*float64(maxID) {
		v++
	}
	return min(v, maxID)
}

// Success rule (docs/efficacy.md).
const (
	SuccessShare = 0.5  // the concept covers at least this share of the region after the stroke
	SuccessRise  = 0.25 // … and this much more than before
	// EligibleBelow: a region is tried for insertion only when the concept
	// covers less than this share of it before (it is not there already).
	EligibleBelow = 0.5
	// PresentFrom: a region is erased only when the concept covers at least
	// this share of it.
	PresentFrom = 0.5
)

type probeKind uint8

const (
	probeInsert   probeKind = iota
	probeErase              // remove inside a region
	probeEraseAll           // remove everywhere
)

type probe struct {
	img   int
	brush int
	step  int
	kind  probeKind
	plaus bool
	rect  Rect
	class int
	layer string
}

// probeOut is what one edited image measured.
type probeOut struct {
	after    float64 // class share in the region (whole image for erase-all)
	ringChg  float64 // share of ring pixels whose label changed
	ringOth  float64 // … to a class other than the probe's
	farChg   float64 // share of far pixels whose label changed
	otherChg float64 // erase-all: share of pixels not of the class that changed
}

type baseImage struct {
	id    int64
	feats map[string][]float32
	seg   Seg
}

// Run measures every brush at each of its steps on held-out images and
// returns the report. Brushes of the same concept share their regions, so
// rows are paired comparisons.
func Run(ctx context.Context, m Model, brushes []Brush, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	man := m.Manifest()
	if man.Segmenter == nil {
		return nil, fmt.Errorf("%w: model %s has no segmenter", inference.ErrNoSegmenter, man.Name)
	}
	var names []string
	for _, c := range man.Segmenter.Classes {
		names = append(names, c.Name)
	}
	cls := NewClasses(names)
	layers := map[string]inference.LayerInfo{}
	for _, li := range m.Layers() {
		layers[li.Name] = li
	}
	var useLayers []string
	for _, b := range brushes {
		li, ok := layers[b.Layer]
		if !ok {
			return nil, fmt.Errorf("%w: brush %s paints at unknown layer %q", ErrBadBrush, b.Name, b.Layer)
		}
		if _, ok := cls[b.Concept]; !ok {
			return nil, fmt.Errorf("%w: brush %s: the segmenter has no class %q", ErrBadBrush, b.Name, b.Concept)
		}
		if err := b.Validate(li); err != nil {
			return nil, err
		}
		if !slices.Contains(useLayers, b.Layer) {
			useLayers = append(useLayers, b.Layer)
		}
	}
	start := cfg.Now()
	ids := slices.Clone(cfg.IDs)
	if len(ids) == 0 {
		if ids, err = HeldOutIDs(man.Z.MaxID, cfg.IDFrom, cfg.IDTo, cfg.Images, cfg.Exclude); err != nil {
			return nil, err
		}
	}
	base, err := generateBase(ctx, m, ids, useLayers, cfg)
	if err != nil {
		return nil, err
	}
	W, H := base[0].seg.W, base[0].seg.H
	regions := Tiling(W, H, cfg.Side)
	ringPx := max((regions[0].Y1-regions[0].Y0)/2, 1)

	rep := &Report{SchemaVersion: ReportVersion, Model: man.Name, IDs: ids, Settings: settingsOf(cfg, regions[0], ringPx)}
	// Plan: per concept, the regions and images every brush of it is tried on.
	concepts := []string{}
	byConcept := map[string][]int{}
	for i, b := range brushes {
		if _, ok := byConcept[b.Concept]; !ok {
			concepts = append(concepts, b.Concept)
		}
		byConcept[b.Concept] = append(byConcept[b.Concept], i)
	}
	// Report concepts in the segmenter's label order.
	sort.SliceStable(concepts, func(a, b int) bool { return cls[concepts[a]] < cls[concepts[b]] })
	var probes []probe
	plans := map[string]*conceptPlan{}
	for _, c := range concepts {
		p := planConcept(base, regions, cls, c, cfg)
		plans[c] = p
		for _, bi := range byConcept[c] {
			b := brushes[bi]
			for si := range b.Steps {
				if !b.Remove {
					for _, t := range p.insert {
						probes = append(probes, probe{img: t.img, brush: bi, step: si, kind: probeInsert, plaus: t.plausible, rect: t.rect, class: cls[c], layer: b.Layer})
					}
					continue
				}
				for _, t := range p.present {
					probes = append(probes, probe{img: t.img, brush: bi, step: si, kind: probeErase, rect: t.rect, class: cls[c], layer: b.Layer})
				}
				for _, img := range p.images {
					probes = append(probes, probe{img: img, brush: bi, step: si, kind: probeEraseAll, rect: Rect{0, 0, W, H}, class: cls[c], layer: b.Layer})
				}
			}
		}
	}
	outs, err := runProbes(ctx, m, layers, brushes, base, probes, ringPx, cfg)
	if err != nil {
		return nil, err
	}
	var tiles []Rect
	if cfg.Tiles {
		tiles = regions
	}
	rep.Concepts = aggregate(brushes, concepts, byConcept, plans, probes, outs, base, tiles)
	rep.Probes = len(probes)
	rep.Seconds = cfg.Now().Sub(start).Seconds()
	return rep, nil
}

func generateBase(ctx context.Context, m Model, ids []int64, layers []string, cfg Config) ([]baseImage, error) {
	base := make([]baseImage, len(ids))
	pr := progress.New(cfg.Progress, "efficacy: images", "images", len(ids), cfg.Now)
	for start := 0; start < len(ids); start += cfg.Batch {
		batch := ids[start:min(start+cfg.Batch, len(ids))]
		zs, err := m.ZBatch(batch)
		if err != nil {
			return nil, err
		}
		imgs, feats, err := m.Generate(ctx, zs, len(batch), layers)
		if err != nil {
			return nil, err
		}
		seg, err := m.Segment(ctx, imgs)
		if err != nil {
			return nil, err
		}
		plane := imgs.H * imgs.W
		if len(seg) != len(batch)*plane {
			return nil, fmt.Errorf("%w: %d labels for %d images", inference.ErrBadShape, len(seg), len(batch))
		}
		for i, id := range batch {
			b := baseImage{id: id, feats: map[string][]float32{}, seg: Seg{W: imgs.W, H: imgs.H, Labels: slices.Clone(seg[i*plane : (i+1)*plane])}}
			for _, l := range layers {
				f := feats[l]
				size := f.Layer.Size()
				b.feats[l] = slices.Clone(f.Data[i*size : (i+1)*size])
			}
			base[start+i] = b
		}
		pr.Add(len(batch))
	}
	pr.Finish()
	return base, nil
}

type target struct {
	img       int
	rect      Rect
	plausible bool
}

// conceptPlan holds the regions and images a concept's brushes are tried on,
// and the pool sizes the stratified estimates are weighted by.
type conceptPlan struct {
	insert        []target
	present       []target
	images        []int
	poolPlausible int // eligible regions of the pool where the rule holds
	poolOther     int
	poolPresent   int
	poolImages    int
}

// planConcept sorts every region of the pool by the concept's rule and
// draws the configured number of each kind, in an order fixed by the seed
// and the concept's name (the same for every brush of the concept).
func planConcept(base []baseImage, regions []Rect, cls Classes, concept string, cfg Config) *conceptPlan {
	rule := RuleFor(concept)
	ci := cls[concept]
	var plaus, other, present []target
	var images []int
	for i, b := range base {
		for _, r := range regions {
			before := b.seg.Share(r, ci)
			if before >= PresentFrom {
				present = append(present, target{img: i, rect: r})
			}
			if before >= EligibleBelow {
				continue
			}
			if rule.Plausible(NewContext(b.seg, r, len(cls)), cls) {
				plaus = append(plaus, target{img: i, rect: r, plausible: true})
			} else {
				other = append(other, target{img: i, rect: r})
			}
		}
		if b.seg.Share(Rect{0, 0, b.seg.W, b.seg.H}, ci) >= cfg.MinImageShare {
			images = append(images, i)
		}
	}
	h := fnv.New64a()
	h.Write([]byte(concept))
	rng := splitmix.New(cfg.Seed ^ h.Sum64())
	p := &conceptPlan{poolPlausible: len(plaus), poolOther: len(other), poolPresent: len(present), poolImages: len(images)}
	p.insert = append(draw(rng, plaus, cfg.Plausible), draw(rng, other, cfg.Other)...)
	p.present = draw(rng, present, cfg.Present)
	p.images = draw(rng, images, cfg.Everywhere)
	return p
}

// draw returns k elements of xs chosen without replacement (all of them
// when there are at most k), in their original order.
func draw[T any](rng *splitmix.Stream, xs []T, k int) []T {
	if len(xs) <= k {
		return xs
	}
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	for i := 0; i < k; i++ {
		j := i + int(rng.Next()%uint64(len(idx)-i))
		idx[i], idx[j] = idx[j], idx[i]
	}
	pick := idx[:k]
	sort.Ints(pick)
	out := make([]T, k)
	for i, j := range pick {
		out[i] = xs[j]
	}
	return out
}

// runProbes edits, finishes and segments every probe, Batch probes of one
// layer per generator call, Workers calls at once.
func runProbes(ctx context.Context, m Model, layers map[string]inference.LayerInfo, brushes []Brush, base []baseImage, probes []probe, ringPx int, cfg Config) ([]probeOut, error) {
	order := make([]int, len(probes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return probes[order[a]].layer < probes[order[b]].layer })
	var batches [][]int
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && j-i < cfg.Batch && probes[order[j]].layer == probes[order[i]].layer {
			j++
		}
		batches = append(batches, order[i:j])
		i = j
	}
	outs := make([]probeOut, len(probes))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []int)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
	)
	pr := progress.New(cfg.Progress, "efficacy: probes", "probes", len(probes), cfg.Now)
	fail := func(err error) {
		mu.Lock()
		if firstEr == nil {
			firstEr = err
			cancel()
		}
		mu.Unlock()
	}
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				if err := runBatch(ctx, m, layers[probes[batch[0]].layer], brushes, base, probes, batch, outs, ringPx); err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				pr.Add(len(batch))
				mu.Unlock()
			}
		}()
	}
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if firstEr != nil {
		return nil, firstEr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pr.Finish()
	return outs, nil
}

func runBatch(ctx context.Context, m Model, li inference.LayerInfo, brushes []Brush, base []baseImage, probes []probe, batch []int, outs []probeOut, ringPx int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	size := li.Size()
	f := &inference.Features{Layer: li, N: len(batch), Data: make([]float32, len(batch)*size)}
	W, H := base[0].seg.W, base[0].seg.H
	for j, pi := range batch {
		p := probes[pi]
		b := brushes[p.brush]
		one := &inference.Features{Layer: li, N: 1, Data: f.Data[j*size : (j+1)*size]}
		copy(one.Data, base[p.img].feats[li.Name])
		mask := inference.RectMask(W, H, p.rect.X0, p.rect.Y0, p.rect.X1, p.rect.Y1)
		if err := inference.ApplyEdits(one, one, []inference.Edit{b.Edit(b.Steps[p.step].Strength, mask)}, b.Levels, inference.PoolMax); err != nil {
			return fmt.Errorf("brush %s: %w", b.Name, err)
		}
	}
	imgs, err := m.Tail(ctx, f)
	if err != nil {
		return err
	}
	seg, err := m.Segment(ctx, imgs)
	if err != nil {
		return err
	}
	plane := W * H
	if imgs.W != W || imgs.H != H || len(seg) != len(batch)*plane {
		return fmt.Errorf("%w: tail gave %d labels of %dx%d for %d probes", inference.ErrBadShape, len(seg), imgs.W, imgs.H, len(batch))
	}
	for j, pi := range batch {
		p := probes[pi]
		outs[pi] = measure(base[p.img].seg, Seg{W: W, H: H, Labels: seg[j*plane : (j+1)*plane]}, p, ringPx)
	}
	return nil
}

// measure compares the edited image's labels with the unedited ones.
func measure(before, after Seg, p probe, ringPx int) probeOut {
	var o probeOut
	if p.kind == probeEraseAll {
		n, other, chg := 0, 0, 0
		for i, v := range after.Labels {
			if int(v) == p.class {
				n++
			}
			if int(before.Labels[i]) != p.class {
				other++
				if v != before.Labels[i] {
					chg++
				}
			}
		}
		o.after = float64(n) / float64(len(after.Labels))
		if other > 0 {
			o.otherChg = float64(chg) / float64(other)
		}
		return o
	}
	o.after = after.Share(p.rect, p.class)
	grown := Rect{p.rect.X0 - ringPx, p.rect.Y0 - ringPx, p.rect.X1 + ringPx, p.rect.Y1 + ringPx}
	ring, ringChg, ringOth, far, farChg := 0, 0, 0, 0, 0
	for y := 0; y < after.H; y++ {
		for x := 0; x < after.W; x++ {
			if p.rect.contains(x, y) {
				continue
			}
			i := y*after.W + x
			chg := after.Labels[i] != before.Labels[i]
			if grown.contains(x, y) {
				ring++
				if chg {
					ringChg++
					if int(after.Labels[i]) != p.class {
						ringOth++
					}
				}
			} else {
				far++
				if chg {
					farChg++
				}
			}
		}
	}
	if ring > 0 {
		o.ringChg = float64(ringChg) / float64(ring)
		o.ringOth = float64(ringOth) / float64(ring)
	}
	if far > 0 {
		o.farChg = float64(farChg) / float64(far)
	}
	return o
}
