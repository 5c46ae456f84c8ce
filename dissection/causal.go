package dissection

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/ganpaint-go/ganpaint/inference"
)

// CausalConfig controls the causal-effect measurement (docs/dissection-format.md).
// Zero fields take the documented defaults.
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
	// RegionFrac is the side of the insertion square as a fraction of the
	// layer grid's side (rounded, at least one cell). Default 0.25.
	RegionFrac float64
	// LocationK is the number of units inserted for the location map.
	// Default 20 (clamped to the layer's units).
	LocationK int
	// LocationImages is how many images each location-map cell is tried on.
	// Default 3; negative disables the location map.
	LocationImages int
	// LocationGrid caps the location map's side: a layer grid finer than
	// this is measured in blocks of cells. Default 8.
	LocationGrid int
	// AppearShare: the class "appears" in a cell when it covers at least
	// this fraction of the cell's pixels after insertion, having covered less
	// before. Default 0.2.
	AppearShare float64
}

func (c CausalConfig) withDefaults() (CausalConfig, error) {
	if c.Samples == 0 {
		c.Samples = 24
	}
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
	if c.RegionFrac == 0 {
		c.RegionFrac = 0.25
	}
	if !(c.RegionFrac > 0 && c.RegionFrac <= 1) {
		return c, fmt.Errorf("%w: region fraction %v must be in (0,1]", ErrBadConfig, c.RegionFrac)
	}
	if c.LocationK == 0 {
		c.LocationK = 20
	}
	if c.LocationImages == 0 {
		c.LocationImages = 3
	}
	if c.LocationGrid == 0 {
		c.LocationGrid = 8
	}
	if c.AppearShare == 0 {
		c.AppearShare = 0.2
	}
	if c.LocationK < 0 || c.LocationGrid < 0 || !(c.AppearShare > 0 && c.AppearShare <= 1) {
		return c, fmt.Errorf("%w: location k %d, grid %d, appear share %v", ErrBadConfig, c.LocationK, c.LocationGrid, c.AppearShare)
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

// probe is one edited image: img's activations with units ablated
// everywhere or set to their levels inside a cell rectangle; after Tail and
// Segment, the share of class inside the rectangle's pixels is measured.
type probe struct {
	img    int
	units  []int
	insert bool
	class  int
	rect   [4]int // cells: r0, c0, r1, c1 (exclusive)
}

type causalPlan struct {
	classes []int
	ks      []int
	probes  []probe
	// index of the first probe of each (class, k) row: M ablation probes
	// then M insertion probes.
	rowStart map[[2]int]int
	// first probe of each class's location map: LocationImages per cell.
	locStart  map[int]int
	locRows   int
	locCols   int
	locK      int
	locImages int
}

// MeasureCausal measures, on held-out images, how switching a class's
// top-ranked units off everywhere (ablation) or on in a region (insertion)
// changes that class in the segmentation, and where insertion works.
func MeasureCausal(ctx context.Context, g Generator, l *Layer, cfg Config) (*Causal, error) {
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
	ids := all[l.Samples:]
	M := len(ids)

	// Baseline: activations and segmentation of every causal image.
	base := make([][]float32, M)
	var baseSeg [][]uint8
	imgH, imgW := 0, 0
	pb := newProgress(cfg.Progress, "causal "+l.Layer+" base", M, cfg.Now)
	type baseOut struct {
		f   *inference.Features
		seg []uint8
		h   int
		w   int
	}
	pos := 0
	err = pipeline(ctx, ids, cfg.Batch, cfg.InFlight,
		func(ctx context.Context, batch []int64) (baseOut, error) {
			zs, err := g.ZBatch(batch)
			if err != nil {
				return baseOut{}, err
			}
			imgs, feats, err := g.Generate(ctx, zs, len(batch), []string{l.Layer})
			if err != nil {
				return baseOut{}, err
			}
			f := feats[l.Layer]
			if err := checkFeatures(f, li, len(batch)); err != nil {
				return baseOut{}, err
			}
			seg, err := g.Segment(ctx, imgs)
			if err != nil {
				return baseOut{}, err
			}
			if len(seg) != len(batch)*imgs.H*imgs.W {
				return baseOut{}, fmt.Errorf("%w: %d labels for %d images", inference.ErrBadShape, len(seg), len(batch))
			}
			return baseOut{f, seg, imgs.H, imgs.W}, nil
		},
		func(batch []int64, o baseOut) error {
			imgH, imgW = o.h, o.w
			size, plane := li.Size(), o.h*o.w
			for i := range batch {
				base[pos] = slices.Clone(o.f.Data[i*size : (i+1)*size])
				baseSeg = append(baseSeg, slices.Clone(o.seg[i*plane:(i+1)*plane]))
				pos++
			}
			pb.add(len(batch))
			return nil
		})
	if err != nil {
		return nil, err
	}
	pb.finish()
	if imgH%li.Height != 0 || imgW%li.Width != 0 {
		return nil, fmt.Errorf("%w: image %dx%d is not a multiple of the %s grid %dx%d", inference.ErrBadShape, imgW, imgH, li.Name, li.Width, li.Height)
	}

	plan, err := planCausal(l, cc, M, li, l.Seed)
	if err != nil {
		return nil, err
	}
	shares := make([]float64, len(plan.probes))
	order := make([]int64, len(plan.probes))
	for i := range order {
		order[i] = int64(i)
	}
	cellH, cellW := imgH/li.Height, imgW/li.Width
	pp := newProgress(cfg.Progress, "causal "+l.Layer+" probes", len(order), cfg.Now)
	err = pipeline(ctx, order, cfg.Batch, cfg.InFlight,
		func(ctx context.Context, batch []int64) ([]float64, error) {
			size := li.Size()
			f := &inference.Features{Layer: li, N: len(batch), Data: make([]float32, len(batch)*size)}
			for j, pi := range batch {
				p := plan.probes[pi]
				dst := f.Data[j*size : (j+1)*size]
				copy(dst, base[p.img])
				applyProbe(dst, li, p, l)
			}
			imgs, err := g.Tail(ctx, f)
			if err != nil {
				return nil, err
			}
			seg, err := g.Segment(ctx, imgs)
			if err != nil {
				return nil, err
			}
			if imgs.H != imgH || imgs.W != imgW || len(seg) != len(batch)*imgH*imgW {
				return nil, fmt.Errorf("%w: tail gave %d labels of %dx%d for %d probes", inference.ErrBadShape, len(seg), imgs.W, imgs.H, len(batch))
			}
			out := make([]float64, len(batch))
			for j, pi := range batch {
				p := plan.probes[pi]
				out[j] = regionShare(seg[j*imgH*imgW:(j+1)*imgH*imgW], imgW, p.rect, cellH, cellW, p.class)
			}
			return out, nil
		},
		func(batch []int64, v []float64) error {
			for j, pi := range batch {
				shares[pi] = v[j]
			}
			pp.add(len(batch))
			return nil
		})
	if err != nil {
		return nil, err
	}
	pp.finish()

	full := [4]int{0, 0, li.Height, li.Width}
	out := &Causal{Samples: M, IDs: ids, Ks: plan.ks, RegionCells: regionSide(cc, li),
		AppearShare: cc.AppearShare, Effects: map[string][]CausalEffect{}, Locations: map[string]LocationMap{},
		LocationSize: plan.locImages}
	for _, c := range plan.classes {
		name := l.ClassNames[c]
		for _, k := range plan.ks {
			start := plan.rowStart[[2]int{c, k}]
			e := CausalEffect{K: k, Units: plan.probes[start].units}
			for i := 0; i < M; i++ {
				abl, ins := plan.probes[start+i], plan.probes[start+M+i]
				e.ShareBefore += regionShare(baseSeg[abl.img], imgW, full, cellH, cellW, c)
				e.ShareAfter += shares[start+i]
				e.RegionShare += regionShare(baseSeg[ins.img], imgW, ins.rect, cellH, cellW, c)
				e.RegionAfter += shares[start+M+i]
			}
			e.ShareBefore /= float64(M)
			e.ShareAfter /= float64(M)
			e.RegionShare /= float64(M)
			e.RegionAfter /= float64(M)
			e.Drop = e.ShareBefore - e.ShareAfter
			if e.ShareBefore > 0 {
				e.RelDrop = e.Drop / e.ShareBefore
			}
			e.Rise = e.RegionAfter - e.RegionShare
			out.Effects[name] = append(out.Effects[name], e)
		}
		start, ok := plan.locStart[c]
		if !ok {
			continue
		}
		lm := LocationMap{K: plan.locK, Rows: plan.locRows, Cols: plan.locCols, Images: plan.locImages,
			Rate: make([]float64, plan.locRows*plan.locCols), Eligible: make([]int, plan.locRows*plan.locCols)}
		for cell := range lm.Rate {
			appeared := 0
			for j := 0; j < plan.locImages; j++ {
				pi := start + cell*plan.locImages + j
				p := plan.probes[pi]
				before := regionShare(baseSeg[p.img], imgW, p.rect, cellH, cellW, c)
				if before >= cc.AppearShare {
					continue // already there: insertion cannot make it appear
				}
				lm.Eligible[cell]++
				if shares[pi] >= cc.AppearShare {
					appeared++
				}
			}
			if lm.Eligible[cell] > 0 {
				lm.Rate[cell] = float64(appeared) / float64(lm.Eligible[cell])
			}
		}
		out.Locations[name] = lm
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

func regionSide(cc CausalConfig, li inference.LayerInfo) int {
	return max(1, int(math.Round(cc.RegionFrac*float64(min(li.Height, li.Width)))))
}

// planCausal lists every probe. Insertion squares are drawn per image from
// a stream seeded by the run's seed, and shared by all classes and k so
// that rows are comparable.
func planCausal(l *Layer, cc CausalConfig, M int, li inference.LayerInfo, seed int64) (*causalPlan, error) {
	plan := &causalPlan{rowStart: map[[2]int]int{}, locStart: map[int]int{}}
	classIndex := map[string]int{}
	for i, n := range l.ClassNames {
		classIndex[n] = i
	}
	if len(cc.Classes) > 0 {
		for _, n := range cc.Classes {
			i, ok := classIndex[n]
			if !ok {
				return nil, fmt.Errorf("%w: %q (classes: %s)", ErrUnknownConcept, n, strings.Join(l.ClassNames, ", "))
			}
			if _, ranked := l.Rankings[n]; !ranked {
				return nil, fmt.Errorf("%w: class %q has no ranking (the background)", ErrBadConfig, n)
			}
			plan.classes = append(plan.classes, i)
		}
	} else {
		for i, n := range l.ClassNames {
			if _, ranked := l.Rankings[n]; !ranked {
				continue
			}
			if i < len(l.ClassShare) && l.ClassShare[i] >= cc.MinShare {
				plan.classes = append(plan.classes, i)
			}
		}
	}
	for _, k := range cc.Ks {
		k = min(k, li.Channels)
		if !slices.Contains(plan.ks, k) {
			plan.ks = append(plan.ks, k)
		}
	}
	side := regionSide(cc, li)
	state := uint64(seed) ^ 0xC0FFEE
	next := func(n int) int {
		state += 0x9E3779B97F4A7C15
		x := state
		x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
		x = (x ^ (x >> 27)) * 0x94D049BB133111EB
		x ^= x >> 31
		return int(x % uint64(n))
	}
	squares := make([][4]int, M)
	for i := range squares {
		r0 := next(li.Height - min(side, li.Height) + 1)
		c0 := next(li.Width - min(side, li.Width) + 1)
		squares[i] = [4]int{r0, c0, min(r0+side, li.Height), min(c0+side, li.Width)}
	}
	full := [4]int{0, 0, li.Height, li.Width}
	for _, c := range plan.classes {
		rank := l.Rankings[l.ClassNames[c]]
		if len(rank) != li.Channels {
			return nil, fmt.Errorf("%w: ranking of %s has %d units", ErrBadResults, l.ClassNames[c], len(rank))
		}
		for _, k := range plan.ks {
			units := slices.Clone(rank[:k])
			plan.rowStart[[2]int{c, k}] = len(plan.probes)
			for i := 0; i < M; i++ {
				plan.probes = append(plan.probes, probe{img: i, units: units, class: c, rect: full})
			}
			for i := 0; i < M; i++ {
				plan.probes = append(plan.probes, probe{img: i, units: units, insert: true, class: c, rect: squares[i]})
			}
		}
	}
	if cc.LocationImages > 0 && cc.LocationK > 0 {
		plan.locK = min(cc.LocationK, li.Channels)
		plan.locRows = min(li.Height, cc.LocationGrid)
		plan.locCols = min(li.Width, cc.LocationGrid)
		plan.locImages = min(cc.LocationImages, M)
		for _, c := range plan.classes {
			units := slices.Clone(l.Rankings[l.ClassNames[c]][:plan.locK])
			plan.locStart[c] = len(plan.probes)
			for gy := 0; gy < plan.locRows; gy++ {
				for gx := 0; gx < plan.locCols; gx++ {
					rect := [4]int{gy * li.Height / plan.locRows, gx * li.Width / plan.locCols,
						(gy + 1) * li.Height / plan.locRows, (gx + 1) * li.Width / plan.locCols}
					for j := 0; j < plan.locImages; j++ {
						plan.probes = append(plan.probes, probe{img: j, units: units, insert: true, class: c, rect: rect})
					}
				}
			}
		}
	}
	return plan, nil
}

// applyProbe edits one image's activations (C×H×W) in place: ablation sets
// the units to 0 everywhere; insertion sets them to their levels inside the
// rectangle. Both equal a strength-1 remove/add edit of the painter with a
// mask covering exactly those cells.
func applyProbe(data []float32, li inference.LayerInfo, p probe, l *Layer) {
	hw := li.Height * li.Width
	for _, u := range p.units {
		plane := data[u*hw : (u+1)*hw]
		if !p.insert {
			clear(plane)
			continue
		}
		v := l.Units[u].Level
		for r := p.rect[0]; r < p.rect[2]; r++ {
			for c := p.rect[1]; c < p.rect[3]; c++ {
				plane[r*li.Width+c] = v
			}
		}
	}
}

// regionShare is the fraction of pixels of class inside the cell rectangle.
func regionShare(seg []uint8, imgW int, rect [4]int, cellH, cellW, class int) float64 {
	y0, x0, y1, x1 := rect[0]*cellH, rect[1]*cellW, rect[2]*cellH, rect[3]*cellW
	n, hit := 0, 0
	for y := y0; y < y1; y++ {
		for _, v := range seg[y*imgW+x0 : y*imgW+x1] {
			n++
			if int(v) == class {
				hit++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(hit) / float64(n)
}

// WriteTable prints the causal effects, one row per class and k, followed
// by a compact summary of each location map.
func (c *Causal) WriteTable(w io.Writer, classOrder []string) {
	fmt.Fprintf(w, "causal effects over %d held-out images (insertion square %d×%d cells)\n", c.Samples, c.RegionCells, c.RegionCells)
	fmt.Fprintf(w, "%-10s %4s  %8s %8s %8s %7s  %8s %8s %8s\n", "class", "k", "share", "ablated", "drop", "rel", "region", "inserted", "rise")
	for _, name := range classOrder {
		rows, ok := c.Effects[name]
		if !ok {
			continue
		}
		for _, e := range rows {
			fmt.Fprintf(w, "%-10s %4d  %8.4f %8.4f %8.4f %6.1f%%  %8.4f %8.4f %+8.4f\n", name, e.K,
				e.ShareBefore, e.ShareAfter, e.Drop, 100*e.RelDrop, e.RegionShare, e.RegionAfter, e.Rise)
		}
	}
	if len(c.Locations) == 0 {
		return
	}
	fmt.Fprintf(w, "location maps: per cell, how often inserting the class makes it cover ≥ %.0f%% of the cell\n", 100*c.AppearShare)
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
