package dissection

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

// CausalConfig controls the causal-effect measurement (docs/dissection-format.md).
// Zero fields take the documented defaults. The measurement is the
// brush-efficacy benchmark's (package efficacy) run on the dissection's own
// held-out images with the top-k IoU-ranked units of each class as brushes.
type CausalConfig struct {
	// Samples is M, the images every (class, k) is measured on. Default 24;
	// negative disables the causal measurement altogether. The images are
	// drawn after the dissection samples from the same id stream, so they are
	// held out from the dissection.
	Samples int
	// Ks are the numbers of top-ranked units switched off/on. Default 5,10,20,40.
	Ks []int
	// Layers selects the dissected layers to measure. Default: the
	// manifest's default_layer when it is dissected, else the first layer.
	Layers []string
	// Classes to measure. Default: every class covering at least MinShare
	// of the dissection's pixels.
	Classes  []string
	MinShare float64 // default 0.001
	// Plausible and Other are the insertion regions per (class, k) drawn
	// where the class plausibly belongs and elsewhere (efficacy.Config).
	// Defaults 24 and 8.
	Plausible, Other int
	// Present is how many regions where the class covers at least half are
	// erased per (class, k). Default 12.
	Present int
	// LocationK is the number of units inserted for the location map.
	// Default 20 (clamped to the layer's units).
	LocationK int
	// LocationImages is how many images the location map tries every
	// region of. Default 8; negative disables the location map.
	LocationImages int
}

func (c CausalConfig) withDefaults() (CausalConfig, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Samples, 24)
	def(&c.Plausible, 24)
	def(&c.Other, 8)
	def(&c.Present, 12)
	def(&c.LocationK, 20)
	def(&c.LocationImages, 8)
	if len(c.Ks) == 0 {
		c.Ks = []int{5, 10, 20, 40}
	}
	for _, k := range c.Ks {
		if k <= 0 {
			return c, fmt.Errorf("%w: causal k %d must be > 0", ErrBadConfig, k)
		}
	}
	if c.MinShare == 0 {
		c.MinShare = 0.001
	}
	if c.LocationK < 0 || c.Plausible < 0 || c.Other < 0 || c.Present < 0 {
		return c, fmt.Errorf("%w: location k %d, regions %d/%d/%d", ErrBadConfig, c.LocationK, c.Plausible, c.Other, c.Present)
	}
	return c, nil
}

// wants says whether layer gets a causal measurement.
func (c CausalConfig) wants(layer, defaultLayer string, dissected []string) bool {
	if c.Samples < 0 {
		return false
	}
	if len(c.Layers) > 0 {
		return slices.Contains(c.Layers, layer)
	}
	if slices.Contains(dissected, defaultLayer) {
		return layer == defaultLayer
	}
	return len(dissected) > 0 && layer == dissected[0]
}

// efficacyModel is what the efficacy benchmark needs; every Generator is one.
var _ efficacy.Model = Generator(nil)

