package compare

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/inpaint"
	"github.com/ganpaint-go/ganpaint/internal/cputime"
)

// Scopes of a removal.
const (
	// ScopeStroke: the user brushed over the concept; the region is the
	// brushed layer cells (cells the concept covers at least CellShare of),
	// the GAN removes the units there, the other methods fill those cells.
	ScopeStroke = "stroke"
	// ScopeEverywhere: "remove everywhere"; the region is the segmenter's
	// mask of the concept, the GAN removes the units over the whole image,
	// the other methods fill the mask (grown by Dilate pixels).
	ScopeEverywhere = "everywhere"
)

// Config is one table run. Zero fields take the documented defaults.
type Config struct {
	// Layer the GAN removes at, and GAN the removal it makes there (its
	// Mask is ignored: each scope brings its own): the painter's default
	// eraser of the concept (brushes.Set.Edit), a learned recipe blended in
	// at its calibrated step or ranked units switched off. Brush names it in
	// the table ("tree-erase at medium").
	Layer string
	GAN   inference.Edit
	Brush string
	// Concept is a segmenter class name.
	Concept string
	// Samples is the number of images where the concept is present.
	Samples int
	// FirstID: images are tried in id order from here. Default 0.
	FirstID int64
	// MinShare: an image counts when the concept covers at least this
	// share of it. Default 0.01.
	MinShare float64
	// MaxTries bounds the ids tried. Default 50 × Samples.
	MaxTries int
	// CellShare: a layer cell is brushed when the concept covers at least
	// this share of its pixels. Default 0.25.
	CellShare float64
	// Radius of the classical methods. Default DefaultRadius.
	Radius float64
	// Dilate grows the segmenter's mask for ScopeEverywhere. Default
	// DefaultDilate; negative means 0.
	Dilate int
	// Reference: FID reference statistics; nil leaves FID out.
	Reference *fid.Stats
	// Progress, when set, receives one line per image.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.MinShare == 0 {
		c.MinShare = 0.01
	}
	if c.MaxTries == 0 {
		c.MaxTries = 50 * c.Samples
	}
	if c.CellShare == 0 {
		c.CellShare = 0.25
	}
	if c.Radius == 0 {
		c.Radius = DefaultRadius
	}
	if c.Dilate == 0 {
		c.Dilate = DefaultDilate
	} else if c.Dilate < 0 {
		c.Dilate = 0
	}
	return c
}

// Row is one method in one scope, over the table's images.
type Row struct {
	Scope  string
	Method string
	// Err is the last reason the method gave no image (ErrUnavailable, or a
	// failure such as a mask that covers the whole image); Failed counts
	// the images it failed on.
	Err    error
	Failed int
	// Images that contributed (images with no brushed cell have no stroke).
	Images int
	// ShareBefore / ShareAfter: the concept's share of the region's pixels
	// before and after the removal, mean over images.
	ShareBefore, ShareAfter float64
	// FID of the edited images against the reference (NaN without one).
	FID float64
	// Times of the method per image: wall clock, and the process's CPU
	// time (empty where the platform has no CPU clock).
	Times []time.Duration
	CPU   []time.Duration
}

// MedianMS is the median wall time per image in milliseconds (0 without
// times).
func (r Row) MedianMS() float64 { return medianMS(r.Times) }

// MedianCPUMS is the median CPU time per image in milliseconds (0 without).
func (r Row) MedianCPUMS() float64 { return medianMS(r.CPU) }

func medianMS(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	t := slices.Clone(d)
	slices.Sort(t)
	return float64(t[len(t)/2]) / float64(time.Millisecond)
}

// Table is the result of Evaluate.
type Table struct {
	Config Config
	IDs    []int64
	Tried  int
	// Unedited is the FID of the unedited images (NaN without a reference).
	Unedited float64
	Rows     []Row
}

// ErrNoConcept: the concept is not one of the segmenter's classes.
var ErrNoConcept = errors.New("compare: unknown concept")

