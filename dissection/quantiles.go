package dissection

import (
	"fmt"
	"math"
	"slices"
)

// QuantileTable is each unit's activation distribution at native resolution,
// sampled at fixed fractions: the reference server answers /api/levels at any
// quantile and turns raw activations into quantiles (/api/features) from the
// same statistics, and a table of ~100 points per unit is enough for both.
type QuantileTable struct {
	// Q are the fractions, ascending, starting at 0 (the minimum) and ending
	// at 1 (the maximum).
	Q []float64 `json:"q"`
	// Values[u][i] is unit u's activation at fraction Q[i] (non-decreasing in i).
	Values [][]float32 `json:"values"`
}

// QuantileGrid returns the fractions of the table Dissect stores: every
// percent, then every 0.1% of the top percent, 0.9995 and 1, because the
// painter's levels and most queries live in the top percent.
func QuantileGrid() []float64 {
	qs := make([]float64, 0, 111)
	for i := 0; i < 100; i++ {
		qs = append(qs, float64(i)/100)
	}
	for i := 1; i <= 9; i++ {
		qs = append(qs, 0.99+float64(i)/1000)
	}
	return append(qs, 0.9995, 1)
}

// validate checks the invariants Level and Rank rely on.
func (t *QuantileTable) validate(channels int) error {
	if len(t.Q) < 2 || t.Q[0] != 0 || t.Q[len(t.Q)-1] != 1 {
		return fmt.Errorf("quantile table: fractions must run from 0 to 1 (got %d values)", len(t.Q))
	}
	for i := 1; i < len(t.Q); i++ {
		if !(t.Q[i] > t.Q[i-1]) {
			return fmt.Errorf("quantile table: fractions are not increasing at %d", i)
		}
	}
	if len(t.Values) != channels {
		return fmt.Errorf("quantile table: %d units for %d channels", len(t.Values), channels)
	}
	for u, vs := range t.Values {
		if len(vs) != len(t.Q) {
			return fmt.Errorf("quantile table: unit %d has %d values for %d fractions", u, len(vs), len(t.Q))
		}
		for i, v := range vs {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("quantile table: unit %d has value %v", u, v)
			}
			if i > 0 && v < vs[i-1] {
				return fmt.Errorf("quantile table: unit %d decreases at fraction %v", u, t.Q[i])
			}
		}
	}
	return nil
}

// Level returns unit u's activation at fraction q in [0, 1], interpolating
// linearly between the table's fractions; at a fraction of the table it is
// exactly the stored value.
func (t *QuantileTable) Level(u int, q float64) float32 {
	vs := t.Values[u]
	q = min(max(q, 0), 1)
	j, found := slices.BinarySearch(t.Q, q)
	if found {
		return vs[j]
	}
	// t.Q[j-1] < q < t.Q[j]; j ≥ 1 because t.Q[0] = 0 ≤ q.
	w := (q - t.Q[j-1]) / (t.Q[j] - t.Q[j-1])
	return float32(float64(vs[j-1]) + w*(float64(vs[j])-float64(vs[j-1])))
}

// Rank returns the fraction of unit u's activations at or below v, read off
// the table by linear interpolation: 0 below the minimum, 1 at or above the
// maximum. On a plateau (many equal activations, such as exact zeros) the
// answer is the plateau's top fraction, as a CDF is.
func (t *QuantileTable) Rank(u int, v float32) float64 {
	vs := t.Values[u]
	n := len(vs)
	if v != v || v < vs[0] {
		return 0
	}
	if v >= vs[n-1] {
		return 1
	}
	// j = the last index with vs[j] ≤ v; then vs[j] ≤ v < vs[j+1].
	j := sortSearchFloat(vs, v) - 1
	w := (float64(v) - float64(vs[j])) / (float64(vs[j+1]) - float64(vs[j]))
	return t.Q[j] + w*(t.Q[j+1]-t.Q[j])
}

// sortSearchFloat is the number of values ≤ v in the sorted vs.
func sortSearchFloat(vs []float32, v float32) int {
	lo, hi := 0, len(vs)
	for lo < hi {
		m := (lo + hi) / 2
		if vs[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
