package dissection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/progress"
	"github.com/ganpaint-go/ganpaint/internal/splitmix"
)

// Generator is what dissection needs from a model; *inference.Model
// satisfies it, tests use a fake.
type Generator interface {
	Manifest() inference.Manifest
	Layers() []inference.LayerInfo
	ZBatch(ids []int64) ([]float32, error)
	Head(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error)
	Tail(ctx context.Context, f *inference.Features) (*inference.Images, error)
	Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
	Segment(ctx context.Context, imgs *inference.Images) ([]uint8, error)
}

// Threshold methods.
const (
	MethodQuantile = "quantile" // fixed top quantile (Config.Quantile)
	MethodIQR      = "iqr"      // the reference's IQR-maximising level
)

// Sources of MethodIQR's candidate levels (Config.Candidates).
const (
	CandidatesUpsampled = "upsampled"
	CandidatesNative    = "native"
)

// NoBackground as Config.Background dissects every class, even one the
// model declares as background.
const NoBackground = "none"

// ErrBadConfig reports an invalid Config (for example samples ≤ 0).
var ErrBadConfig = errors.New("dissection: bad configuration")

// Config controls a dissection. Zero fields take the documented defaults.
type Config struct {
	// Layers to dissect (required), e.g. ["layer4", "layer6"].
	Layers []string
	// Samples is the number of generated images (required, > 0).
	Samples int
	// Seed selects the image ids (see SampleIDs). Default 0.
	Seed int64
	// Method is MethodQuantile (default) or MethodIQR.
	Method string
	// Quantile is the fixed threshold quantile of MethodQuantile. Default 0.99.
	Quantile float64
	// LevelQuantile gives each unit's "add" level. Default 0.99.
	LevelQuantile float64
	// IoUThreshold and IQRThreshold make a unit interpretable when its IoU
	// and IQR with its best label both exceed them. Defaults 0.05 and 0.01
	// (the reference's); set IQRThreshold negative to ignore the IQR.
	IoUThreshold float64
	IQRThreshold float64
	// TopK is how many top image ids to keep per unit. Default 12.
	TopK int
	// Batch is the number of images per inference call. Default 8.
	Batch int
	// InFlight is how many inference calls run at once. Default
	// runtime.NumCPU() (one per inference worker).
	InFlight int
	// Workers is the size of the pool that tallies statistics. Default
	// runtime.NumCPU().
	Workers int
	// SketchK is the quantile sketch resolution. Default DefaultSketchK.
	SketchK int
	// IQRLevels is the number of candidate levels of MethodIQR. Default 100.
	IQRLevels int
	// Candidates says where MethodIQR's candidate levels come from:
	// CandidatesUpsampled (default, as the reference: quantiles of the
	// activations upsampled to the segmentation) or CandidatesNative
	// (quantiles of the activations at the layer's own resolution).
	Candidates string
	// Background names a segmentation class that is never a unit's label
	// and gets no ranking, as the reference skips label 0; its pixels still
	// count as "not the other classes". Default: the segmenter's declared
	// background (docs/model-format.md); NoBackground for none.
	Background string
	// Causal configures the causal-effect measurement.
	Causal CausalConfig
	// Progress receives the progress bar; nil draws none.
	Progress io.Writer
	// Logger receives summaries. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the progress bar. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Layers) == 0 {
		return c, fmt.Errorf("%w: no layers given", ErrBadConfig)
	}
	if c.Samples <= 0 {
		return c, fmt.Errorf("%w: samples must be > 0 (got %d)", ErrBadConfig, c.Samples)
	}
	if c.Method == "" {
		c.Method = MethodQuantile
	}
	if c.Method != MethodQuantile && c.Method != MethodIQR {
		return c, fmt.Errorf("%w: threshold method %q (want %q or %q)", ErrBadConfig, c.Method, MethodQuantile, MethodIQR)
	}
	if c.Candidates == "" {
		c.Candidates = CandidatesUpsampled
	}
	if c.Candidates != CandidatesUpsampled && c.Candidates != CandidatesNative {
		return c, fmt.Errorf("%w: candidate levels from %q (want %q or %q)", ErrBadConfig, c.Candidates, CandidatesUpsampled, CandidatesNative)
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Quantile, 0.99)
	def(&c.LevelQuantile, 0.99)
	def(&c.IoUThreshold, 0.05)
	def(&c.IQRThreshold, 0.01)
	for _, q := range []float64{c.Quantile, c.LevelQuantile} {
		if !(q > 0 && q < 1) {
			return c, fmt.Errorf("%w: quantile %v must be in (0,1)", ErrBadConfig, q)
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&c.TopK, 12)
	defInt(&c.Batch, 8)
	defInt(&c.InFlight, runtime.NumCPU())
	defInt(&c.Workers, runtime.NumCPU())
	defInt(&c.SketchK, DefaultSketchK)
	defInt(&c.IQRLevels, 100)
	if c.TopK < 0 || c.Batch < 0 || c.Batch > inference.MaxBatch || c.InFlight < 0 || c.Workers < 0 || c.IQRLevels < 2 {
		return c, fmt.Errorf("%w: top-k %d, batch %d (max %d), in-flight %d, workers %d, iqr levels %d",
			ErrBadConfig, c.TopK, c.Batch, inference.MaxBatch, c.InFlight, c.Workers, c.IQRLevels)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var err error
	c.Causal, err = c.Causal.withDefaults()
	return c, err
}

// SampleIDs returns n distinct image ids in [0, maxID) drawn from a
// splitmix64 stream started at seed; the first n of a longer call are the
// same ids, so the causal samples (drawn after the dissection samples) never
// overlap them.
func SampleIDs(seed int64, n int, maxID int64) ([]int64, error) {
	if n < 0 || maxID <= 0 || int64(n) > maxID {
		return nil, fmt.Errorf("%w: cannot draw %d distinct ids below max_id %d", ErrBadConfig, n, maxID)
	}
	rng := splitmix.New(uint64(seed))
	seen := make(map[int64]bool, n)
	ids := make([]int64, 0, n)
	for len(ids) < n {
		id := int64(rng.Next() % uint64(maxID))
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// layerAcc accumulates one layer's statistics over both passes.
type layerAcc struct {
	info     inference.LayerInfo
	sketches []*Sketch
	tops     []topK

	// pass 2
	patches   patchIndex
	thr       []float32   // MethodQuantile: per-unit threshold
	levels    [][]float32 // MethodIQR: per-unit candidate levels, ascending
	levelQ    []float64   // native candidates: the quantile of each level (same order)
	probes    [][]float32 // upsampled candidates: per-unit native quantiles probed in pass 1b
	upCounts  []int64     // units × (probes+1): upsampled pixels binned by the probes
	upTotal   int64       // upsampled pixels per unit seen in pass 1b
	probeIdx  *probePatches
	inter     []int64   // units × classes (MethodQuantile)
	above     []int64   // units (MethodQuantile)
	hist      []int64   // units × classes × (levels+1) (MethodIQR)
	unitLevel []float32 // per-unit "add" level
	table     *QuantileTable
}

// Dissect measures every unit of cfg.Layers against the model's segmenter.
// The result is not saved; call Save. Causal effects are measured too when
// cfg.Causal selects the layer (see CausalConfig).
func Dissect(ctx context.Context, g Generator, cfg Config) (*Results, error) {
	p, err := newPlan(g, cfg)
	if err != nil {
		return nil, err
	}
	if err := p.pass1(ctx, g, p.ids); err != nil {
		return nil, err
	}
	if err := p.prepare(); err != nil {
		return nil, err
	}
	if p.upsampled {
		if err := p.passUpsampled(ctx, g, p.ids); err != nil {
			return nil, err
		}
		p.levelsFromProbes()
	}
	c, err := p.pass2(ctx, g, p.ids)
	if err != nil {
		return nil, err
	}
	res := p.finish(c)
	if err := p.measureCausal(ctx, g, res); err != nil {
		return nil, err
	}
	return res, nil
}

// plan is one dissection's set-up: the layers' accumulators, the classes
// and the sample ids. A whole run and the shards of a sharded run (shard.go)
// go through the same steps.
type plan struct {
	cfg        Config
	man        inference.Manifest
	classNames []string
	bg         int // the background class, or -1
	accs       []*layerAcc
	layerNames []string
	ids        []int64
	fracs      []float64
	// upsampled: MethodIQR takes its candidate levels from the upsampled
	// activations, which costs a pass between passes 1 and 2 (upsampled.go).
	upsampled bool
	passes    int
}

// counts are pass 2's label statistics; the per-unit counts live in the
// layer accumulators.
type counts struct {
	labels     []int64
	total      int64
	segH, segW int
}

func newPlan(g Generator, cfg Config) (*plan, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	man := g.Manifest()
	if man.Segmenter == nil || len(man.Segmenter.Classes) == 0 {
		return nil, fmt.Errorf("%w: model %q has no segmenter; dissection needs one (docs/model-format.md)", inference.ErrNoSegmenter, man.Name)
	}
	if len(man.Segmenter.Classes) > 256 {
		return nil, fmt.Errorf("%w: %d classes (at most 256)", ErrBadConfig, len(man.Segmenter.Classes))
	}
	p := &plan{cfg: cfg, man: man, classNames: make([]string, len(man.Segmenter.Classes)), fracs: IQRFractions(cfg.IQRLevels),
		upsampled: cfg.Method == MethodIQR && cfg.Candidates == CandidatesUpsampled, passes: 2}
	if p.upsampled {
		p.passes = 3
	}
	for i, c := range man.Segmenter.Classes {
		p.classNames[i] = c.Name
	}
	if p.bg, err = backgroundClass(cfg.Background, man.Segmenter, p.classNames); err != nil {
		return nil, err
	}
	all := g.Layers()
	byName := map[string]inference.LayerInfo{}
	names := make([]string, len(all))
	for i, l := range all {
		byName[l.Name] = l
		names[i] = l.Name
	}
	seenLayer := map[string]bool{}
	for _, name := range cfg.Layers {
		li, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%w (%w): %q (model %s has %s)", ErrUnknownLayer, inference.ErrUnknownLayer, name, man.Name, strings.Join(names, ", "))
		}
		if seenLayer[name] {
			continue
		}
		seenLayer[name] = true
		a := &layerAcc{info: li, sketches: make([]*Sketch, li.Channels), tops: make([]topK, li.Channels)}
		tail := tailSize(cfg, int64(cfg.Samples)*int64(li.Height*li.Width))
		for u := range a.sketches {
			a.sketches[u] = NewTailSketch(cfg.SketchK, tail)
			a.tops[u].k = cfg.TopK
		}
		p.accs = append(p.accs, a)
		p.layerNames = append(p.layerNames, li.Name)
	}
	// Mistakes in the causal settings surface now, not after the long passes.
	if err := checkCausal(cfg, p.classNames, cfg.Layers, man, p.bg); err != nil {
		return nil, err
	}
	if p.ids, err = SampleIDs(cfg.Seed, cfg.Samples, man.Z.MaxID); err != nil {
		return nil, err
	}
	return p, nil
}

// pass1 adds ids to the per-unit quantiles and top images, from the layer
// activations alone (Head), which is much cheaper than full generation.
func (p *plan) pass1(ctx context.Context, g Generator, ids []int64) error {
	cfg := p.cfg
	p1 := progress.New(cfg.Progress, fmt.Sprintf("pass 1/%d quantiles", p.passes), "samples", len(ids), cfg.Now)
	err := pipeline(ctx, ids, cfg.Batch, cfg.InFlight,
		func(ctx context.Context, batch []int64) ([]*inference.Features, error) {
			return heads(ctx, g, p.accs, batch)
		},
		func(batch []int64, fs []*inference.Features) error {
			for i, a := range p.accs {
				a.addPass1(fs[i].Data, batch, cfg.Workers)
			}
			p1.Add(len(batch))
			return nil
		})
	if err != nil {
		return err
	}
	p1.Finish()
	return nil
}

// heads runs the generator up to each accumulator's layer for the images
// of batch, the generator-only passes' work.
func heads(ctx context.Context, g Generator, accs []*layerAcc, batch []int64) ([]*inference.Features, error) {
	zs, err := g.ZBatch(batch)
	if err != nil {
		return nil, err
	}
	out := make([]*inference.Features, len(accs))
	for i, a := range accs {
		f, err := g.Head(ctx, a.info.Name, zs, len(batch))
		if err != nil {
			return nil, err
		}
		if err := checkFeatures(f, a.info, len(batch)); err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// prepare turns every layer's sketches into thresholds or levels.
func (p *plan) prepare() error {
	for _, a := range p.accs {
		if err := a.prepare(p.cfg, p.fracs); err != nil {
			return err
		}
	}
	return nil
}

// pass2 generates and segments ids and counts, per unit and class, the
// pixels above the thresholds.
func (p *plan) pass2(ctx context.Context, g Generator, ids []int64) (*counts, error) {
	cfg := p.cfg
	classes := len(p.classNames)
	c := &counts{labels: make([]int64, classes)}
	type genOut struct {
		feats map[string]*inference.Features
		seg   []uint8
		h, w  int
	}
	p2 := progress.New(cfg.Progress, fmt.Sprintf("pass %d/%d IoU", p.passes, p.passes), "samples", len(ids), cfg.Now)
	err := pipeline(ctx, ids, cfg.Batch, cfg.InFlight,
		func(ctx context.Context, batch []int64) (genOut, error) {
			zs, err := g.ZBatch(batch)
			if err != nil {
				return genOut{}, err
			}
			imgs, feats, err := g.Generate(ctx, zs, len(batch), p.layerNames)
			if err != nil {
				return genOut{}, err
			}
			for _, a := range p.accs {
				if err := checkFeatures(feats[a.info.Name], a.info, len(batch)); err != nil {
					return genOut{}, err
				}
			}
			seg, err := g.Segment(ctx, imgs)
			if err != nil {
				return genOut{}, err
			}
			if len(seg) != len(batch)*imgs.H*imgs.W || imgs.H <= 0 || imgs.W <= 0 {
				return genOut{}, fmt.Errorf("%w: segmenter returned %d labels for %d images of %dx%d", inference.ErrBadShape, len(seg), len(batch), imgs.W, imgs.H)
			}
			return genOut{feats, seg, imgs.H, imgs.W}, nil
		},
		func(batch []int64, o genOut) error {
			if c.segH == 0 {
				c.segH, c.segW = o.h, o.w
				if p.upsampled && (c.segH != p.man.Image.Height || c.segW != p.man.Image.Width) {
					return fmt.Errorf("%w: the segmentation is %dx%d, not the image size %dx%d; use native candidate levels", inference.ErrBadShape, c.segW, c.segH, p.man.Image.Width, p.man.Image.Height)
				}
				for _, a := range p.accs {
					if err := a.allocPass2(cfg, classes, c.segH, c.segW); err != nil {
						return err
					}
				}
			}
			if o.h != c.segH || o.w != c.segW {
				return fmt.Errorf("%w: segmentation size changed from %dx%d to %dx%d", inference.ErrBadShape, c.segW, c.segH, o.w, o.h)
			}
			plane := c.segH * c.segW
			for i := 0; i < len(batch); i++ {
				for _, k := range o.seg[i*plane : (i+1)*plane] {
					if int(k) >= classes {
						return fmt.Errorf("%w: segmenter label %d but %d classes", inference.ErrBadShape, k, classes)
					}
					c.labels[k]++
				}
			}
			c.total += int64(len(batch) * plane)
			for _, a := range p.accs {
				if err := a.addPass2(cfg, o.feats[a.info.Name].Data, o.seg, len(batch)); err != nil {
					return err
				}
			}
			p2.Add(len(batch))
			return nil
		})
	if err != nil {
		return nil, err
	}
	p2.Finish()
	return c, nil
}

// finish scores every unit from the counts.
func (p *plan) finish(c *counts) *Results {
	res := &Results{Model: p.man.Name, Layers: map[string]*Layer{}}
	for _, a := range p.accs {
		l := a.finish(p.cfg, p.man.Name, p.classNames, p.bg, c.labels, c.total, c.segH, c.segW)
		res.Layers[l.Layer] = l
		k, m := l.Summary()
		p.cfg.Logger.Info("dissected", "layer", l.Layer, "interpretable", k, "units", len(l.Units), "concepts", m)
	}
	return res
}

// measureCausal adds causal effects to the layers cfg.Causal selects.
func (p *plan) measureCausal(ctx context.Context, g Generator, res *Results) error {
	for _, a := range p.accs {
		if !p.cfg.Causal.wants(a.info.Name, p.man.DefaultLayer, p.layerNames) {
			continue
		}
		l := res.Layers[a.info.Name]
		causal, err := MeasureCausal(ctx, g, l, p.cfg)
		if err != nil {
			return err
		}
		l.Causal = causal
	}
	return nil
}

// backgroundClass resolves Config.Background against the segmenter: the
// index of the class dissection skips, or -1.
func backgroundClass(name string, seg *inference.SegmenterSpec, classNames []string) (int, error) {
	switch name {
	case NoBackground:
		return -1, nil
	case "":
		name = seg.Background
		if name == "" {
			return -1, nil
		}
	}
	i := slices.Index(classNames, name)
	if i < 0 {
		return -1, fmt.Errorf("%w: background %q (classes: %s)", ErrUnknownConcept, name, strings.Join(classNames, ", "))
	}
	if len(classNames) < 2 {
		return -1, fmt.Errorf("%w: the background %q is the only class", ErrBadConfig, name)
	}
	return i, nil
}

func checkCausal(cfg Config, classNames, layers []string, man inference.Manifest, bg int) error {
	cc := cfg.Causal
	if cc.Samples < 0 {
		return nil
	}
	for _, l := range cc.Layers {
		if !slices.Contains(layers, l) {
			return fmt.Errorf("%w: causal layer %q is not among the dissected layers %v", ErrBadConfig, l, layers)
		}
	}
	for _, c := range cc.Classes {
		if !slices.Contains(classNames, c) {
			return fmt.Errorf("%w: causal class %q (classes: %s)", ErrUnknownConcept, c, strings.Join(classNames, ", "))
		}
		if bg >= 0 && c == classNames[bg] {
			return fmt.Errorf("%w: causal class %q is the background, which has no ranking", ErrBadConfig, c)
		}
	}
	if int64(cfg.Samples)+int64(cc.Samples) > man.Z.MaxID {
		return fmt.Errorf("%w: %d dissection + %d causal samples exceed max_id %d", ErrBadConfig, cfg.Samples, cc.Samples, man.Z.MaxID)
	}
	return nil
}

// MaxExactTail caps the per-unit exact tail of the quantile sketches.
const MaxExactTail = 1 << 17

// tailSize is the number of largest values each unit's sketch keeps
// exactly: twice the mass above the lower of the threshold and level
// quantiles, so both are exact order statistics (a plain sketch's ±0.5% rank
// error would be ±50% of a top-1% tail, and IoU at that threshold is
// sensitive to it). Capped at MaxExactTail values per unit.
func tailSize(cfg Config, n int64) int {
	q := cfg.LevelQuantile
	if cfg.Method == MethodQuantile {
		q = min(q, cfg.Quantile)
	}
	t := int64(math.Ceil(2*(1-q)*float64(n))) + 16
	return int(min(t, n, MaxExactTail))
}

func checkFeatures(f *inference.Features, li inference.LayerInfo, n int) error {
	if f == nil || f.N != n || len(f.Data) != n*li.Channels*li.Height*li.Width {
		got := 0
		if f != nil {
			got = len(f.Data)
		}
		return fmt.Errorf("%w: %s activations have %d values, want %d×%d×%d×%d", inference.ErrBadShape, li.Name, got, n, li.Channels, li.Height, li.Width)
	}
	return nil
}

func (a *layerAcc) addPass1(data []float32, ids []int64, workers int) {
	hw := a.info.Height * a.info.Width
	c := a.info.Channels
	parallelFor(c, workers, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			for i, id := range ids {
				vals := data[(i*c+u)*hw : (i*c+u+1)*hw]
				a.sketches[u].AddSlice(vals)
				m := float32(math.Inf(-1))
				for _, v := range vals {
					m = max(m, v)
				}
				a.tops[u].add(id, m)
			}
		}
	})
}

// prepare turns the sketches into thresholds or candidate levels.
func (a *layerAcc) prepare(cfg Config, fracs []float64) error {
	c := a.info.Channels
	a.unitLevel = make([]float32, c)
	grid := QuantileGrid()
	a.table = &QuantileTable{Q: grid, Values: make([][]float32, c)}
	qs := append([]float64{cfg.LevelQuantile, cfg.Quantile}, grid...)
	if cfg.Method == MethodIQR {
		levelQ := make([]float64, len(fracs))
		for j := range fracs {
			levelQ[j] = 1 - fracs[len(fracs)-1-j]
		}
		qs = append(qs, levelQ...)
		if cfg.Candidates == CandidatesNative {
			a.levelQ = levelQ
			a.levels = make([][]float32, c)
		} else {
			// The same native quantiles, plus the maximum, are the probes
			// the upsampled activations are binned by in pass 1b.
			qs = append(qs, 1)
			a.probes = make([][]float32, c)
		}
	} else {
		a.thr = make([]float32, c)
	}
	for u := 0; u < c; u++ {
		v, err := a.sketches[u].Quantiles(qs)
		if err != nil {
			return fmt.Errorf("%s unit %d: %w", a.info.Name, u, err)
		}
		a.unitLevel[u] = v[0]
		a.table.Values[u] = slices.Clone(v[2 : 2+len(grid)])
		if cfg.Method == MethodIQR {
			// Quantiles of a sketch are monotone in q, so levels come out
			// ascending; sort anyway to keep binOf's precondition explicit.
			lv := v[2+len(grid):]
			slices.Sort(lv)
			if a.probes != nil {
				a.probes[u] = lv
			} else {
				a.levels[u] = lv
			}
		} else {
			a.thr[u] = v[1]
		}
	}
	a.sketches = nil
	return nil
}

func (a *layerAcc) allocPass2(cfg Config, classes, segH, segW int) error {
	up, err := NewUpsampler(a.info.Height, a.info.Width, segH, segW)
	if err != nil {
		return err
	}
	a.patches = patchIndex{up: up, classes: classes}
	c := a.info.Channels
	if cfg.Method == MethodIQR {
		a.hist = make([]int64, c*classes*(cfg.IQRLevels+1))
	} else {
		a.inter = make([]int64, c*classes)
		a.above = make([]int64, c)
	}
	return nil
}

func (a *layerAcc) addPass2(cfg Config, data []float32, seg []uint8, n int) error {
	classes := a.patches.classes
	np := a.patches.numPatches()
	plane := a.patches.up.H * a.patches.up.W
	hists := make([]int32, n*np*classes)
	errs := make([]error, n)
	parallelFor(n, cfg.Workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			errs[i] = a.patches.fillHist(hists[i*np*classes:(i+1)*np*classes], seg[i*plane:(i+1)*plane])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	hw := a.info.Height * a.info.Width
	c := a.info.Channels
	nb := cfg.IQRLevels + 1
	parallelFor(c, cfg.Workers, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			for i := 0; i < n; i++ {
				act := data[(i*c+u)*hw : (i*c+u+1)*hw]
				s := seg[i*plane : (i+1)*plane]
				h := hists[i*np*classes : (i+1)*np*classes]
				if cfg.Method == MethodIQR {
					a.patches.tallyHist(act, a.levels[u], s, h, a.hist[u*classes*nb:(u+1)*classes*nb])
				} else {
					a.patches.tallyThreshold(act, a.thr[u], s, h, a.inter[u*classes:(u+1)*classes], &a.above[u])
				}
			}
		}
	})
	return nil
}

func (a *layerAcc) finish(cfg Config, model string, classNames []string, bg int, labels []int64, total int64, segH, segW int) *Layer {
	classes := len(classNames)
	c := a.info.Channels
	l := &Layer{
		SchemaVersion: SchemaVersion, Model: model, Layer: a.info.Name,
		Channels: c, Height: a.info.Height, Width: a.info.Width,
		Samples: cfg.Samples, Seed: cfg.Seed, SegHeight: segH, SegWidth: segW,
		ThresholdMethod: cfg.Method, LevelQuantile: cfg.LevelQuantile,
		IoUThreshold: cfg.IoUThreshold, IQRThreshold: cfg.IQRThreshold,
		ClassNames: slices.Clone(classNames), ClassShare: make([]float64, classes),
		Units: make([]Unit, c), Rankings: map[string][]int{}, Quantiles: a.table,
	}
	if cfg.Method == MethodQuantile {
		l.Quantile = cfg.Quantile
	} else {
		l.Candidates = cfg.Candidates
	}
	if bg >= 0 {
		l.Background = classNames[bg]
	}
	for k := range labels {
		if total > 0 {
			l.ClassShare[k] = float64(labels[k]) / float64(total)
		}
	}
	nb := cfg.IQRLevels + 1
	for u := 0; u < c; u++ {
		var inter []int64
		var above int64
		rec := Unit{Unit: u, Level: a.unitLevel[u], TopIDs: slices.Clone(a.tops[u].ids), TopActs: slices.Clone(a.tops[u].acts)}
		if rec.TopIDs == nil {
			rec.TopIDs, rec.TopActs = []int64{}, []float32{}
		}
		best := 0
		var iqrVal float64
		if cfg.Method == MethodIQR {
			h := a.hist[u*classes*nb : (u+1)*classes*nb]
			ch := chooseIQR(h, a.levels[u], labels, total, bg)
			inter, above = countsAt(h, nb, classes, ch.bin)
			best, iqrVal = ch.class, ch.iqr
			rec.Threshold = a.levels[u][ch.bin]
			if a.levelQ != nil {
				rec.ThresholdQuantile = a.levelQ[ch.bin]
			} else if total > 0 {
				// The share of upsampled pixels at or below the threshold.
				rec.ThresholdQuantile = 1 - float64(above)/float64(total)
			}
		} else {
			inter, above = a.inter[u*classes:(u+1)*classes], a.above[u]
			rec.Threshold, rec.ThresholdQuantile = a.thr[u], cfg.Quantile
		}
		rec.ClassIoU = make([]float64, classes)
		for k := 0; k < classes; k++ {
			rec.ClassIoU[k] = iou(inter[k], above, labels[k])
		}
		if cfg.Method == MethodQuantile {
			best = firstClass(classes, bg)
			for k := best + 1; k < classes; k++ {
				if k != bg && rec.ClassIoU[k] > rec.ClassIoU[best] {
					best = k
				}
			}
			if total > 0 {
				iqrVal = makeTable(inter[best], above, labels[best], total).iqr()
			}
		}
		rec.Label = classNames[best]
		rec.IoU = rec.ClassIoU[best]
		rec.IQR = iqrVal
		rec.Interpretable = rec.IoU > cfg.IoUThreshold && (cfg.IQRThreshold < 0 || rec.IQR > cfg.IQRThreshold)
		l.Units[u] = rec
	}
	scores := make([]float64, c)
	for k, name := range classNames {
		if k == bg {
			continue
		}
		for u := range scores {
			scores[u] = l.Units[u].ClassIoU[k]
		}
		l.Rankings[name] = rankUnits(scores)
	}
	return l
}

// firstClass is the first class that is not the background.
func firstClass(classes, bg int) int {
	if bg == 0 && classes > 1 {
		return 1
	}
	return 0
}
