// Package fid measures how far a set of images is from real ones: the
// Fréchet distance between Gaussians fitted to feature vectors (FID). The
// features are the segmenter's pooled penultimate activations (the model
// format's "features" output), not Inception's, which cannot be had here;
// the formula is the one training/eval_quality.py uses, so the numbers are
// comparable with the model's metrics.json (fid_seg).
//
// A model stores the statistics of real images once, in fid_reference.json
// (docs/model-format.md); edited images are compared against it.
package fid

import (
	"errors"
	"fmt"
	"math"
)

// MaxDim bounds the feature length: the eigen-decompositions cost O(dim³).
const MaxDim = 512

// Errors.
var (
	// ErrTooFew: fewer than two feature vectors, no covariance.
	ErrTooFew = errors.New("fid: need at least two feature vectors")
	// ErrDim: feature lengths differ or are out of range.
	ErrDim = errors.New("fid: bad feature dimension")
	// ErrNotFinite: a NaN or infinite feature value.
	ErrNotFinite = errors.New("fid: feature value not finite")
)

// Stats is a Gaussian fitted to N feature vectors: their mean and sample
// covariance (divided by N − 1), row-major Dim×Dim.
type Stats struct {
	N    int
	Mean []float64
	Cov  []float64
}

// Dim is the feature length.
func (s Stats) Dim() int { return len(s.Mean) }

// Compute fits Stats to feats, n vectors of length dim back to back.
func Compute(feats []float32, dim int) (Stats, error) {
	if dim <= 0 || dim > MaxDim {
		return Stats{}, fmt.Errorf("%w: %d (want 1..%d)", ErrDim, dim, MaxDim)
	}
	if len(feats)%dim != 0 {
		return Stats{}, fmt.Errorf("%w: %d values are not whole vectors of %d", ErrDim, len(feats), dim)
	}
	n := len(feats) / dim
	if n < 2 {
		return Stats{}, fmt.Errorf("%w: got %d", ErrTooFew, n)
	}
	mean := make([]float64, dim)
	for i, v := range feats {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return Stats{}, fmt.Errorf("%w: vector %d, component %d is %v", ErrNotFinite, i/dim, i%dim, v)
		}
		mean[i%dim] += f
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov := make([]float64, dim*dim)
	d := make([]float64, dim)
	for k := 0; k < n; k++ {
		for j := 0; j < dim; j++ {
			d[j] = float64(feats[k*dim+j]) - mean[j]
		}
		for a := 0; a < dim; a++ {
			row := cov[a*dim : (a+1)*dim]
			for b := a; b < dim; b++ {
				row[b] += d[a] * d[b]
			}
		}
	}
	for a := 0; a < dim; a++ {
		for b := a; b < dim; b++ {
			v := cov[a*dim+b] / float64(n-1)
			cov[a*dim+b], cov[b*dim+a] = v, v
		}
	}
	return Stats{N: n, Mean: mean, Cov: cov}, nil
}

// Distance is the Fréchet distance between the Gaussians a and b:
// |μa − μb|² + tr(Ca + Cb − 2 (Ca^½ Cb Ca^½)^½). tr((Ca Cb)^½) equals
// tr((S Cb S)^½) with S = Ca^½, and S Cb S is symmetric positive
// semi-definite, so only symmetric eigen-decompositions are needed.
func Distance(a, b Stats) (float64, error) {
	dim := a.Dim()
	if err := a.check(); err != nil {
		return 0, err
	}
	if err := b.check(); err != nil {
		return 0, err
	}
	if b.Dim() != dim {
		return 0, fmt.Errorf("%w: %d against %d", ErrDim, dim, b.Dim())
	}
	s := sqrtPSD(a.Cov, dim)
	m := mul(mul(s, b.Cov, dim), s, dim)
	symmetrize(m, dim)
	vals, _ := eigenSym(m, dim)
	var trSqrt float64
	for _, v := range vals {
		trSqrt += math.Sqrt(max(v, 0))
	}
	var d2, tr float64
	for j := 0; j < dim; j++ {
		diff := a.Mean[j] - b.Mean[j]
		d2 += diff * diff
		tr += a.Cov[j*dim+j] + b.Cov[j*dim+j]
	}
	return d2 + tr - 2*trSqrt, nil
}

func (s Stats) check() error {
	dim := s.Dim()
	if dim <= 0 || dim > MaxDim || len(s.Cov) != dim*dim {
		return fmt.Errorf("%w: mean of %d, covariance of %d values", ErrDim, dim, len(s.Cov))
	}
	for _, v := range s.Mean {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: mean %v", ErrNotFinite, v)
		}
	}
	for _, v := range s.Cov {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: covariance %v", ErrNotFinite, v)
		}
	}
	return nil
}

// sqrtPSD is the square root of a symmetric positive semi-definite matrix
// through its eigen-decomposition, negative eigenvalues (rounding) as 0.
func sqrtPSD(c []float64, n int) []float64 {
	m := append([]float64(nil), c...)
	symmetrize(m, n)
	vals, vecs := eigenSym(m, n)
	out := make([]float64, n*n)
	for k := 0; k < n; k++ {
		r := math.Sqrt(max(vals[k], 0))
		if r == 0 {
			continue
		}
		for i := 0; i < n; i++ {
			vik := vecs[i*n+k] * r
			if vik == 0 {
				continue
			}
			for j := 0; j < n; j++ {
				out[i*n+j] += vik * vecs[j*n+k]
			}
		}
	}
	return out
}

func symmetrize(m []float64, n int) {
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			v := (m[i*n+j] + m[j*n+i]) / 2
			m[i*n+j], m[j*n+i] = v, v
		}
	}
}

func mul(a, b []float64, n int) []float64 {
	out := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for k := 0; k < n; k++ {
			aik := a[i*n+k]
			if aik == 0 {
				continue
			}
			for j := 0; j < n; j++ {
				out[i*n+j] += aik * b[k*n+j]
			}
		}
	}
	return out
}

// eigenSym diagonalises the symmetric matrix a (n×n, overwritten) by cyclic
// Jacobi rotations: eigenvalues, and eigenvectors as the columns of v.
// Jacobi is slow for big matrices but exact to rounding and simple; feature
// dimensions here are tens.
func eigenSym(a []float64, n int) ([]float64, []float64) {
	v := make([]float64, n*n)
	for i := 0; i < n; i++ {
		v[i*n+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		var off, norm float64
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if i != j {
					off += a[i*n+j] * a[i*n+j]
				}
				norm += a[i*n+j] * a[i*n+j]
			}
		}
		if off <= 1e-30*norm || off == 0 {
			break
		}
		for p := 0; p < n-1; p++ {
			for q := p + 1; q < n; q++ {
				apq := a[p*n+q]
				if apq == 0 {
					continue
				}
				theta := (a[q*n+q] - a[p*n+p]) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					akp, akq := a[k*n+p], a[k*n+q]
					a[k*n+p] = c*akp - s*akq
					a[k*n+q] = s*akp + c*akq
				}
				for k := 0; k < n; k++ {
					apk, aqk := a[p*n+k], a[q*n+k]
					a[p*n+k] = c*apk - s*aqk
					a[q*n+k] = s*apk + c*aqk
				}
				for k := 0; k < n; k++ {
					vkp, vkq := v[k*n+p], v[k*n+q]
					v[k*n+p] = c*vkp - s*vkq
					v[k*n+q] = s*vkp + c*vkq
				}
			}
		}
	}
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = a[i*n+i]
	}
	return vals, v
}
