package dissection

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// SchemaVersion is the version of the files under <model>/dissection/ that
// this package writes (docs/dissection-format.md). Version 2 added learned
// concept recipes; files of version 1 (no recipes) are still read.
const SchemaVersion = 2

// minSchemaVersion is the oldest version Load reads.
const minSchemaVersion = 1

// Dir is the directory of the results, relative to the model directory.
const Dir = "dissection"

// IndexFile is the name of the index inside Dir.
const IndexFile = "index.json"

var (
	// ErrSchemaVersion: the results were written by an older or newer
	// version of the tool; rerun `ganpaint dissect`.
	ErrSchemaVersion = errors.New("dissection: unsupported results schema version")
	// ErrNoResults: the model directory has no dissection.
	ErrNoResults = errors.New("dissection: no dissection results")
	// ErrBadResults: a results file exists but is malformed or inconsistent.
	ErrBadResults = errors.New("dissection: malformed results")
	// ErrUnknownLayer: the layer was not dissected (or does not exist).
	ErrUnknownLayer = errors.New("dissection: unknown layer")
	// ErrUnknownConcept: no class of that name in the results.
	ErrUnknownConcept = errors.New("dissection: unknown concept")
)

// Index is dissection/index.json.
type Index struct {
	SchemaVersion int               `json:"schema_version"`
	Model         string            `json:"model"`
	Layers        map[string]string `json:"layers"` // layer name → file name inside Dir
}

// Unit is one unit's dissection record.
type Unit struct {
	Unit  int    `json:"unit"`
	Label string `json:"label"` // best class
	// IoU with the best class at Threshold, over all pixels of all samples.
	IoU float64 `json:"iou"`
	// IQR (mutual information / joint entropy) with the best class at Threshold.
	IQR           float64 `json:"iqr"`
	Interpretable bool    `json:"interpretable"`
	// Level is the unit's 0.99 quantile: the value "add" paints with.
	Level float32 `json:"level"`
	// Threshold is the activation above which a pixel counts as "unit on".
	Threshold float32 `json:"threshold"`
	// ThresholdQuantile is the quantile that Threshold sits at.
	ThresholdQuantile float64 `json:"threshold_quantile"`
	// ClassIoU[c] is the IoU with class c at Threshold (order of ClassNames).
	ClassIoU []float64 `json:"class_iou"`
	TopIDs   []int64   `json:"top_ids"`
	TopActs  []float32 `json:"top_acts"`
}

// CausalEffect is one (class, k) row of the causal measurement: the top-k
// IoU-ranked units as a brush, measured by the efficacy benchmark (schema 2;
// docs/dissection-format.md). The fields marked "schema 1" are only in
// results written before, which measured differently.
type CausalEffect struct {
	K     int   `json:"k"`
	Units []int `json:"units"`
	// Painting the units at their levels into regions: success where the
	// class plausibly belongs and over all regions, mean rise of its share,
	// label changes around (near) and beyond (far) the region.
	Success    float64 `json:"success"`
	SuccessAll float64 `json:"success_all"`
	Rise       float64 `json:"rise"`
	LeakNear   float64 `json:"leak_near"`
	LeakFar    float64 `json:"leak_far"`
	// Switching them off everywhere on images showing the class: relative
	// drop of its pixels, share of images losing half of them, share of the
	// other pixels that changed; and the mean relative drop inside regions
	// the class covered at least half of when switched off there.
	RelDrop    float64 `json:"rel_drop"`
	Half       float64 `json:"half"`
	Damage     float64 `json:"damage"`
	RegionDrop float64 `json:"region_drop"`
	Plausible  int     `json:"plausible_regions"` // plausible regions painted
	Images     int     `json:"images"`            // images erased
	// Schema 1 only.
	ShareBefore float64 `json:"share_before,omitempty"`
	ShareAfter  float64 `json:"share_after,omitempty"`
	Drop        float64 `json:"drop,omitempty"`
	RegionShare float64 `json:"region_before,omitempty"`
	RegionAfter float64 `json:"region_after,omitempty"`
}

