package efficacy

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Acceptable leak: a step whose stroke changes more than this share of the
// labels beyond its ring (LeakFar), or around it (LeakNear), is not chosen
// as a default however well it paints: it repaints the picture rather than
// the brushed spot. 45% of the ring is about a 6 px band all around a 32 px
// region: a concept may grow that far past the stroke (max pooling onto the
// layer grid and the generator's 3×3 convolutions spread every edit), but
// not much further. Erasing everywhere may change at most MaxDamage of the
// pixels that were not the concept (the IoU brush at strength 1, the painter
// before recipes, changes about 20%).
const (
	MaxLeakFar  = 0.03
	MaxLeakNear = 0.45
	MaxDamage   = 0.35
)

// BaselineStep names the extra step at strength 1 the benchmark adds to an
// IoU brush whose steps lack it, for the "before" column; it is never a
// painter's step, so it is never chosen.
const BaselineStep = "before"

func acceptableInsert(r InsertResult) bool {
	return r.LeakFar <= MaxLeakFar && r.LeakNear <= MaxLeakNear
}

func acceptableRemove(r RemoveResult) bool { return r.LeakFar <= MaxLeakFar && r.Damage <= MaxDamage }

// insertKey orders insertion rows: success in plausible regions, then rise.
func insertKey(r InsertResult) float64 { return r.Success + 1e-3*r.Rise }

// removeKey orders erasing rows: the mean of the relative drops inside
// brushed regions and everywhere, then the share of images losing half.
func removeKey(r RemoveResult) float64 { return (r.RegionDrop+r.Drop)/2 + 1e-3*r.Half }

// Choose picks, per concept, the brush and step the painter uses by default.
// When rep.Calibration holds the calibrated effect of every measured brush of
// the concept, the choice is made there, on the calibration ids: the brush
// whose calibrated default step has the best effect at acceptable leak (else
// the best effect), at that default step. The evaluation ids then only
// measure the choice, so the tables are not flattered by picking on them.
// Without calibrations: for painting, the (brush, step) with the highest
// success in plausible regions among those with acceptable leak; for
// erasing, the highest mean drop among those with acceptable damage; when no
// row is acceptable the least leaky one. The chosen brush's other steps come
// along with their measured effects.
func Choose(rep *Report) map[string]Choice {
	out := map[string]Choice{}
	for _, c := range rep.Concepts {
		var ch Choice
		ins := slices.DeleteFunc(slices.Clone(c.Insert), func(r InsertResult) bool { return r.Step == BaselineStep })
		best, ok := pick(ins, acceptableInsert, insertKey, func(r InsertResult) float64 { return r.LeakFar })
		if b, s, calibrated := chooseCalibrated(rep.Calibration, ins, ":add", func(r InsertResult) Row { return r.Row }); calibrated {
			best, ok = rowOf(ins, b, s, func(r InsertResult) Row { return r.Row })
		}
		if ok {
			cb := &ChosenBrush{Brush: best.Brush, Kind: best.Kind, Layer: best.Layer, Default: best.Step}
			for _, r := range ins {
				if r.Brush == best.Brush && r.Layer == best.Layer {
					cb.Steps = append(cb.Steps, StepEffect{Step: Step{r.Step, r.Strength}, Success: r.Success, Rise: r.Rise,
						LeakNear: r.LeakNear, LeakFar: r.LeakFar})
				}
			}
			ch.Add = cb
		}
		bestRm, ok := pick(c.Remove, acceptableRemove, removeKey, func(r RemoveResult) float64 { return r.Damage })
		if b, s, calibrated := chooseCalibrated(rep.Calibration, c.Remove, ":remove", func(r RemoveResult) Row { return r.Row }); calibrated {
			bestRm, ok = rowOf(c.Remove, b, s, func(r RemoveResult) Row { return r.Row })
		}
		if best := bestRm; ok {
			cb := &ChosenBrush{Brush: best.Brush, Kind: best.Kind, Layer: best.Layer, Default: best.Step}
			for _, r := range c.Remove {
				if r.Brush == best.Brush && r.Layer == best.Layer {
					cb.Steps = append(cb.Steps, StepEffect{Step: Step{r.Step, r.Strength}, Drop: r.Drop, Half: r.Half,
						Damage: r.Damage, LeakNear: r.LeakNear, LeakFar: r.LeakFar, Rise: -r.RegionDrop})
				}
			}
			ch.Remove = cb
		}
		if ch.Add != nil || ch.Remove != nil {
			out[c.Concept] = ch
		}
	}
	return out
}