// Evaluate removes cfg.Concept from cfg.Samples images in both scopes with
// every method and measures each (see Table and Row).
func Evaluate(ctx context.Context, m *inference.Model, cfg Config) (*Table, error) {
	cfg = cfg.withDefaults()
	if cfg.Samples <= 0 {
		return nil, fmt.Errorf("compare: samples must be positive, got %d", cfg.Samples)
	}
	if len(cfg.GAN.Units) == 0 {
		return nil, fmt.Errorf("compare: no units to remove for %q", cfg.Concept)
	}
	if cfg.GAN.Mode == inference.ModeAdd {
		return nil, fmt.Errorf("compare: the GAN edit for %q adds units; it must remove (mode remove or blend)", cfg.Concept)
	}
	li, err := m.Layer(cfg.Layer)
	if err != nil {
		return nil, err
	}
	removeAll := inference.FullMask(li.Width, li.Height)
	gan := cfg.GAN
	gan.Mask = removeAll
	if err := inference.ValidateEdits(li, []inference.Edit{gan}, nil); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	classes, err := m.Classes()
	if err != nil {
		return nil, err
	}
	class := -1
	var names []string
	for i, c := range classes {
		names = append(names, c.Name)
		if c.Name == cfg.Concept {
			class = i
		}
	}
	if class < 0 {
		return nil, fmt.Errorf("%w %q (classes: %s)", ErrNoConcept, cfg.Concept, strings.Join(names, ", "))
	}
	if cfg.Reference != nil && cfg.Reference.Dim() != m.FeatureDim() {
		return nil, fmt.Errorf("compare: reference has %d features, the segmenter %d", cfg.Reference.Dim(), m.FeatureDim())
	}
	man := m.Manifest()
	w, h := man.Image.Width, man.Image.Height
	fillers := Fillers(m, cfg.Radius)

	methods := []string{MethodGAN}
	for _, f := range fillers {
		methods = append(methods, f.Method)
	}
	type acc struct {
		row   Row
		feats []float32
	}
	accs := map[[2]string]*acc{}
	for _, scope := range []string{ScopeStroke, ScopeEverywhere} {
		for _, meth := range methods {
			accs[[2]string{scope, meth}] = &acc{row: Row{Scope: scope, Method: meth}}
		}
	}
	var unedited []float32
	t := &Table{Config: cfg}
	var edited inference.Features

	for id := cfg.FirstID; len(t.IDs) < cfg.Samples && t.Tried < cfg.MaxTries && id < man.Z.MaxID; id++ {
		t.Tried++
		z, err := m.Z(id)
		if err != nil {
			return nil, err
		}
		feats, err := m.Head(ctx, li.Name, z, 1)
		if err != nil {
			return nil, err
		}
		beforeImgs, err := m.Tail(ctx, feats)
		if err != nil {
			return nil, err
		}
		labels, beforeFeat, err := segment(ctx, m, beforeImgs)
		if err != nil {
			return nil, err
		}
		conceptMask, present := ConceptMask(labels, w, h, uint8(class), cfg.Dilate)
		if float64(present) < cfg.MinShare*float64(w*h) {
			continue
		}
		t.IDs = append(t.IDs, id)
		unedited = append(unedited, beforeFeat...)
		before := beforeImgs.RGBA(0, man.Image.Range)

		// The regions: brushed cells (stroke) and the concept's pixels (everywhere).
		cells := brushedCells(labels, w, h, li.Width, li.Height, uint8(class), cfg.CellShare)
		scopes := []struct {
			name     string
			ganMask  inference.Mask
			fillMask *image.Gray
			region   []bool
		}{
			{ScopeEverywhere, removeAll, conceptMask, labelRegion(labels, uint8(class))},
		}
		if cells != nil {
			cm, err := inpaint.MaskFromCells(cells, li.Width, li.Height, w, h)
			if err != nil {
				return nil, err
			}
			scopes = append([]struct {
				name     string
				ganMask  inference.Mask
				fillMask *image.Gray
				region   []bool
			}{{ScopeStroke, inference.Mask{Width: li.Width, Height: li.Height, Alpha: cells}, cm, maskRegion(cm)}}, scopes...)
		}
		for _, sc := range scopes {
			results := map[string]*image.RGBA{}
			times := map[string]time.Duration{}
			cpus := map[string]time.Duration{}
			errs := map[string]error{}
			start := time.Now()
			cpu0, cpuOK := cputime.Process()
			gan.Mask = sc.ganMask
			if err := inference.ApplyEdits(&edited, feats, []inference.Edit{gan}, nil, inference.PoolMax); err != nil {
				return nil, err
			}
			ganImgs, err := m.Tail(ctx, &edited)
			if err != nil {
				return nil, err
			}
			times[MethodGAN] = time.Since(start)
			if cpu1, _ := cputime.Process(); cpuOK {
				cpus[MethodGAN] = cpu1 - cpu0
			}
			results[MethodGAN] = ganImgs.RGBA(0, man.Image.Range)
			fills, err := RunFills(ctx, before, sc.fillMask, fillers)
			if err != nil {
				return nil, err
			}
			for _, f := range fills {
				if f.Err != nil {
					errs[f.Method] = f.Err
					continue
				}
				results[f.Method], times[f.Method], cpus[f.Method] = f.Image, f.Elapsed, f.CPU
			}
			for _, meth := range methods {
				a := accs[[2]string{sc.name, meth}]
				if e := errs[meth]; e != nil {
					a.row.Err = e
					a.row.Failed++
					continue
				}
				imgs, err := inference.ImagesFromRGBA([]*image.RGBA{results[meth]}, man.Image.Range)
				if err != nil {
					return nil, err
				}
				after, f, err := segment(ctx, m, imgs)
				if err != nil {
					return nil, err
				}
				a.row.Images++
				a.row.ShareBefore += regionShare(labels, sc.region, uint8(class))
				a.row.ShareAfter += regionShare(after, sc.region, uint8(class))
				a.row.Times = append(a.row.Times, times[meth])
				if cpuOK {
					a.row.CPU = append(a.row.CPU, cpus[meth])
				}
				a.feats = append(a.feats, f...)
			}
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "image %d/%d (id %d, %s %.1f%%, %d brushed cells)\n",
				len(t.IDs), cfg.Samples, id, cfg.Concept, 100*float64(present)/float64(w*h), countCells(cells))
		}
	}
	if len(t.IDs) == 0 {
		return nil, fmt.Errorf("compare: no image among %d tried has %q on ≥ %.1f%% of its pixels", t.Tried, cfg.Concept, 100*cfg.MinShare)
	}
	t.Unedited = fidOf(unedited, m.FeatureDim(), cfg.Reference)
	for _, scope := range []string{ScopeStroke, ScopeEverywhere} {
		for _, meth := range methods {
			a := accs[[2]string{scope, meth}]
			r := a.row
			if r.Images > 0 {
				r.ShareBefore /= float64(r.Images)
				r.ShareAfter /= float64(r.Images)
			}
			r.FID = fidOf(a.feats, m.FeatureDim(), cfg.Reference)
			t.Rows = append(t.Rows, r)
		}
	}
	return t, nil
}