// LocationMap is, for one class, how often painting its top units into each
// region of the efficacy tiling succeeds (schema 1: into each layer cell,
// "appears" at AppearShare).
type LocationMap struct {
	K    int       `json:"k"`
	Rows int       `json:"rows"`
	Cols int       `json:"cols"`
	Rate []float64 `json:"rate"` // Rows×Cols, row-major, in [0,1]
	// Eligible[i] counts the images where the class did not already cover
	// half of region i, the denominator of Rate[i].
	Eligible []int `json:"eligible"`
	Images   int   `json:"images"`
}

// Causal holds the measured causal effects of one layer.
type Causal struct {
	Samples int     `json:"samples"`
	IDs     []int64 `json:"ids"`
	Ks      []int   `json:"ks"`
	// Side is the efficacy tiling (Side×Side regions); 0 in schema 1.
	Side         int                       `json:"side,omitempty"`
	RegionCells  int                       `json:"region_cells"`           // side of a region, layer cells
	AppearShare  float64                   `json:"appear_share,omitempty"` // schema 1
	Effects      map[string][]CausalEffect `json:"effects"`                // class → one row per k
	Locations    map[string]LocationMap    `json:"locations"`              // class → map
	LocationSize int                       `json:"location_images"`
}

// Layer is dissection/<layer>.json.
type Layer struct {
	SchemaVersion int    `json:"schema_version"`
	Model         string `json:"model"`
	Layer         string `json:"layer"`
	Channels      int    `json:"channels"`
	Height        int    `json:"height"`
	Width         int    `json:"width"`
	Samples       int    `json:"samples"`
	Seed          int64  `json:"seed"`
	// SegHeight × SegWidth is the segmentation grid the IoU is measured on.
	SegHeight int `json:"seg_height"`
	SegWidth  int `json:"seg_width"`

	// Quantiles is each unit's activation distribution (absent in files
	// written before it was added; the REST API then answers fewer questions).
	Quantiles *QuantileTable `json:"quantiles,omitempty"`
	// Candidates is where method "iqr" took its candidate levels from:
	// "upsampled" or "native" (docs/dissection-format.md).
	Candidates string `json:"candidates,omitempty"`
	// Background is the class that was never a label and has no ranking.
	Background string `json:"background,omitempty"`

	// ThresholdMethod is "quantile" or "iqr".
	ThresholdMethod string   `json:"threshold_method"`
	Quantile        float64  `json:"quantile"` // fixed quantile (method "quantile")
	LevelQuantile   float64  `json:"level_quantile"`
	IoUThreshold    float64  `json:"iou_threshold"`
	IQRThreshold    float64  `json:"iqr_threshold"`
	ClassNames      []string `json:"class_names"`
	// ClassShare[c] is the fraction of segmented pixels of class c.
	ClassShare []float64 `json:"class_share"`
	Units      []Unit    `json:"units"`
	// Rankings maps every class to all units sorted by IoU with it (desc).
	Rankings map[string][]int `json:"rankings"`
	Causal   *Causal          `json:"causal,omitempty"`
	// Recipes are learned ways to paint or erase a concept at this layer
	// (schema 2), by name ("tree-ace", "tree-dense", "tree-erase", …). A
	// recipe's units, in order, are also the ranking of that name.
	Recipes map[string]*Recipe `json:"recipes,omitempty"`
}

// Recipe is a learned concept brush: an inference.ModeBlend edit that moves
// unit Units[i] towards Values[i] with weight Weights[i]
// (docs/dissection-format.md). It is made by training/recipes.py.
type Recipe struct {
	Concept string `json:"concept"`
	// Kind is how it was made: "ace" (sparse weights and values, in the
	// reference's style), "dense" (every unit), or another trainer's name.
	Kind string `json:"kind"`
	// Remove is true for recipes that erase the concept.
	Remove bool `json:"remove"`
	// Units with a non-zero weight, by weight (largest first).
	Units   []int     `json:"units"`
	Weights []float32 `json:"weights"`
	Values  []float32 `json:"values"`
	// Training records how the recipe was made (free-form, for people).
	Training map[string]any `json:"training,omitempty"`
}