// chooseCalibrated is Choose's rule on the calibrations: among the (brush,
// layer) pairs of rows, the brush whose calibrated default has the best
// effect, acceptable ones first, and that default step. It reports false
// when any of them lacks a calibrated effect or the step was not measured.
func chooseCalibrated[R any](cal map[string]Calibrated, rows []R, suffix string, row func(R) Row) (brush Row, step string, ok bool) {
	if len(rows) == 0 {
		return Row{}, "", false
	}
	type cand struct {
		row    Row
		effect float64
		okay   bool
	}
	var best *cand
	seen := map[[2]string]bool{}
	for _, r := range rows {
		rr := row(r)
		k := [2]string{rr.Brush, rr.Layer}
		if seen[k] {
			continue
		}
		seen[k] = true
		c, found := cal[rr.Brush+suffix]
		if !found || c.Effect == nil {
			return Row{}, "", false
		}
		x := cand{Row{Brush: rr.Brush, Layer: rr.Layer, Step: c.Default}, *c.Effect, c.Acceptable}
		if best == nil || (x.okay && !best.okay) || (x.okay == best.okay && x.effect > best.effect) {
			best = &x
		}
	}
	if _, found := rowOf(rows, best.row, best.row.Step, row); !found {
		return Row{}, "", false
	}
	return best.row, best.row.Step, true
}

// rowOf is the row of rows measuring brush (name and layer) at step.
func rowOf[R any](rows []R, brush Row, step string, row func(R) Row) (R, bool) {
	for _, r := range rows {
		if rr := row(r); rr.Brush == brush.Brush && rr.Layer == brush.Layer && rr.Step == step {
			return r, true
		}
	}
	var zero R
	return zero, false
}

// ChooseAt is Choose among the brushes that paint at layer only (nil
// report: nil).
func ChooseAt(rep *Report, layer string) map[string]Choice {
	if rep == nil {
		return nil
	}
	sub := &Report{Calibration: rep.Calibration}
	for _, c := range rep.Concepts {
		cc := ConceptResult{Concept: c.Concept}
		for _, r := range c.Insert {
			if r.Layer == layer {
				cc.Insert = append(cc.Insert, r)
			}
		}
		for _, r := range c.Remove {
			if r.Layer == layer {
				cc.Remove = append(cc.Remove, r)
			}
		}
		sub.Concepts = append(sub.Concepts, cc)
	}
	return Choose(sub)
}

// pick returns the row with the highest key among acceptable rows (ties:
// the earlier row), or the row with the least leak when none is acceptable.
func pick[R any](rows []R, ok func(R) bool, key func(R) float64, leak func(R) float64) (R, bool) {
	var best R
	if len(rows) == 0 {
		return best, false
	}
	found := false
	for _, r := range rows {
		if ok(r) && (!found || key(r) > key(best)) {
			best, found = r, true
		}
	}
	if found {
		return best, true
	}
	best = rows[0]
	for _, r := range rows[1:] {
		if leak(r) < leak(best) {
			best = r
		}
	}
	return best, true
}

