package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
)

// SchemaVersion of the artifacts file.
const SchemaVersion = 1

// maxFileBytes bounds what Parse reads.
const maxFileBytes = 16 << 20

var (
	// ErrNoRanking: the model has no artifacts file for the layer.
	ErrNoRanking = errors.New("artifacts: no ranking for this layer (run ganpaint artifacts)")
	// ErrBadFile: the file is malformed or inconsistent.
	ErrBadFile = errors.New("artifacts: bad ranking file")
)

// FileName is the ranking file of a layer, inside the dissection folder.
func FileName(layer string) string { return "artifacts-" + layer + ".json" }

// Score is the realism of a set of images: the mean discriminator score
// (0 when the model has none) and FID against the reference (0 when not
// measured).
type Score struct {
	Disc float64 `json:"disc"`
	FID  float64 `json:"fid"`
}

// UnitScore is one unit's ablation: the change of the mean discriminator
// score (positive = more realistic) and the FID with the unit ablated and
// its change (negative = more realistic).
type UnitScore struct {
	Unit      int     `json:"unit"`
	DiscDelta float64 `json:"disc_delta"`
	FID       float64 `json:"fid"`
	FIDDelta  float64 `json:"fid_delta"`
}

// RepairScore is the repair measured on the held-out images: the top K
// units of a ranking ablated everywhere.
type RepairScore struct {
	Ranking string `json:"ranking"`
	K       int    `json:"k"`
	Units   []int  `json:"units"`
	Before  Score  `json:"before"`
	After   Score  `json:"after"`
}

// Result is dissection/artifacts-<layer>.json (docs/dissection-format.md).
type Result struct {
	SchemaVersion int    `json:"schema_version"`
	Model         string `json:"model"`
	Layer         string `json:"layer"`
	Samples       int    `json:"samples"`
	Holdout       int    `json:"holdout"`
	Seed          int64  `json:"seed"`
	// Discriminator and FIDMeasured say which measures were available.
	Discriminator bool `json:"discriminator"`
	FIDMeasured   bool `json:"fid_measured"`
	ReferenceN    int  `json:"reference_n,omitempty"`
	// RepairK is how many top units of RepairRanking the painter's
	// toggle ablates.
	RepairK       int    `json:"repair_k"`
	RepairRanking string `json:"repair_ranking"`

	Baseline Score            `json:"baseline"`
	Units    []UnitScore      `json:"units"`
	Rankings map[string][]int `json:"rankings"`
	Repair   []RepairScore    `json:"repair"`
	Seconds  float64          `json:"seconds"`
}