// Summary counts interpretable units and the distinct labels they cover.
func (l *Layer) Summary() (interpretable, concepts int) {
	seen := map[string]bool{}
	for _, u := range l.Units {
		if u.Interpretable {
			interpretable++
			seen[u.Label] = true
		}
	}
	return interpretable, len(seen)
}

// Levels returns each unit's "add" level, in unit order, for
// inference.Model.SetLevels.
func (l *Layer) Levels() []float32 {
	out := make([]float32, len(l.Units))
	for i, u := range l.Units {
		out[i] = u.Level
	}
	return out
}

// Ranking returns all units ordered by IoU with concept, best first; a
// recipe's name gives the recipe's units, largest weight first.
func (l *Layer) Ranking(concept string) ([]int, error) {
	r, ok := l.Rankings[concept]
	if rc, isRecipe := l.Recipes[concept]; !ok && isRecipe {
		r, ok = rc.Units, true
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q in layer %s (classes: %s)", ErrUnknownConcept, concept, l.Layer, strings.Join(l.ClassNames, ", "))
	}
	return slices.Clone(r), nil
}

// Results is a loaded dissection: every dissected layer of one model.
type Results struct {
	Model  string
	Layers map[string]*Layer
}

// layer is Layer for a possibly nil Results.
func (r *Results) layer(name string) (*Layer, bool) {
	if r == nil {
		return nil, false
	}
	l, ok := r.Layers[name]
	return l, ok
}

// Layer returns one layer's results.
func (r *Results) Layer(name string) (*Layer, error) {
	l, ok := r.Layers[name]
	if !ok {
		names := make([]string, 0, len(r.Layers))
		for n := range r.Layers {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%w: %q not dissected (have: %s)", ErrUnknownLayer, name, strings.Join(names, ", "))
	}
	return l, nil
}

// Ranking returns the units of layer ranked for concept, best first.
func (r *Results) Ranking(layer, concept string) ([]int, error) {
	l, err := r.Layer(layer)
	if err != nil {
		return nil, err
	}
	return l.Ranking(concept)
}

// Levels returns the per-unit levels of layer.
func (r *Results) Levels(layer string) ([]float32, error) {
	l, err := r.Layer(layer)
	if err != nil {
		return nil, err
	}
	return l.Levels(), nil
}

// LevelSetter takes a layer's per-unit "add" levels; *inference.Model is one.
type LevelSetter interface {
	SetLevels(layer string, levels []float32) error
}

// ApplyLevels hands every dissected layer's levels to m, so that "add" paints
// each unit at its measured 0.99 quantile instead of the model's fallback.
func (r *Results) ApplyLevels(m LevelSetter) error {
	names := make([]string, 0, len(r.Layers))
	for name := range r.Layers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := m.SetLevels(name, r.Layers[name].Levels()); err != nil {
			return fmt.Errorf("dissection levels of %s: %w", name, err)
		}
	}
	return nil
}

// checkVersion decodes only the version first so that a file from another
// version gets ErrSchemaVersion even when its fields no longer match.
func checkVersion(data []byte, name string) error {
	var v struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadResults, name, err)
	}
	if v.SchemaVersion == nil {
		return fmt.Errorf("%w: %s has no schema_version", ErrSchemaVersion, name)
	}
	if *v.SchemaVersion < minSchemaVersion || *v.SchemaVersion > SchemaVersion {
		age := "older"
		if *v.SchemaVersion > SchemaVersion {
			age = "newer"
		}
		return fmt.Errorf("%w: %s is version %d (%s), this build reads versions %d to %d; rerun `ganpaint dissect`",
			ErrSchemaVersion, name, *v.SchemaVersion, age, minSchemaVersion, SchemaVersion)
	}
	return nil
}

