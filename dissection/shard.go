package dissection

import (
	"compress/gzip"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
)

// A sharded dissection splits the samples over n processes (a Kubernetes
// Indexed Job, or local processes) in two rounds, because pass 2 needs the
// thresholds that pass 1 measures over all samples:
//
//	round 1: DissectQuantiles on shard i of n  → QuantilePart (sketches, top images)
//	         MergeQuantiles(parts)             → Thresholds
//	round 2: DissectCounts on shard i of n     → CountPart (pixel counts)
//	         MergeCounts(thresholds, parts)    → Results (then causal effects and Save)
//
// MethodIQR with upsampled candidate levels (the default) needs a round in
// between, as a single run needs pass 1b: MergeQuantiles then gives
// thresholds that hold each unit's probes (native quantiles) but no levels
// yet (Thresholds.NeedsUpsampled), and
//
//	round 1b: DissectUpsampled on shard i of n     → UpsampledPart (upsampled pixels binned by the probes)
//	          MergeUpsampled(thresholds, parts)    → Thresholds with the candidate levels
//
// Those bin counts add up exactly over shards, so given the same probes the
// levels are the single run's.
//
// Shard i takes the sample ids at positions i, i+n, i+2n, … of the run's id
// list. The quantile sketches merge with the error the sketch states; the
// exact tail they keep covers the thresholds of MethodQuantile and the add
// levels, which therefore equal a single run's exactly, and so do all the
// pixel counts given the same thresholds. MethodIQR's lower candidate levels
// come from the sketch body and agree with a single run's within its rank
// error. Part files are gzip-compressed gob, read and written only by this
// package (PartVersion).

// PartVersion is the version of the part files' layout.
const PartVersion = 2

// ErrBadPart reports a part file that does not belong to the run or is
// missing, repeated or malformed.
var ErrBadPart = errors.New("dissection: bad shard part")

// Shard is part Index of Count (0 ≤ Index < Count).
type Shard struct{ Index, Count int }

func (s Shard) check() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("%w: shard %d/%d (want i/n with 0 ≤ i < n)", ErrBadConfig, s.Index, s.Count)
	}
	return nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ids picks the shard's share of all.
func (s Shard) ids(all []int64) []int64 {
	var out []int64
	for j := s.Index; j < len(all); j += s.Count {
		out = append(out, all[j])
	}
	return out
}

// RunSpec is what every part of one sharded run must agree on: the model,
// its layers and classes, and the settings that change the numbers.
type RunSpec struct {
	Model         string
	Layers        []inference.LayerInfo
	ClassNames    []string
	Samples       int
	Seed          int64
	Method        string
	Quantile      float64
	LevelQuantile float64
	IoUThreshold  float64
	IQRThreshold  float64
	TopK          int
	SketchK       int
	IQRLevels     int
	// Candidates is Config.Candidates; Background is the background class
	// as resolved against the segmenter (NoBackground for none), so that a
	// merge scores the units as the shards' model declared.
	Candidates string
	Background string
	Causal     CausalConfig
}

func (p *plan) spec() RunSpec {
	c := p.cfg
	s := RunSpec{Model: p.man.Name, ClassNames: slices.Clone(p.classNames), Samples: c.Samples, Seed: c.Seed,
		Method: c.Method, Quantile: c.Quantile, LevelQuantile: c.LevelQuantile, IoUThreshold: c.IoUThreshold,
		IQRThreshold: c.IQRThreshold, TopK: c.TopK, SketchK: c.SketchK, IQRLevels: c.IQRLevels, Causal: c.Causal,
		Candidates: c.Candidates, Background: NoBackground}
	if p.bg >= 0 {
		s.Background = p.classNames[p.bg]
	}
	for _, a := range p.accs {
		s.Layers = append(s.Layers, a.info)
	}
	return s
}