// segment returns labels and, when the segmenter has them, features.
func segment(ctx context.Context, m *inference.Model, imgs *inference.Images) ([]uint8, []float32, error) {
	if m.FeatureDim() == 0 {
		l, err := m.Segment(ctx, imgs)
		return l, nil, err
	}
	return m.SegmentFeatures(ctx, imgs)
}

// nan marks "not measured".
var nan = math.NaN()

// fidOf is the FID of feats against ref, NaN without a reference or with
// fewer than two images.
func fidOf(feats []float32, dim int, ref *fid.Stats) float64 {
	if ref == nil || dim == 0 || len(feats) < 2*dim {
		return nan
	}
	s, err := fid.Compute(feats, dim)
	if err != nil {
		return nan
	}
	d, err := fid.Distance(s, *ref)
	if err != nil {
		return nan
	}
	return d
}

// brushedCells marks the cells of a gw×gh grid that class covers at least
// share of (pixel (x, y) is in cell (x·gw/w, y·gh/h)); nil when none is.
func brushedCells(labels []uint8, w, h, gw, gh int, class uint8, share float64) []float32 {
	hit := make([]int, gw*gh)
	all := make([]int, gw*gh)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := (y*gh/h)*gw + x*gw/w
			all[c]++
			if labels[y*w+x] == class {
				hit[c]++
			}
		}
	}
	cells := make([]float32, gw*gh)
	any := false
	for c := range cells {
		if all[c] > 0 && float64(hit[c]) >= share*float64(all[c]) {
			cells[c] = 1
			any = true
		}
	}
	if !any {
		return nil
	}
	return cells
}