// Load reads the results of the model whose directory is fsys (an os.DirFS
// or an embedded sub-tree rooted at the model). A model without a
// dissection gives ErrNoResults.
func Load(fsys fs.FS) (*Results, error) {
	indexPath := path.Join(Dir, IndexFile)
	data, err := fs.ReadFile(fsys, indexPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s not found (run `ganpaint dissect`)", ErrNoResults, indexPath)
		}
		return nil, fmt.Errorf("dissection: read %s: %w", indexPath, err)
	}
	if err := checkVersion(data, indexPath); err != nil {
		return nil, err
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadResults, indexPath, err)
	}
	res := &Results{Model: idx.Model, Layers: map[string]*Layer{}}
	for name, file := range idx.Layers {
		if file == "" || !fs.ValidPath(file) || strings.Contains(file, "/") {
			return nil, fmt.Errorf("%w: %s: layer %q has bad file name %q", ErrBadResults, indexPath, name, file)
		}
		p := path.Join(Dir, file)
		ld, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s lists %s: %v", ErrBadResults, indexPath, p, err)
		}
		if err := checkVersion(ld, p); err != nil {
			return nil, err
		}
		var l Layer
		if err := json.Unmarshal(ld, &l); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadResults, p, err)
		}
		if l.Layer != name {
			return nil, fmt.Errorf("%w: %s is for layer %q, index says %q", ErrBadResults, p, l.Layer, name)
		}
		if err := l.validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadResults, p, err)
		}
		res.Layers[name] = &l
	}
	return res, nil
}

// validate checks the invariants consumers rely on, so that a hand-edited or
// truncated file fails at load and not later with an index out of range.
func (l *Layer) validate() error {
	if l.Channels <= 0 || len(l.Units) != l.Channels {
		return fmt.Errorf("%d unit records for %d channels", len(l.Units), l.Channels)
	}
	if l.Quantiles != nil {
		if err := l.Quantiles.validate(l.Channels); err != nil {
			return err
		}
	}
	classes := map[string]bool{}
	for _, c := range l.ClassNames {
		if classes[c] {
			return fmt.Errorf("duplicate class %q", c)
		}
		classes[c] = true
	}
	for i, u := range l.Units {
		if u.Unit != i {
			return fmt.Errorf("unit record %d says unit %d", i, u.Unit)
		}
		if f := float64(u.Level); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("unit %d has level %v", i, u.Level)
		}
		if u.Label != "" && !classes[u.Label] {
			return fmt.Errorf("unit %d has unknown label %q", i, u.Label)
		}
		if len(u.ClassIoU) != len(l.ClassNames) {
			return fmt.Errorf("unit %d has %d class IoUs for %d classes", i, len(u.ClassIoU), len(l.ClassNames))
		}
		if len(u.TopIDs) != len(u.TopActs) {
			return fmt.Errorf("unit %d has %d top ids but %d activations", i, len(u.TopIDs), len(u.TopActs))
		}
	}
	for name, rc := range l.Recipes {
		if err := rc.validate(name, l.Channels, classes); err != nil {
			return err
		}
		if _, clash := l.Rankings[name]; clash {
			return fmt.Errorf("recipe %q has the name of a class ranking", name)
		}
	}
	for c, r := range l.Rankings {
		if !classes[c] {
			return fmt.Errorf("ranking for unknown class %q", c)
		}
		seen := make([]bool, l.Channels)
		for _, u := range r {
			if u < 0 || u >= l.Channels || seen[u] {
				return fmt.Errorf("ranking %q has bad or repeated unit %d", c, u)
			}
			seen[u] = true
		}
	}
	return nil
}

func (rc *Recipe) validate(name string, channels int, classes map[string]bool) error {
	if rc == nil {
		return fmt.Errorf("recipe %q is empty", name)
	}
	if name == "" || !classes[rc.Concept] {
		return fmt.Errorf("recipe %q is for unknown class %q", name, rc.Concept)
	}
	if len(rc.Units) == 0 || len(rc.Weights) != len(rc.Units) || len(rc.Values) != len(rc.Units) {
		return fmt.Errorf("recipe %q has %d units, %d weights and %d values", name, len(rc.Units), len(rc.Weights), len(rc.Values))
	}
	seen := make([]bool, channels)
	for i, u := range rc.Units {
		if u < 0 || u >= channels || seen[u] {
			return fmt.Errorf("recipe %q has bad or repeated unit %d", name, u)
		}
		seen[u] = true
		if w := rc.Weights[i]; !(w > 0 && w <= 1) {
			return fmt.Errorf("recipe %q: unit %d has weight %v outside (0, 1]", name, u, w)
		}
		if v := float64(rc.Values[i]); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("recipe %q: unit %d has value %v", name, u, rc.Values[i])
		}
	}
	return nil
}