func (s RunSpec) equal(o RunSpec) bool {
	return s.Model == o.Model && slices.Equal(s.Layers, o.Layers) && slices.Equal(s.ClassNames, o.ClassNames) &&
		s.Samples == o.Samples && s.Seed == o.Seed && s.Method == o.Method && s.Quantile == o.Quantile &&
		s.LevelQuantile == o.LevelQuantile && s.IoUThreshold == o.IoUThreshold && s.IQRThreshold == o.IQRThreshold &&
		s.TopK == o.TopK && s.SketchK == o.SketchK && s.IQRLevels == o.IQRLevels &&
		s.Candidates == o.Candidates && s.Background == o.Background
}

// config turns a spec back into a Config for the steps that need one;
// the machine-local fields (workers, progress, logger) come from local.
func (s RunSpec) config(local Config) Config {
	c := local
	c.Layers = nil
	for _, l := range s.Layers {
		c.Layers = append(c.Layers, l.Name)
	}
	c.Samples, c.Seed, c.Method, c.Quantile, c.LevelQuantile = s.Samples, s.Seed, s.Method, s.Quantile, s.LevelQuantile
	c.IoUThreshold, c.IQRThreshold, c.TopK, c.SketchK, c.IQRLevels, c.Causal = s.IoUThreshold, s.IQRThreshold, s.TopK, s.SketchK, s.IQRLevels, s.Causal
	c.Candidates, c.Background = s.Candidates, s.Background
	return c
}

// QuantilePart is round 1's output of one shard.
type QuantilePart struct {
	Version int
	Spec    RunSpec
	Shard   Shard
	// Layers[i] belongs to Spec.Layers[i]; one entry per unit.
	Layers []QuantileLayer
}

// QuantileLayer holds one layer's per-unit sketches and top images.
type QuantileLayer struct {
	Sketches []*Sketch
	TopIDs   [][]int64
	TopActs  [][]float32
}

// DissectQuantiles runs pass 1 on the shard's samples.
func DissectQuantiles(ctx context.Context, g Generator, cfg Config, shard Shard) (*QuantilePart, error) {
	if err := shard.check(); err != nil {
		return nil, err
	}
	p, err := newPlan(g, cfg)
	if err != nil {
		return nil, err
	}
	if err := p.pass1(ctx, g, shard.ids(p.ids)); err != nil {
		return nil, err
	}
	part := &QuantilePart{Version: PartVersion, Spec: p.spec(), Shard: shard}
	for _, a := range p.accs {
		ql := QuantileLayer{Sketches: a.sketches}
		for _, t := range a.tops {
			ql.TopIDs = append(ql.TopIDs, t.ids)
			ql.TopActs = append(ql.TopActs, t.acts)
		}
		part.Layers = append(part.Layers, ql)
	}
	return part, nil
}

// Thresholds is round 1's merged result: what every unit is thresholded at.
type Thresholds struct {
	Version int
	Spec    RunSpec
	Shards  int
	Layers  []ThresholdLayer
}

// ThresholdLayer is one layer's per-unit thresholds (MethodQuantile) or
// candidate levels (MethodIQR), add levels, quantile table and top images.
// With upsampled candidates, Probes (the native quantiles round 1b bins by)
// stand in for Levels until MergeUpsampled.
type ThresholdLayer struct {
	Thr       []float32
	Levels    [][]float32
	LevelQ    []float64
	Probes    [][]float32
	UnitLevel []float32
	Quantiles *QuantileTable
	TopIDs    [][]int64
	TopActs   [][]float32
}

// NeedsUpsampled says that round 1b (DissectUpsampled, MergeUpsampled) must
// run before round 2: the candidate levels are not known yet.
func (th *Thresholds) NeedsUpsampled() bool {
	for _, l := range th.Layers {
		if l.Probes != nil {
			return true
		}
	}
	return false
}

// partHeader is what every part starts with: the format version, the run
// and which shard of it the part is.
type partHeader struct {
	version int
	spec    RunSpec
	shard   Shard
}