// rankingNames lists the rankings the result has, in preference order.
func (r *Result) rankingNames() []string {
	var out []string
	for _, n := range []string{ByDiscriminator, ByFID} {
		if _, ok := r.Rankings[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// sortRankings builds Rankings from Units (ties: lower unit first) and
// replaces unmeasured FIDs (NaN) by 0 so the file is valid JSON.
func (r *Result) sortRankings() {
	units := func(better func(a, b UnitScore) int) []int {
		s := slices.Clone(r.Units)
		slices.SortStableFunc(s, better)
		out := make([]int, len(s))
		for i, u := range s {
			out[i] = u.Unit
		}
		return out
	}
	if r.Discriminator {
		r.Rankings[ByDiscriminator] = units(func(a, b UnitScore) int { return cmpDesc(a.DiscDelta, b.DiscDelta) })
	}
	if r.FIDMeasured {
		r.Rankings[ByFID] = units(func(a, b UnitScore) int { return cmpDesc(-a.FIDDelta, -b.FIDDelta) })
	} else {
		r.Baseline.FID = 0
		for i := range r.Units {
			r.Units[i].FID, r.Units[i].FIDDelta = 0, 0
		}
	}
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// Top returns the units the painter's repair toggle ablates: the first
// RepairK of RepairRanking.
func (r *Result) Top() []int {
	rk := r.Rankings[r.RepairRanking]
	if len(rk) < r.RepairK {
		return nil
	}
	return slices.Clone(rk[:r.RepairK])
}

// Validate checks the file against itself (units, rankings, repair rows).
func (r *Result) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadFile}, args...)...)
	}
	if r.SchemaVersion != SchemaVersion {
		return bad("schema version %d, this build reads %d (rerun ganpaint artifacts)", r.SchemaVersion, SchemaVersion)
	}
	if r.Layer == "" || strings.ContainsAny(r.Layer, "/\\") || len(r.Layer) > 64 {
		return bad("layer %q", r.Layer)
	}
	n := len(r.Units)
	if n == 0 || n > 1<<16 {
		return bad("%d units", n)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for i, u := range r.Units {
		if u.Unit != i {
			return bad("units[%d] is unit %d", i, u.Unit)
		}
		if !finite(u.DiscDelta) || !finite(u.FID) || !finite(u.FIDDelta) {
			return bad("unit %d has a non-finite score", i)
		}
	}
	if !finite(r.Baseline.Disc) || !finite(r.Baseline.FID) {
		return bad("baseline is not finite")
	}
	if !r.Discriminator && !r.FIDMeasured {
		return bad("neither the discriminator nor FID was measured")
	}
	for name, want := range map[string]bool{ByDiscriminator: r.Discriminator, ByFID: r.FIDMeasured} {
		rk, ok := r.Rankings[name]
		if ok != want {
			return bad("ranking %q present %v, measured %v", name, ok, want)
		}
		if !ok {
			continue
		}
		if len(rk) != n {
			return bad("ranking %q has %d units, want %d", name, len(rk), n)
		}
		seen := make([]bool, n)
		for _, u := range rk {
			if u < 0 || u >= n || seen[u] {
				return bad("ranking %q lists unit %d twice or out of range", name, u)
			}
			seen[u] = true
		}
	}
	if len(r.Rankings) != len(r.rankingNames()) {
		return bad("unknown ranking in %v", r.Rankings)
	}
	if r.RepairK < 1 || r.RepairK > n {
		return bad("repair_k %d outside 1..%d", r.RepairK, n)
	}
	if _, ok := r.Rankings[r.RepairRanking]; !ok {
		return bad("repair_ranking %q is not one of the rankings", r.RepairRanking)
	}
	for i, rp := range r.Repair {
		if _, ok := r.Rankings[rp.Ranking]; !ok {
			return bad("repair[%d] uses ranking %q", i, rp.Ranking)
		}
		if rp.K < 1 || rp.K > n || len(rp.Units) != rp.K {
			return bad("repair[%d]: k %d with %d units", i, rp.K, len(rp.Units))
		}
		for _, v := range []float64{rp.Before.Disc, rp.Before.FID, rp.After.Disc, rp.After.FID} {
			if !finite(v) {
				return bad("repair[%d] has a non-finite score", i)
			}
		}
	}
	return nil
}

// Parse decodes and validates an artifacts file.
func Parse(data []byte) (*Result, error) {
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadFile, len(data), maxFileBytes)
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadFile)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Load reads the ranking of layer from a model directory (fsys rooted at
// it); ErrNoRanking when there is none.
func Load(fsys fs.FS, layer string) (*Result, error) {
	data, err := fs.ReadFile(fsys, path.Join(dissection.Dir, FileName(layer)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoRanking
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if r.Layer != layer {
		return nil, fmt.Errorf("%w: %s holds layer %q", ErrBadFile, FileName(layer), r.Layer)
	}
	return r, nil
}

// Save writes r into modelDir/dissection/ through a temporary file and a
// rename.
func Save(modelDir string, r *Result) error {
	if err := r.Validate(); err != nil {
		return err
	}
	dir := filepath.Join(modelDir, dissection.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, FileName(r.Layer)), append(data, '\n'))
}