// MeasureCausal measures, on held-out images, what the top-k IoU-ranked
// units of each class do as a brush: painted (set to their levels) into
// regions, and erased (switched off) in regions and everywhere, with the
// brush-efficacy benchmark's code and definitions (docs/efficacy.md); and
// where in the image painting works (the location map).
func MeasureCausal(ctx context.Context, g Generator, l *Layer, cfg Config) (*Causal, error) {
	run, err := newCausalRun(g, l, cfg)
	if err != nil {
		return nil, err
	}
	out, err := run.effects(ctx)
	if err != nil {
		return nil, err
	}
	if cc := run.cfg.Causal; cc.LocationImages > 0 && cc.LocationK != 0 {
		if err := run.locations(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// causalRun is one causal measurement of a dissected layer: its held-out
// images and the classes and unit counts it measures.
type causalRun struct {
	g       Generator
	l       *Layer
	cfg     Config
	li      inference.LayerInfo
	imageH  int
	ids     []int64
	classes []string
	ks      []int
	levels  []float32
}

func newCausalRun(g Generator, l *Layer, cfg Config) (*causalRun, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cc := cfg.Causal
	if cc.Samples <= 0 {
		return nil, fmt.Errorf("%w: causal samples %d", ErrBadConfig, cc.Samples)
	}
	man := g.Manifest()
	li, err := layerInfo(g, l.Layer)
	if err != nil {
		return nil, err
	}
	if li.Channels != len(l.Units) {
		return nil, fmt.Errorf("%w: results for %s have %d units, model has %d", ErrBadResults, l.Layer, len(l.Units), li.Channels)
	}
	// The dissection's seed, not cfg's, so that the held-out images really
	// are disjoint from the ones the rankings were measured on.
	all, err := SampleIDs(l.Seed, l.Samples+cc.Samples, man.Z.MaxID)
	if err != nil {
		return nil, err
	}
	classes, err := causalClasses(l, cc)
	if err != nil {
		return nil, err
	}
	var ks []int
	for _, k := range cc.Ks {
		if k = min(k, li.Channels); !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return &causalRun{g: g, l: l, cfg: cfg, li: li, imageH: man.Image.Height, ids: all[l.Samples:],
		classes: classes, ks: ks, levels: l.Levels()}, nil
}

// brush is the top-k IoU-ranked units of class as an efficacy brush.
func (r *causalRun) brush(class string, k int, remove bool) (efficacy.Brush, error) {
	rank := r.l.Rankings[class]
	if len(rank) != r.li.Channels {
		return efficacy.Brush{}, fmt.Errorf("%w: ranking of %s has %d units", ErrBadResults, class, len(rank))
	}
	b := efficacy.Brush{Name: fmt.Sprintf("%s-top%d", class, k), Concept: class, Kind: "iou", Layer: r.l.Layer,
		Units: slices.Clone(rank[:k]), Steps: []efficacy.Step{{Name: "1", Strength: 1}}}
	if remove {
		b.Remove, b.Mode = true, inference.ModeRemove
	} else {
		b.Mode, b.Levels = inference.ModeAdd, r.levels
	}
	return b, nil
}

// effects paints and erases every class's top-k brushes on the held-out
// images.
func (r *causalRun) effects(ctx context.Context) (*Causal, error) {
	var brushes []efficacy.Brush
	for _, c := range r.classes {
		for _, k := range r.ks {
			for _, remove := range []bool{false, true} {
				b, err := r.brush(c, k, remove)
				if err != nil {
					return nil, err
				}
				brushes = append(brushes, b)
			}
		}
	}
	cc, l := r.cfg.Causal, r.l
	ec := efficacy.Config{IDs: r.ids, Plausible: cc.Plausible, Other: cc.Other, Present: cc.Present, Everywhere: len(r.ids),
		Seed: uint64(l.Seed), Batch: r.cfg.Batch, Workers: r.cfg.InFlight, Progress: r.cfg.Progress, Now: r.cfg.Now}
	rep, err := efficacy.Run(ctx, r.g, brushes, ec)
	if err != nil {
		return nil, err
	}
	out := &Causal{Samples: len(r.ids), IDs: r.ids, Ks: r.ks, Side: rep.Settings.Side,
		RegionCells: rep.Settings.RegionPx[1] * r.li.Height / r.imageH,
		Effects:     map[string][]CausalEffect{}, Locations: map[string]LocationMap{}}
	for _, cr := range rep.Concepts {
		for i, k := range r.ks {
			if i >= len(cr.Insert) || i >= len(cr.Remove) {
				return nil, fmt.Errorf("dissection: causal rows of %s incomplete", cr.Concept)
			}
			ins, rm := cr.Insert[i], cr.Remove[i]
			out.Effects[cr.Concept] = append(out.Effects[cr.Concept], CausalEffect{K: k, Units: l.Rankings[cr.Concept][:k],
				Success: ins.Success, SuccessAll: ins.SuccessAll, Rise: ins.RiseAll, LeakNear: ins.LeakNear, LeakFar: ins.LeakFar,
				RelDrop: rm.Drop, Half: rm.Half, Damage: rm.Damage, RegionDrop: rm.RegionDrop, Plausible: cr.UsedPlausible,
				Images: cr.UsedImages})
		}
	}
	return out, nil
}

// locations paints every class's top units in each tile of the first held-out
// images in turn, for out's location maps.
func (r *causalRun) locations(ctx context.Context, out *Causal) error {
	cc := r.cfg.Causal
	k := min(cc.LocationK, r.li.Channels)
	var brushes []efficacy.Brush
	for _, c := range r.classes {
		b, err := r.brush(c, k, false)
		if err != nil {
			return err
		}
		brushes = append(brushes, b)
	}
	n := min(cc.LocationImages, len(r.ids))
	every := 1 << 30
	lrep, err := efficacy.Run(ctx, r.g, brushes, efficacy.Config{IDs: r.ids[:n], Plausible: every, Other: every, Tiles: true,
		Seed: uint64(r.l.Seed), Batch: r.cfg.Batch, Workers: r.cfg.InFlight, Progress: r.cfg.Progress, Now: r.cfg.Now})
	if err != nil {
		return err
	}
	out.LocationSize = n
	side := lrep.Settings.Side
	for _, cr := range lrep.Concepts {
		if len(cr.Insert) == 0 {
			continue
		}
		lm := LocationMap{K: k, Rows: side, Cols: side, Images: n, Rate: make([]float64, side*side), Eligible: make([]int, side*side)}
		for i, t := range cr.Insert[0].Tiles {
			lm.Eligible[i] = t.Tried
			if t.Tried > 0 {
				lm.Rate[i] = float64(t.Success) / float64(t.Tried)
			}
		}
		out.Locations[cr.Concept] = lm
	}
	return nil
}

func causalClasses(l *Layer, cc CausalConfig) ([]string, error) {
	if len(cc.Classes) > 0 {
		for _, n := range cc.Classes {
			if !slices.Contains(l.ClassNames, n) {
				return nil, fmt.Errorf("%w: %q (classes: %s)", ErrUnknownConcept, n, strings.Join(l.ClassNames, ", "))
			}
			if _, ranked := l.Rankings[n]; !ranked {
				return nil, fmt.Errorf("%w: class %q has no ranking (the background)", ErrBadConfig, n)
			}
		}
		return slices.Clone(cc.Classes), nil
	}
	var out []string
	for i, n := range l.ClassNames {
		if _, ranked := l.Rankings[n]; !ranked {
			continue
		}
		if i < len(l.ClassShare) && l.ClassShare[i] >= cc.MinShare {
			out = append(out, n)
		}
	}
	return out, nil
}

func layerInfo(g Generator, name string) (inference.LayerInfo, error) {
	var names []string
	for _, li := range g.Layers() {
		if li.Name == name {
			return li, nil
		}
		names = append(names, li.Name)
	}
	return inference.LayerInfo{}, fmt.Errorf("%w (%w): %q (model has %s)", ErrUnknownLayer, inference.ErrUnknownLayer, name, strings.Join(names, ", "))
}

// WriteTable prints the causal effects, one row per class and k, followed
// by a compact summary of each location map. Results of schema 1 (measured
// before the efficacy benchmark existed) print their old columns.
func (c *Causal) WriteTable(w io.Writer, classOrder []string) {
	if c.Side == 0 {
		c.writeTableV1(w, classOrder)
		return
	}
	fmt.Fprintf(w, "causal effects over %d held-out images (regions of %d×%d cells, docs/efficacy.md)\n", c.Samples, c.RegionCells, c.RegionCells)
	fmt.Fprintf(w, "%-10s %4s  %9s %9s %6s %6s %6s  %9s %9s %7s %8s\n", "class", "k", "paint:pl.", "all", "rise", "near", "far",
		"erase:all", "imgs≥½", "damage", "region")
	for _, name := range classOrder {
		for _, e := range c.Effects[name] {
			fmt.Fprintf(w, "%-10s %4d  %8.1f%% %8.1f%% %+6.2f %5.1f%% %5.1f%%  %8.1f%% %8.1f%% %6.1f%% %7.1f%%\n", name, e.K,
				100*e.Success, 100*e.SuccessAll, e.Rise, 100*e.LeakNear, 100*e.LeakFar, 100*e.RelDrop, 100*e.Half, 100*e.Damage, 100*e.RegionDrop)
		}
	}
	if len(c.Locations) == 0 {
		return
	}
	fmt.Fprintf(w, "location maps: per region of the %d×%d tiling, how often painting the class there succeeds\n", c.Side, c.Side)
	c.writeMaps(w, classOrder)
}

func (c *Causal) writeMaps(w io.Writer, classOrder []string) {
	fmt.Fprintln(w, "(rows of the grid left to right; digit d = rate in [d/10, (d+1)/10), # = always, ? = class already there)")
	for _, name := range classOrder {
		lm, ok := c.Locations[name]
		if !ok {
			continue
		}
		var sum float64
		var cells int
		for i, r := range lm.Rate {
			if lm.Eligible[i] > 0 {
				sum += r
				cells++
			}
		}
		mean := 0.0
		if cells > 0 {
			mean = sum / float64(cells)
		}
		fmt.Fprintf(w, "%-10s k=%d mean %.2f  ", name, lm.K, mean)
		for r := 0; r < lm.Rows; r++ {
			var sb strings.Builder
			for col := 0; col < lm.Cols; col++ {
				i := r*lm.Cols + col
				switch {
				case lm.Eligible[i] == 0:
					sb.WriteByte('?')
				default:
					sb.WriteByte("0123456789#"[int(lm.Rate[i]*10)])
				}
			}
			fmt.Fprintf(w, "|%s", sb.String())
		}
		fmt.Fprintln(w, "|")
	}
}

func (c *Causal) writeTableV1(w io.Writer, classOrder []string) {
	fmt.Fprintf(w, "causal effects over %d held-out images (insertion square %d×%d cells)\n", c.Samples, c.RegionCells, c.RegionCells)
	fmt.Fprintf(w, "%-10s %4s  %8s %8s %8s %7s  %8s %8s %8s\n", "class", "k", "share", "ablated", "drop", "rel", "region", "inserted", "rise")
	for _, name := range classOrder {
		for _, e := range c.Effects[name] {
			fmt.Fprintf(w, "%-10s %4d  %8.4f %8.4f %8.4f %6.1f%%  %8.4f %8.4f %+8.4f\n", name, e.K,
				e.ShareBefore, e.ShareAfter, e.Drop, 100*e.RelDrop, e.RegionShare, e.RegionAfter, e.Rise)
		}
	}
	if len(c.Locations) == 0 {
		return
	}
	fmt.Fprintf(w, "location maps: per cell, how often inserting the class makes it cover ≥ %.0f%% of the cell\n", 100*c.AppearShare)
	c.writeMaps(w, classOrder)
}
