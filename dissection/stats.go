package dissection

import (
	"math"
	"slices"
)

// IQRFractions returns the n fractions f log-spaced over [1e-3, 1] (ascending)
// whose quantiles 1−f are the candidate levels of the IQR threshold search.
func IQRFractions(n int) []float64 {
	fs := make([]float64, n)
	for i := range fs {
		if n == 1 {
			fs[i] = 1
			continue
		}
		fs[i] = math.Pow(10, -3+3*float64(i)/float64(n-1))
	}
	fs[n-1] = 1
	return fs
}

// table2 is the 2×2 contingency table, as fractions of all pixels, of
// "unit above level" × "pixel has the class".
type table2 struct{ both, unitOnly, classOnly, neither float64 }

func makeTable(inter, above, label, total int64) table2 {
	t := float64(total)
	i, a, l := float64(inter)/t, float64(above)/t, float64(label)/t
	clamp := func(x float64) float64 { return min(max(x, 0), 1) }
	return table2{clamp(i), clamp(a - i), clamp(l - i), clamp(1 - (a + l - i))}
}

func xlogx(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return x * math.Log(x)
}

// mutualInformation of the table, in nats, never negative.
func (t table2) mutualInformation() float64 {
	rows := [2]float64{t.both + t.unitOnly, t.classOnly + t.neither}
	cols := [2]float64{t.both + t.classOnly, t.unitOnly + t.neither}
	cells := [2][2]float64{{t.both, t.unitOnly}, {t.classOnly, t.neither}}
	mi := 0.0
	for r := 0; r < 2; r++ {
		for c := 0; c < 2; c++ {
			j := cells[r][c]
			ind := rows[r] * cols[c]
			if j > 0 && ind > 0 {
				mi += j * math.Log(j/ind)
			}
		}
	}
	return max(mi, 0)
}

func (t table2) jointEntropy() float64 {
	return max(-(xlogx(t.both) + xlogx(t.unitOnly) + xlogx(t.classOnly) + xlogx(t.neither)), 0)
}

// iqr is the information-quality ratio MI / joint entropy (0 when undefined).
func (t table2) iqr() float64 {
	je := t.jointEntropy()
	if je <= 0 {
		return 0
	}
	r := t.mutualInformation() / je
	if r != r {
		return 0
	}
	return r
}

// IoU of a unit mask and a class mask from their counts; 0 when both are empty.
func iou(inter, above, label int64) float64 {
	union := above + label - inter
	if union <= 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// iqrChoice is the outcome of the IQR threshold search for one unit.
type iqrChoice struct {
	class int     // best label
	bin   int     // index into the sorted candidate levels
	iqr   float64 // its IQR
}

// chooseIQR searches, for one unit, the candidate levels (sorted ascending,
// levels[j] being the quantile at 1−f_j after sorting) and every class for
// the largest IQR, with the reference's guards: no information at the lowest
// level (everything is above it), none for classes covering under 0.1% of
// pixels, only levels > 0, and only where unit and class agree on > 80% of
// pixels (which keeps positively associated pairs); class skip (the
// background, or -1) is never chosen. hist is classes ×
// (len(levels)+1) as filled by tallyHist.
func chooseIQR(hist []int64, levels []float32, labels []int64, total int64, skip int) iqrChoice {
	nb := len(levels) + 1
	classes := len(labels)
	best := iqrChoice{class: firstClass(classes, skip), bin: len(levels) - 1, iqr: 0}
	// above[j] = pixels above levels[j], summed over classes.
	above := make([]int64, len(levels))
	inter := make([]int64, len(levels))
	for c := 0; c < classes; c++ {
		h := hist[c*nb : (c+1)*nb]
		var run int64
		for j := len(levels) - 1; j >= 0; j-- {
			run += h[j+1]
			above[j] += run
		}
	}
	found := false
	for c := 0; c < classes; c++ {
		if c == skip || float64(labels[c])/float64(total) < 1e-3 {
			continue
		}
		h := hist[c*nb : (c+1)*nb]
		var run int64
		for j := len(levels) - 1; j >= 0; j-- {
			run += h[j+1]
			inter[j] = run
		}
		for j := 1; j < len(levels); j++ { // j = 0 is the minimum: no information
			if levels[j] <= 0 {
				continue
			}
			t := makeTable(inter[j], above[j], labels[c], total)
			if t.both+t.neither <= 0.8 {
				continue
			}
			q := t.iqr()
			if !found || q > best.iqr {
				best = iqrChoice{class: c, bin: j, iqr: q}
				found = true
			}
		}
	}
	return best
}

// countsAt returns, for one unit's histogram, the per-class intersections and
// the total above levels[bin].
func countsAt(hist []int64, nb, classes, bin int) (inter []int64, above int64) {
	inter = make([]int64, classes)
	for c := 0; c < classes; c++ {
		for b := bin + 1; b < nb; b++ {
			inter[c] += hist[c*nb+b]
		}
		above += inter[c]
	}
	return inter, above
}

// rankUnits orders units by score descending, ties by unit index.
func rankUnits(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return a - b
	})
	return idx
}