// Calibrate measures every brush at a sweep of candidate strengths on the
// calibration ids (CalibRange, disjoint from the evaluation's) and returns,
// per brush name, three steps low < medium < high and the default step:
//
//   - high: the candidate with the best effect (insertion: success in
//     plausible regions, then rise; erasing: the mean of the drops);
//   - default: the candidate with the best effect at acceptable leak,
//     no stronger than high;
//   - low: the strongest candidate below the default whose effect is at
//     most half of high's (a visibly gentler stroke), else the weakest;
//   - medium: the default when it lies strictly between low and high,
//     else the best candidate strictly between them.
//
// cfg's id range is replaced by CalibRange unless set.
func Calibrate(ctx context.Context, m Model, brushes []Brush, cfg Config) (map[string]Calibrated, *Report, error) {
	if cfg.IDFrom == 0 && cfg.IDTo == 0 {
		cfg.IDFrom, cfg.IDTo = CalibRange[0], CalibRange[1]
	}
	sweep := make([]Brush, len(brushes))
	for i, b := range brushes {
		b.Steps = nil
		for _, s := range candidates(b) {
			b.Steps = append(b.Steps, Step{Name: strconv.FormatFloat(float64(s), 'g', -1, 32), Strength: s})
		}
		sweep[i] = b
	}
	rep, err := Run(ctx, m, sweep, cfg)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]Calibrated{}
	for i, b := range sweep {
		var effects []float64
		var okay []bool
		for _, c := range rep.Concepts {
			if c.Concept != b.Concept {
				continue
			}
			if b.Remove {
				for _, r := range c.Remove {
					if r.Brush == b.Name && r.Layer == b.Layer {
						effects, okay = append(effects, removeKey(r)), append(okay, acceptableRemove(r))
					}
				}
			} else {
				for _, r := range c.Insert {
					if r.Brush == b.Name && r.Layer == b.Layer {
						effects, okay = append(effects, insertKey(r)), append(okay, acceptableInsert(r))
					}
				}
			}
		}
		if len(effects) != len(b.Steps) {
			return nil, nil, fmt.Errorf("efficacy: calibration of %s measured %d of %d candidates", b.Name, len(effects), len(b.Steps))
		}
		lo, mid, hi, def := chooseSteps(effects, okay)
		steps := []Step{{"low", b.Steps[lo].Strength}, {"medium", b.Steps[mid].Strength}, {"high", b.Steps[hi].Strength}}
		name := "medium"
		switch def {
		case lo:
			name = "low"
		case hi:
			name = "high"
		}
		effect := effects[def]
		out[calibKey(brushes[i])] = Calibrated{Fingerprint: brushes[i].Fingerprint(), Steps: steps, Default: name,
			IDRange: [2]float64{cfg.IDFrom, cfg.IDTo}, Effect: &effect, Acceptable: okay[def]}
	}
	return out, rep, nil
}

// calibKey names a brush in Report.Calibration: erasing and painting brushes
// of a concept may share a name.
func calibKey(b Brush) string {
	if b.Remove {
		return b.Name + ":remove"
	}
	return b.Name + ":add"
}

// CalibratedSteps returns the brush's calibrated steps and default step
// from cal when they were measured on this very brush (same fingerprint).
func CalibratedSteps(cal map[string]Calibrated, b Brush) ([]Step, string, bool) {
	c, ok := cal[calibKey(b)]
	if !ok || c.Fingerprint != b.Fingerprint() || len(c.Steps) == 0 {
		return nil, "", false
	}
	return slices.Clone(c.Steps), c.Default, true
}

// chooseSteps implements Calibrate's rule on candidates sorted by strength
// (at least three), returning indices low < medium < high and the default.
func chooseSteps(effect []float64, ok []bool) (lo, mid, hi, def int) {
	n := len(effect)
	if n < 3 {
		panic("efficacy: chooseSteps needs three candidates")
	}
	hi = 0
	for i := range effect {
		if effect[i] > effect[hi] {
			hi = i
		}
	}
	hi = max(hi, 2)
	def = -1
	for i := 0; i <= hi; i++ {
		if ok[i] && (def < 0 || effect[i] > effect[def]) {
			def = i
		}
	}
	if def < 0 {
		def = 0
	}
	lo = 0
	for i := hi - 1; i >= 0; i-- {
		if i < def && effect[i] <= effect[hi]/2 {
			lo = i
			break
		}
	}
	lo = min(lo, def, hi-2)
	if def > lo && def < hi {
		mid = def
	} else {
		mid = lo + 1
		for i := lo + 1; i < hi; i++ {
			if effect[i] > effect[mid] {
				mid = i
			}
		}
	}
	return lo, mid, hi, def
}