func countCells(cells []float32) int {
	n := 0
	for _, v := range cells {
		if v != 0 {
			n++
		}
	}
	return n
}

func labelRegion(labels []uint8, class uint8) []bool {
	r := make([]bool, len(labels))
	for i, l := range labels {
		r[i] = l == class
	}
	return r
}

func maskRegion(m *image.Gray) []bool {
	r := make([]bool, len(m.Pix))
	for i, v := range m.Pix {
		r[i] = v != 0
	}
	return r
}

// regionShare is the share of the region's pixels labelled class.
func regionShare(labels []uint8, region []bool, class uint8) float64 {
	n, hit := 0, 0
	for i, in := range region {
		if in {
			n++
			if labels[i] == class {
				hit++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(hit) / float64(n)
}

// Write prints the table.
func (t *Table) Write(w io.Writer) {
	c := t.Config
	brush := c.Brush
	if brush == "" {
		brush = "units"
	}
	fmt.Fprintf(w, "Removing %q at %s with %s (%s, strength %g, %d units) from %d images (ids tried: %d, concept on ≥ %.1f%% of the image)\n",
		c.Concept, c.Layer, brush, c.GAN.Mode, c.GAN.Strength, len(c.GAN.Units), len(t.IDs), t.Tried, 100*c.MinShare)
	fmt.Fprintf(w, "stroke: brushed cells = cells the concept covers ≥ %.0f%% of; everywhere: the segmenter's mask, grown %d px for the fills\n",
		100*c.CellShare, c.Dilate)
	if c.Reference != nil {
		fmt.Fprintf(w, "FID: segmenter features of the edited images against %d renders; unedited images: %.3f\n", c.Reference.N, t.Unedited)
	} else {
		fmt.Fprintln(w, "FID: not measured (the model has no fid_reference.json or its segmenter no features output)")
	}
	fmt.Fprintf(w, "\n| scope | method | images | %s share in region before | after | FID | ms per image, median: CPU | wall |\n", c.Concept)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	var notes []string
	for _, r := range t.Rows {
		if r.Images == 0 {
			why := "no image"
			if r.Err != nil {
				why = r.Err.Error()
			}
			fmt.Fprintf(w, "| %s | %s | 0 | – | – | – | %s | |\n", r.Scope, Labels[r.Method], why)
			continue
		}
		fidText := "–"
		if !math.IsNaN(r.FID) {
			fidText = fmt.Sprintf("%.3f", r.FID)
		}
		cpuText := "–"
		if len(r.CPU) > 0 {
			cpuText = fmt.Sprintf("%.1f", r.MedianCPUMS())
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.3f | %.3f | %s | %s | %.1f |\n", r.Scope, Labels[r.Method], r.Images,
			r.ShareBefore, r.ShareAfter, fidText, cpuText, r.MedianMS())
		if r.Failed > 0 {
			notes = append(notes, fmt.Sprintf("%s, %s: failed on %d images (%v)", r.Scope, Labels[r.Method], r.Failed, r.Err))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}
