package efficacy

import "slices"

// aggregate turns the probes' measurements into one row per brush and step.
func aggregate(brushes []Brush, concepts []string, byConcept map[string][]int, plans map[string]*conceptPlan,
	probes []probe, outs []probeOut, base []baseImage, tiles []Rect) []ConceptResult {
	type key struct{ brush, step int }
	byRow := map[key][]int{}
	for i, p := range probes {
		k := key{p.brush, p.step}
		byRow[k] = append(byRow[k], i)
	}
	var res []ConceptResult
	for _, c := range concepts {
		p := plans[c]
		cr := ConceptResult{Concept: c, PoolPlausible: p.poolPlausible, PoolOther: p.poolOther, PoolPresent: p.poolPresent,
			PoolImages: p.poolImages, UsedPresent: len(p.present), UsedImages: len(p.images)}
		for _, t := range p.insert {
			if t.plausible {
				cr.UsedPlausible++
			} else {
				cr.UsedOther++
			}
		}
		for _, bi := range byConcept[c] {
			b := brushes[bi]
			for si, st := range b.Steps {
				row := Row{Brush: b.Name, Kind: b.Kind, Layer: b.Layer, Step: st.Name, Strength: st.Strength}
				idx := byRow[key{bi, si}]
				if b.Remove {
					cr.Remove = append(cr.Remove, removeRow(row, idx, probes, outs, base))
				} else {
					r := insertRow(row, idx, probes, outs, base, p)
					if tiles != nil {
						r.Tiles = tileRates(tiles, idx, probes, outs, base)
					}
					cr.Insert = append(cr.Insert, r)
				}
			}
		}
		res = append(res, cr)
	}
	return res
}

type mean struct{ sum, n float64 }

func (m *mean) add(v float64) { m.sum += v; m.n++ }
func (m mean) value() float64 {
	if m.n == 0 {
		return 0
	}
	return m.sum / m.n
}

func insertRow(row Row, idx []int, probes []probe, outs []probeOut, base []baseImage, p *conceptPlan) InsertResult {
	// Stratum 0: plausible regions, 1: the others.
	var succ, rise, near, other, far [2]mean
	for _, i := range idx {
		pr, o := probes[i], outs[i]
		s := 1
		if pr.plaus {
			s = 0
		}
		before := base[pr.img].seg.Share(pr.rect, pr.class)
		ok := 0.0
		if succeeded(pr, o, base) {
			ok = 1
		}
		succ[s].add(ok)
		rise[s].add(o.after - before)
		near[s].add(o.ringChg)
		other[s].add(o.ringOth)
		far[s].add(o.farChg)
	}
	// Weights of the strata: their sizes in the pool, among the strata that
	// were probed at all.
	w := [2]float64{float64(p.poolPlausible), float64(p.poolOther)}
	tot := 0.0
	for s := range w {
		if succ[s].n == 0 {
			w[s] = 0
		}
		tot += w[s]
	}
	weighted := func(m [2]mean) float64 {
		if tot == 0 {
			return 0
		}
		return (w[0]*m[0].value() + w[1]*m[1].value()) / tot
	}
	return InsertResult{Row: row, Success: succ[0].value(), SuccessAll: weighted(succ), Rise: rise[0].value(), RiseAll: weighted(rise),
		LeakNear: weighted(near), LeakNearOther: weighted(other), LeakFar: weighted(far)}
}

// succeeded applies the success rule to one painting probe.
func succeeded(pr probe, o probeOut, base []baseImage) bool {
	before := base[pr.img].seg.Share(pr.rect, pr.class)
	return o.after >= SuccessShare && o.after-before >= SuccessRise
}

// tileRates counts, per region of the tiling, the probed regions and the
// successes among them.
func tileRates(tiles []Rect, idx []int, probes []probe, outs []probeOut, base []baseImage) []Tile {
	out := make([]Tile, len(tiles))
	for _, i := range idx {
		t := slices.Index(tiles, probes[i].rect)
		if t < 0 {
			continue
		}
		out[t].Tried++
		if succeeded(probes[i], outs[i], base) {
			out[t].Success++
		}
	}
	return out
}

func removeRow(row Row, idx []int, probes []probe, outs []probeOut, base []baseImage) RemoveResult {
	var drop, half, near, far, imgHalf, damage mean
	var before, after float64
	for _, i := range idx {
		pr, o := probes[i], outs[i]
		full := Rect{0, 0, base[pr.img].seg.W, base[pr.img].seg.H}
		b := base[pr.img].seg.Share(pr.rect, pr.class)
		if pr.kind == probeEraseAll {
			b = base[pr.img].seg.Share(full, pr.class)
			before += b
			after += o.after
			h := 0.0
			if o.after <= b/2 {
				h = 1
			}
			imgHalf.add(h)
			damage.add(o.otherChg)
			continue
		}
		if b > 0 {
			drop.add((b - o.after) / b)
		}
		h := 0.0
		if o.after <= b/2 {
			h = 1
		}
		half.add(h)
		near.add(o.ringChg)
		far.add(o.farChg)
	}
	r := RemoveResult{Row: row, RegionDrop: drop.value(), RegionHalf: half.value(), LeakNear: near.value(), LeakFar: far.value(),
		Half: imgHalf.value(), Damage: damage.value()}
	if before > 0 {
		r.Drop = (before - after) / before
	}
	return r
}
