package fid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
	"io/fs"
	"math"
	"path/filepath"
)

// ReferenceFile is the file name inside a model directory.
const ReferenceFile = "fid_reference.json"

// Reference file identity (docs/model-format.md).
const (
	ReferenceFormat  = "ganpaint-fid-reference"
	ReferenceVersion = 1
	// FeaturesSegmenter names the features the statistics are of.
	FeaturesSegmenter = "segmenter.features"
)

// maxReferenceBytes bounds what ParseReference reads (MaxDim² numbers).
const maxReferenceBytes = 16 << 20

var (
	// ErrNoReference: the model directory has no fid_reference.json.
	ErrNoReference = errors.New("fid: model has no " + ReferenceFile)
	// ErrBadReference: the file is malformed or inconsistent.
	ErrBadReference = errors.New("fid: bad reference file")
)

// Reference is fid_reference.json: the statistics of real images' features.
type Reference struct {
	Format   string      `json:"format"`
	Version  int         `json:"version"`
	Features string      `json:"features"`
	Dim      int         `json:"dim"`
	N        int         `json:"n"`
	Source   string      `json:"source"`
	Mean     []float64   `json:"mean"`
	Cov      [][]float64 `json:"cov"`
}

// NewReference wraps stats with the file's identity fields.
func NewReference(s Stats, source string) Reference {
	dim := s.Dim()
	cov := make([][]float64, dim)
	for i := range cov {
		cov[i] = append([]float64(nil), s.Cov[i*dim:(i+1)*dim]...)
	}
	return Reference{Format: ReferenceFormat, Version: ReferenceVersion, Features: FeaturesSegmenter,
		Dim: dim, N: s.N, Source: source, Mean: append([]float64(nil), s.Mean...), Cov: cov}
}

// Stats returns the reference as Stats.
func (r Reference) Stats() Stats {
	cov := make([]float64, 0, r.Dim*r.Dim)
	for _, row := range r.Cov {
		cov = append(cov, row...)
	}
	return Stats{N: r.N, Mean: append([]float64(nil), r.Mean...), Cov: cov}
}

// ParseReference decodes and validates fid_reference.json.
func ParseReference(data []byte) (Reference, error) {
	var r Reference
	if len(data) > maxReferenceBytes {
		return r, fmt.Errorf("%w: %d bytes, limit %d", ErrBadReference, len(data), maxReferenceBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return Reference{}, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	if dec.More() {
		return Reference{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadReference)
	}
	if err := r.Validate(); err != nil {
		return Reference{}, err
	}
	return r, nil
}

// Validate checks the identity fields and the shapes and values of the
// statistics.
func (r Reference) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadReference}, args...)...)
	}
	if r.Format != ReferenceFormat {
		return bad("format %q, want %q", r.Format, ReferenceFormat)
	}
	if r.Version != ReferenceVersion {
		return bad("version %d is not supported (this build reads %d)", r.Version, ReferenceVersion)
	}
	if r.Features != FeaturesSegmenter {
		return bad("features %q, want %q", r.Features, FeaturesSegmenter)
	}
	if r.Dim <= 0 || r.Dim > MaxDim {
		return bad("dim %d outside [1, %d]", r.Dim, MaxDim)
	}
	if r.N < 2 {
		return bad("n %d: statistics of fewer than two images", r.N)
	}
	if len(r.Mean) != r.Dim || len(r.Cov) != r.Dim {
		return bad("mean has %d values and cov %d rows for dim %d", len(r.Mean), len(r.Cov), r.Dim)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for i, v := range r.Mean {
		if !finite(v) {
			return bad("mean[%d] is not finite", i)
		}
	}
	for i, row := range r.Cov {
		if len(row) != r.Dim {
			return bad("cov row %d has %d values for dim %d", i, len(row), r.Dim)
		}
		for j, v := range row {
			if !finite(v) {
				return bad("cov[%d][%d] is not finite", i, j)
			}
		}
	}
	for i := 0; i < r.Dim; i++ {
		if r.Cov[i][i] < 0 {
			return bad("cov[%d][%d] = %v is a negative variance", i, i, r.Cov[i][i])
		}
		for j := 0; j < i; j++ {
			if d := math.Abs(r.Cov[i][j] - r.Cov[j][i]); d > 1e-9*(1+math.Abs(r.Cov[i][j])) {
				return bad("cov is not symmetric at [%d][%d]", i, j)
			}
		}
	}
	return nil
}

// LoadReference reads fid_reference.json from a model directory (fsys rooted
// at it); ErrNoReference when there is none.
func LoadReference(fsys fs.FS) (Reference, error) {
	data, err := fs.ReadFile(fsys, ReferenceFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Reference{}, ErrNoReference
	}
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	return ParseReference(data)
}

// WriteReference writes r as dir/fid_reference.json through a temporary
// file and a rename, so a reader never sees half a file.
func WriteReference(dir string, r Reference) error {
	if err := r.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ReferenceFile), append(data, '\n'))
}
