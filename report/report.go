// Package report turns a model's dissection results into what the report
// pages show (docs/report.md): per-layer summaries, concept counts, unit
// records with their rankings and causal measurements, and the images —
// top-image strips with the unit's region outlined, segmentations,
// activation heat maps — rendered from the model on demand and cached within
// a bound. The web package draws the pages from this data; the server serves
// them live and the static writer saves them as files.
package report

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// ErrNotFound is returned for a layer, unit, image id or image key that the
// report does not have; servers answer it with 404.
var ErrNotFound = errors.New("report: not found")

// Class is a segmentation class with its display colour.
type Class struct {
	Name  string
	Color string // "#rrggbb"
}

// ConceptCount is how many interpretable units of a layer carry a label.
type ConceptCount struct {
	Class
	Units int
}

// Layer is one dissected layer as the report shows it.
type Layer struct {
	*dissection.Layer
	// Interpretable units and the distinct concepts they cover.
	Interpretable int
	Concepts      int
	// Counts are the concepts with at least one interpretable unit, most
	// units first (ties in class order).
	Counts []ConceptCount
	// Rankings are every named ranking of the layer ("tree-iou", …).
	Rankings []dissection.NamedRanking
}

// Report is everything the report pages are drawn from. It is immutable
// after New.
type Report struct {
	Model   string
	Title   string
	ImageW  int
	ImageH  int
	MaxID   int64
	Classes []Class
	Layers  []*Layer // dissected layers in generator order
	// PaintLayer is the layer the painter paints at by default (the
	// manifest's default_layer): the unit editor opens on it when it is
	// dissected, so that its units paint in a new painter session.
	PaintLayer string
	// Segmented is whether the model has its segmenter: without it (a
	// slimmed old model) the report shows no segmentations.
	Segmented bool
	// Version changes whenever the model or its dissection does; image URLs
	// carry it so they can be cached for good.
	Version string

	classIdx map[string]int
	byName   map[string]*Layer
}

// safeName is what a layer name must look like to appear in URLs and file
// names without escaping.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// greyColor is the colour of a class the segmenter does not describe.
const greyColor = "#9e9e9e"

// New builds the report of a model (its manifest and generator layers) and
// its dissection results.
func New(man inference.Manifest, layers []inference.LayerInfo, res *dissection.Results) (*Report, error) {
	if res == nil || len(res.Layers) == 0 {
		return nil, fmt.Errorf("report: %w", dissection.ErrNoResults)
	}
	r := &Report{Model: man.Name, Title: man.Title, ImageW: man.Image.Width, ImageH: man.Image.Height,
		MaxID: man.Z.MaxID, PaintLayer: man.DefaultLayer, classIdx: map[string]int{}, byName: map[string]*Layer{}}
	if r.Title == "" {
		r.Title = r.Model
	}
	r.Segmented = man.Segmenter != nil
	// The classes and colours are the segmenter's, or the palette a
	// slimmed model keeps in their place.
	classes := man.Palette
	if man.Segmenter != nil {
		classes = man.Segmenter.Classes
	}
	colors := map[string]string{}
	for _, c := range classes {
		colors[c.Name] = c.Color
	}
	addClass := func(name string) {
		if _, ok := r.classIdx[name]; ok {
			return
		}
		col := colors[name]
		if !hexColor.MatchString(col) {
			col = greyColor
		}
		r.classIdx[name] = len(r.Classes)
		r.Classes = append(r.Classes, Class{Name: name, Color: col})
	}
	for _, c := range classes {
		addClass(c.Name)
	}
	h := sha256.New()
	h.Write([]byte(man.Name))
	for _, li := range layers {
		dl, ok := res.Layers[li.Name]
		if !ok {
			continue
		}
		if !safeName.MatchString(li.Name) {
			return nil, fmt.Errorf("report: layer name %q cannot be used in URLs", li.Name)
		}
		if dl.Channels != li.Channels || len(dl.Units) != li.Channels {
			return nil, fmt.Errorf("report: dissection of %s has %d units, the model %d", li.Name, len(dl.Units), li.Channels)
		}
		for _, c := range dl.ClassNames {
			addClass(c)
		}
		l := &Layer{Layer: dl, Rankings: dl.NamedRankings()}
		l.Interpretable, l.Concepts = dl.Summary()
		counts := map[string]int{}
		for _, u := range dl.Units {
			if u.Interpretable {
				counts[u.Label]++
			}
		}
		for name, n := range counts {
			l.Counts = append(l.Counts, ConceptCount{Class: r.Classes[r.classIdx[name]], Units: n})
		}
		sort.Slice(l.Counts, func(i, j int) bool {
			a, b := l.Counts[i], l.Counts[j]
			if a.Units != b.Units {
				return a.Units > b.Units
			}
			return r.classIdx[a.Name] < r.classIdx[b.Name]
		})
		r.Layers = append(r.Layers, l)
		r.byName[li.Name] = l
		fingerprint(h, dl)
	}
	if len(r.Layers) == 0 {
		return nil, fmt.Errorf("report: none of the dissected layers is a layer of model %s", man.Name)
	}
	r.Version = hex.EncodeToString(h.Sum(nil))[:12]
	return r, nil
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// fingerprint hashes what the report's images depend on besides the model:
// the layer's sample set and every unit's threshold and top images.
func fingerprint(h interface{ Write([]byte) (int, error) }, l *dissection.Layer) {
	var b [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	h.Write([]byte(l.Layer))
	put(uint64(l.Samples))
	put(uint64(l.Seed))
	for _, u := range l.Units {
		put(uint64(math.Float32bits(u.Threshold)))
		for _, id := range u.TopIDs {
			put(uint64(id))
		}
	}
}

// Layer returns a dissected layer by name.
func (r *Report) Layer(name string) (*Layer, error) {
	l, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: layer %q", ErrNotFound, name)
	}
	return l, nil
}

// Class returns a class by name (grey for one the report does not know).
func (r *Report) Class(name string) Class {
	if i, ok := r.classIdx[name]; ok {
		return r.Classes[i]
	}
	return Class{Name: name, Color: greyColor}
}

// ClassIndex is the class's position in Classes, or -1.
func (r *Report) ClassIndex(name string) int {
	if i, ok := r.classIdx[name]; ok {
		return i
	}
	return -1
}

// AllConcepts are the concepts with interpretable units in any layer, most
// units (summed over layers) first.
func (r *Report) AllConcepts() []Class {
	total := map[string]int{}
	for _, l := range r.Layers {
		for _, c := range l.Counts {
			total[c.Name] += c.Units
		}
	}
	out := make([]Class, 0, len(total))
	for name := range total {
		out = append(out, r.Class(name))
	}
	slices.SortFunc(out, func(a, b Class) int {
		if total[a.Name] != total[b.Name] {
			return total[b.Name] - total[a.Name]
		}
		return r.classIdx[a.Name] - r.classIdx[b.Name]
	})
	return out
}

// Count returns how many interpretable units of the layer carry concept.
func (l *Layer) Count(concept string) int {
	for _, c := range l.Counts {
		if c.Name == concept {
			return c.Units
		}
	}
	return 0
}

// Unit returns a unit's record.
func (l *Layer) Unit(u int) (*dissection.Unit, error) {
	if u < 0 || u >= len(l.Units) {
		return nil, fmt.Errorf("%w: unit %d of %s (0..%d)", ErrNotFound, u, l.Layer.Layer, len(l.Units)-1)
	}
	return &l.Units[u], nil
}