// checkShards wants exactly the shards 0..n-1 of one run, in this format.
func checkShards(spec RunSpec, parts []partHeader) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: no parts", ErrBadPart)
	}
	n := parts[0].shard.Count
	seen := make([]bool, n)
	for _, pt := range parts {
		if pt.version != PartVersion {
			return fmt.Errorf("%w: part version %d, want %d", ErrBadPart, pt.version, PartVersion)
		}
		s := pt.shard
		if s.Count != n || s.Index < 0 || s.Index >= n {
			return fmt.Errorf("%w: shard %v among shards of %d", ErrBadPart, s, n)
		}
		if seen[s.Index] {
			return fmt.Errorf("%w: shard %v given twice", ErrBadPart, s)
		}
		seen[s.Index] = true
		if !pt.spec.equal(spec) {
			return fmt.Errorf("%w: shard %v is of another run (model, layers or settings differ)", ErrBadPart, s)
		}
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("%w: shard %d/%d is missing", ErrBadPart, i, n)
		}
	}
	return nil
}

// MergeQuantiles merges every shard's sketches and top images and derives
// the thresholds, as a single run's pass 1 would.
func MergeQuantiles(parts []*QuantilePart) (*Thresholds, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no parts", ErrBadPart)
	}
	spec := parts[0].Spec
	var headers []partHeader
	for _, pt := range parts {
		if pt.Version != PartVersion {
			return nil, fmt.Errorf("%w: part version %d, want %d", ErrBadPart, pt.Version, PartVersion)
		}
		if len(pt.Layers) != len(pt.Spec.Layers) {
			return nil, fmt.Errorf("%w: shard %v has %d layers for %d", ErrBadPart, pt.Shard, len(pt.Layers), len(pt.Spec.Layers))
		}
		for i, l := range pt.Layers {
			c := pt.Spec.Layers[i].Channels
			if len(l.Sketches) != c || len(l.TopIDs) != c || len(l.TopActs) != c {
				return nil, fmt.Errorf("%w: shard %v layer %s has the wrong number of units", ErrBadPart, pt.Shard, pt.Spec.Layers[i].Name)
			}
		}
		headers = append(headers, partHeader{pt.Version, pt.Spec, pt.Shard})
	}
	if err := checkShards(spec, headers); err != nil {
		return nil, err
	}
	cfg, err := spec.config(Config{}).withDefaults()
	if err != nil {
		return nil, err
	}
	// Merge in shard order so the result does not depend on the order the
	// part files were given in.
	ordered := slices.Clone(parts)
	slices.SortFunc(ordered, func(a, b *QuantilePart) int { return a.Shard.Index - b.Shard.Index })
	th := &Thresholds{Version: PartVersion, Spec: spec, Shards: len(parts)}
	fracs := IQRFractions(cfg.IQRLevels)
	for li, info := range spec.Layers {
		a := &layerAcc{info: info, sketches: make([]*Sketch, info.Channels), tops: make([]topK, info.Channels)}
		tail := tailSize(cfg, int64(cfg.Samples)*int64(info.Height*info.Width))
		for u := range a.sketches {
			a.sketches[u] = NewTailSketch(cfg.SketchK, tail)
			a.tops[u].k = cfg.TopK
			for _, pt := range ordered {
				l := pt.Layers[li]
				if len(l.TopIDs[u]) != len(l.TopActs[u]) {
					return nil, fmt.Errorf("%w: shard %v unit %d top lists differ in length", ErrBadPart, pt.Shard, u)
				}
				if l.Sketches[u] == nil {
					return nil, fmt.Errorf("%w: shard %v unit %d has no sketch", ErrBadPart, pt.Shard, u)
				}
				a.sketches[u].Merge(l.Sketches[u])
				for k, id := range l.TopIDs[u] {
					a.tops[u].add(id, l.TopActs[u][k])
				}
			}
		}
		if err := a.prepare(cfg, fracs); err != nil {
			return nil, err
		}
		tl := ThresholdLayer{Thr: a.thr, Levels: a.levels, LevelQ: a.levelQ, Probes: a.probes, UnitLevel: a.unitLevel, Quantiles: a.table}
		for _, t := range a.tops {
			tl.TopIDs = append(tl.TopIDs, t.ids)
			tl.TopActs = append(tl.TopActs, t.acts)
		}
		th.Layers = append(th.Layers, tl)
	}
	return th, nil
}

