package dissection

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestQuantileTableLevelAndRank(t *testing.T) {
	tb := &QuantileTable{Q: []float64{0, 0.5, 0.9, 1}, Values: [][]float32{
		{0, 0, 2, 4}, // half the mass is exactly 0
		{-1, 1, 3, 3},
	}}
	if err := tb.validate(2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		u    int
		q    float64
		want float32
	}{
		{"minimum", 0, 0, 0},
		{"grid point", 0, 0.9, 2},
		{"between", 0, 0.7, 1},
		{"maximum", 1, 1, 3},
		{"below range clamps", 1, -0.5, -1},
		{"quarter", 1, 0.25, 0},
	} {
		t.Run("level "+tc.name, func(t *testing.T) {
			if got := tb.Level(tc.u, tc.q); math.Abs(float64(got-tc.want)) > 1e-6 {
				t.Errorf("Level(%d, %v) = %v, want %v", tc.u, tc.q, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		u    int
		v    float32
		want float64
	}{
		{"below minimum", 0, -1, 0},
		{"plateau takes its top", 0, 0, 0.5},
		{"between", 0, 1, 0.7},
		{"at maximum", 0, 4, 1},
		{"above maximum", 1, 10, 1},
		{"NaN", 1, float32(math.NaN()), 0},
		{"middle", 1, 0, 0.25},
	} {
		t.Run("rank "+tc.name, func(t *testing.T) {
			if got := tb.Rank(tc.u, tc.v); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Rank(%d, %v) = %v, want %v", tc.u, tc.v, got, tc.want)
			}
		})
	}
}

func TestQuantileTableValidate(t *testing.T) {
	good := func() *QuantileTable {
		return &QuantileTable{Q: []float64{0, 0.5, 1}, Values: [][]float32{{0, 1, 2}}}
	}
	for _, tc := range []struct {
		name   string
		change func(*QuantileTable)
		want   string
	}{
		{"no zero", func(tb *QuantileTable) { tb.Q[0] = 0.1 }, "from 0 to 1"},
		{"not increasing", func(tb *QuantileTable) { tb.Q[1] = 0 }, "not increasing"},
		{"unit count", func(tb *QuantileTable) { tb.Values = append(tb.Values, []float32{0, 0, 0}) }, "2 units"},
		{"row length", func(tb *QuantileTable) { tb.Values[0] = tb.Values[0][:2] }, "2 values"},
		{"decreasing", func(tb *QuantileTable) { tb.Values[0][2] = -1 }, "decreases"},
		{"infinite", func(tb *QuantileTable) { tb.Values[0][2] = float32(math.Inf(1)) }, "value +Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := good()
			tc.change(tb)
			err := tb.validate(1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
	if err := good().validate(1); err != nil {
		t.Errorf("good table: %v", err)
	}
}

// TestDissectStoresQuantiles: the stored table agrees with the unit levels
// (both are the sketch's quantiles) and survives Save/Load.
func TestDissectStoresQuantiles(t *testing.T) {
	res := fakeResults(t)
	for name, l := range res.Layers {
		tb := l.Quantiles
		if tb == nil {
			t.Fatalf("layer %s has no quantile table", name)
		}
		if err := tb.validate(l.Channels); err != nil {
			t.Fatalf("layer %s: %v", name, err)
		}
		for u, rec := range l.Units {
			if got := tb.Level(u, l.LevelQuantile); got != rec.Level {
				t.Errorf("layer %s unit %d: table level %v, unit level %v", name, u, got, rec.Level)
			}
		}
	}
	dir := t.TempDir()
	if err := Save(dir, res); err != nil {
		t.Fatal(err)
	}
	got, err := Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got.Layers["a"].Quantiles == nil || len(got.Layers["a"].Quantiles.Values) != res.Layers["a"].Channels {
		t.Errorf("the table did not survive the round trip")
	}
}