// Recipe returns the named recipe of a layer.
func (r *Results) Recipe(layer, name string) (*Recipe, error) {
	l, err := r.Layer(layer)
	if err != nil {
		return nil, err
	}
	rc, ok := l.Recipes[name]
	if !ok {
		return nil, fmt.Errorf("%w: no recipe %q in layer %s", ErrUnknownConcept, name, layer)
	}
	return rc, nil
}

// Save writes the results into modelDir/dissection/, each file through a
// temporary file and a rename so a crash never leaves a half-written file;
// the index is written last, so it only ever names complete layer files.
// Layers already on disk but absent from r are kept in the index, and a
// layer saved without recipes keeps the recipes already on disk for it.
func Save(modelDir string, r *Results) error {
	dir := filepath.Join(modelDir, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dissection: %w", err)
	}
	idx := Index{SchemaVersion: SchemaVersion, Model: r.Model, Layers: map[string]string{}}
	var old *Results
	if o, err := Load(os.DirFS(modelDir)); err == nil && o.Model == r.Model {
		old = o
		for name := range old.Layers {
			idx.Layers[name] = name + ".json"
		}
	}
	names := make([]string, 0, len(r.Layers))
	for n := range r.Layers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		l := r.Layers[name]
		if l.Layer != name || !fs.ValidPath(name) || strings.ContainsAny(name, "/\\") {
			return fmt.Errorf("dissection: bad layer name %q", name)
		}
		l.SchemaVersion = SchemaVersion
		// Recipes are trained after the dissection (training/recipes.py);
		// re-dissecting the same model keeps them.
		if prev, ok := old.layer(name); ok && len(l.Recipes) == 0 && len(prev.Recipes) > 0 && prev.Channels == l.Channels {
			l.Recipes = prev.Recipes
		}
		if err := writeJSONAtomic(filepath.Join(dir, name+".json"), l); err != nil {
			return err
		}
		idx.Layers[name] = name + ".json"
	}
	return writeJSONAtomic(filepath.Join(dir, IndexFile), idx)
}

func writeJSONAtomic(dst string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("dissection: encode %s: %w", filepath.Base(dst), err)
	}
	if err := atomicfile.WriteBytes(dst, append(data, '\n')); err != nil {
		return fmt.Errorf("dissection: write %s: %w", dst, err)
	}
	return nil
}

// WriteSummary prints the layer's headline ("k/N units interpretable
// covering M concepts") and, per class, the best unit's IoU and how many
// interpretable units carry that label.
func (l *Layer) WriteSummary(w io.Writer) {
	k, m := l.Summary()
	fmt.Fprintf(w, "%s (%d×%d, %d samples, %s threshold): %d/%d units interpretable covering %d concepts\n",
		l.Layer, l.Height, l.Width, l.Samples, l.ThresholdMethod, k, len(l.Units), m)
	fmt.Fprintf(w, "  %-12s %7s %6s %6s %7s\n", "class", "share", "top", "unit", "labeled")
	for c, name := range l.ClassNames {
		r := l.Rankings[name]
		if len(r) == 0 {
			continue
		}
		labeled := 0
		for _, u := range l.Units {
			if u.Interpretable && u.Label == name {
				labeled++
			}
		}
		share := 0.0
		if c < len(l.ClassShare) {
			share = l.ClassShare[c]
		}
		best := r[0]
		top := 0.0
		if c < len(l.Units[best].ClassIoU) {
			top = l.Units[best].ClassIoU[c]
		}
		fmt.Fprintf(w, "  %-12s %6.2f%% %6.3f %6d %7d\n", name, 100*share, top, best, labeled)
	}
}