// install gives the plan's layers the merged thresholds.
func (p *plan) install(th *Thresholds) error {
	if len(th.Layers) != len(p.accs) {
		return fmt.Errorf("%w: thresholds for %d layers, run has %d", ErrBadPart, len(th.Layers), len(p.accs))
	}
	for i, a := range p.accs {
		tl := th.Layers[i]
		c := a.info.Channels
		iqr := p.cfg.Method == MethodIQR
		// Upsampled candidates come as probes before round 1b and as levels
		// after it; native ones as levels with their quantiles.
		pending := iqr && p.upsampled && tl.Probes != nil
		if len(tl.UnitLevel) != c || len(tl.TopIDs) != c || len(tl.TopActs) != c ||
			(!iqr && len(tl.Thr) != c) ||
			(iqr && !pending && len(tl.Levels) != c) ||
			(pending && (len(tl.Probes) != c || tl.Levels != nil)) ||
			(iqr && !p.upsampled && (tl.Probes != nil || len(tl.LevelQ) != len(p.fracs))) {
			return fmt.Errorf("%w: thresholds of layer %s do not fit its %d units", ErrBadPart, a.info.Name, c)
		}
		for _, lv := range tl.Levels {
			if len(lv) != len(p.fracs) {
				return fmt.Errorf("%w: layer %s has %d candidate levels, want %d", ErrBadPart, a.info.Name, len(lv), len(p.fracs))
			}
		}
		for _, pr := range tl.Probes {
			if len(pr) != len(p.fracs)+1 {
				return fmt.Errorf("%w: layer %s has %d probes, want %d", ErrBadPart, a.info.Name, len(pr), len(p.fracs)+1)
			}
		}
		if tl.Quantiles != nil {
			if err := tl.Quantiles.validate(c); err != nil {
				return fmt.Errorf("%w: layer %s: %v", ErrBadPart, a.info.Name, err)
			}
		}
		a.sketches = nil
		a.thr, a.levels, a.levelQ, a.probes, a.unitLevel, a.table = tl.Thr, tl.Levels, tl.LevelQ, tl.Probes, tl.UnitLevel, tl.Quantiles
		for u := range a.tops {
			a.tops[u] = topK{k: p.cfg.TopK, ids: tl.TopIDs[u], acts: tl.TopActs[u]}
		}
	}
	return nil
}

// planFor is the plan of th's run on g, checked against th.
func planFor(g Generator, th *Thresholds, local Config) (*plan, error) {
	if th == nil || th.Version != PartVersion {
		return nil, fmt.Errorf("%w: thresholds of another version", ErrBadPart)
	}
	p, err := newPlan(g, th.Spec.config(local))
	if err != nil {
		return nil, err
	}
	if !p.spec().equal(th.Spec) {
		return nil, fmt.Errorf("%w: the thresholds were measured on another model (%s) or its layers and classes changed", ErrBadPart, th.Spec.Model)
	}
	if err := p.install(th); err != nil {
		return nil, err
	}
	return p, nil
}

// CountPart is round 2's output of one shard.
type CountPart struct {
	Version    int
	Spec       RunSpec
	Shard      Shard
	Labels     []int64
	Total      int64
	SegH, SegW int
	Layers     []CountLayer
}

// CountLayer is one layer's per-unit pixel counts (MethodQuantile) or level
// histograms (MethodIQR).
type CountLayer struct {
	Inter []int64
	Above []int64
	Hist  []int64
}

// DissectCounts runs pass 2 on the shard's samples with th's thresholds.
// local supplies the machine's settings (workers, progress, logger).
func DissectCounts(ctx context.Context, g Generator, th *Thresholds, local Config, shard Shard) (*CountPart, error) {
	if err := shard.check(); err != nil {
		return nil, err
	}
	p, err := planFor(g, th, local)
	if err != nil {
		return nil, err
	}
	if th.NeedsUpsampled() {
		return nil, fmt.Errorf("%w: the thresholds have no candidate levels yet: run round 1b (the upsampled stage) and merge it first", ErrBadPart)
	}
	c, err := p.pass2(ctx, g, shard.ids(p.ids))
	if err != nil {
		return nil, err
	}
	part := &CountPart{Version: PartVersion, Spec: th.Spec, Shard: shard, Labels: c.labels, Total: c.total, SegH: c.segH, SegW: c.segW}
	for _, a := range p.accs {
		part.Layers = append(part.Layers, CountLayer{Inter: a.inter, Above: a.above, Hist: a.hist})
	}
	return part, nil
}

// MergeCounts adds up every shard's counts and scores the units, as a
// single run's pass 2 would; g is the model (for the causal effects, which
// local.Causal may switch off with Samples < 0).
func MergeCounts(ctx context.Context, g Generator, th *Thresholds, parts []*CountPart, local Config) (*Results, error) {
	p, err := planFor(g, th, local)
	if err != nil {
		return nil, err
	}
	if th.NeedsUpsampled() {
		return nil, fmt.Errorf("%w: the thresholds have no candidate levels yet (round 1b has not been merged)", ErrBadPart)
	}
	headers := make([]partHeader, len(parts))
	for i, pt := range parts {
		headers[i] = partHeader{pt.Version, pt.Spec, pt.Shard}
	}
	if err := checkShards(th.Spec, headers); err != nil {
		return nil, err
	}
	classes := len(p.classNames)
	c := &counts{labels: make([]int64, classes)}
	for _, pt := range parts {
		if pt.Total == 0 {
			continue // a shard without samples (more shards than samples)
		}
		if c.segH == 0 {
			c.segH, c.segW = pt.SegH, pt.SegW
			for _, a := range p.accs {
				if err := a.allocPass2(p.cfg, classes, c.segH, c.segW); err != nil {
					return nil, err
				}
			}
		}
		if pt.SegH != c.segH || pt.SegW != c.segW || len(pt.Labels) != classes || len(pt.Layers) != len(p.accs) {
			return nil, fmt.Errorf("%w: shard %v's counts do not fit the others", ErrBadPart, pt.Shard)
		}
		for k, v := range pt.Labels {
			c.labels[k] += v
		}
		c.total += pt.Total
		for i, a := range p.accs {
			l := pt.Layers[i]
			if len(l.Inter) != len(a.inter) || len(l.Above) != len(a.above) || len(l.Hist) != len(a.hist) {
				return nil, fmt.Errorf("%w: shard %v's counts of layer %s have the wrong size", ErrBadPart, pt.Shard, a.info.Name)
			}
			addInto(a.inter, l.Inter)
			addInto(a.above, l.Above)
			addInto(a.hist, l.Hist)
		}
	}
	if c.total == 0 {
		return nil, fmt.Errorf("%w: no shard counted any pixel", ErrBadPart)
	}
	res := p.finish(c)
	if err := p.measureCausal(ctx, g, res); err != nil {
		return nil, err
	}
	return res, nil
}

// UpsampledPart is round 1b's output of one shard.
type UpsampledPart struct {
	Version int
	Spec    RunSpec
	Shard   Shard
	Layers  []UpsampledLayer
}

// UpsampledLayer is one layer's upsampled pixels binned by each unit's
// probes (units × (probes+1)), and how many upsampled pixels each unit saw.
type UpsampledLayer struct {
	Counts []int64
	Total  int64
}

// DissectUpsampled runs pass 1b on the shard's samples with th's probes.
func DissectUpsampled(ctx context.Context, g Generator, th *Thresholds, local Config, shard Shard) (*UpsampledPart, error) {
	if err := shard.check(); err != nil {
		return nil, err
	}
	p, err := planFor(g, th, local)
	if err != nil {
		return nil, err
	}
	if !th.NeedsUpsampled() {
		return nil, fmt.Errorf("%w: these thresholds need no upsampled round (method %s, candidates %s, or already merged)", ErrBadPart, th.Spec.Method, th.Spec.Candidates)
	}
	if err := p.passUpsampled(ctx, g, shard.ids(p.ids)); err != nil {
		return nil, err
	}
	part := &UpsampledPart{Version: PartVersion, Spec: th.Spec, Shard: shard}
	for _, a := range p.accs {
		part.Layers = append(part.Layers, UpsampledLayer{Counts: a.upCounts, Total: a.upTotal})
	}
	return part, nil
}

// MergeUpsampled adds up every shard's round 1b counts and returns th with
// the candidate levels in place of the probes, as a single run's pass 1b
// would give.
func MergeUpsampled(th *Thresholds, parts []*UpsampledPart) (*Thresholds, error) {
	if th == nil || th.Version != PartVersion || !th.NeedsUpsampled() {
		return nil, fmt.Errorf("%w: thresholds without probes (not round 1's merge of an upsampled-candidates run)", ErrBadPart)
	}
	headers := make([]partHeader, len(parts))
	for i, pt := range parts {
		headers[i] = partHeader{pt.Version, pt.Spec, pt.Shard}
	}
	if err := checkShards(th.Spec, headers); err != nil {
		return nil, err
	}
	fracs := IQRFractions(th.Spec.IQRLevels)
	out := *th
	out.Layers = slices.Clone(th.Layers)
	for li, tl := range th.Layers {
		info := th.Spec.Layers[li]
		if len(tl.Probes) != info.Channels {
			return nil, fmt.Errorf("%w: layer %s has probes for %d of %d units", ErrBadPart, info.Name, len(tl.Probes), info.Channels)
		}
		nb := len(fracs) + 2 // probes are the candidate quantiles and the maximum
		sum := make([]int64, info.Channels*nb)
		var total int64
		for _, pt := range parts {
			if len(pt.Layers) != len(th.Layers) || len(pt.Layers[li].Counts) != len(sum) || pt.Layers[li].Total < 0 {
				return nil, fmt.Errorf("%w: shard %v's upsampled counts of layer %s have the wrong size", ErrBadPart, pt.Shard, info.Name)
			}
			addInto(sum, pt.Layers[li].Counts)
			total += pt.Layers[li].Total
		}
		if total == 0 {
			return nil, fmt.Errorf("%w: no shard counted an upsampled pixel of layer %s", ErrBadPart, info.Name)
		}
		levels := make([][]float32, info.Channels)
		for u := range levels {
			if len(tl.Probes[u]) != nb-1 {
				return nil, fmt.Errorf("%w: layer %s unit %d has %d probes, want %d", ErrBadPart, info.Name, u, len(tl.Probes[u]), nb-1)
			}
			levels[u] = probeLevels(tl.Probes[u], sum[u*nb:(u+1)*nb], total, fracs)
		}
		tl.Levels, tl.Probes = levels, nil
		out.Layers[li] = tl
	}
	return &out, nil
}

func addInto(dst, src []int64) {
	for i, v := range src {
		dst[i] += v
	}
}

// WritePart writes a part (a *QuantilePart, *Thresholds, *UpsampledPart or *CountPart) to
// path atomically.
func WritePart(path string, part any) error {
	switch part.(type) {
	case *QuantilePart, *Thresholds, *UpsampledPart, *CountPart:
	default:
		return fmt.Errorf("%w: cannot write %T", ErrBadPart, part)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		if err := gob.NewEncoder(zw).Encode(part); err != nil {
			return err
		}
		return zw.Close()
	})
}

// ReadPart reads a part written by WritePart into part (a pointer to one
// of the four types).
func ReadPart(path string, part any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPart, path, err)
	}
	if err := gob.NewDecoder(io.LimitReader(zr, 1<<34)).Decode(part); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPart, path, err)
	}
	return nil
}
