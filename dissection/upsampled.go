package dissection

import (
	"context"
	"fmt"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/progress"
)

// The reference chooses each unit's IQR threshold among quantiles of its
// activations *upsampled* to the segmentation, not at the layer's own
// resolution. Bilinear upsampling smooths peaks, so those quantiles differ
// (by ~2% at the median unit of the default model). Collecting every
// upsampled value in a sketch would cost (H/h)² times pass 1; instead pass
// 1b bins the upsampled activations exactly by the native quantiles (the
// probes), with the same patch-wise tally as pass 2, and each upsampled
// quantile is interpolated inside the probe interval that holds it. Pass 2
// then counts exactly at those levels, so IoU and IQR are exact at the
// chosen thresholds; only where the levels sit is interpolated.

// passUpsampled bins the upsampled activations of ids by every layer's
// probes (pass 1b). The counts add up over calls, so the shards of a
// sharded run can each count their own ids (shard.go).
func (p *plan) passUpsampled(ctx context.Context, g Generator, ids []int64) error {
	cfg := p.cfg
	var up []*layerAcc
	for _, a := range p.accs {
		if a.probes == nil {
			continue
		}
		if a.probeIdx == nil {
			if err := a.allocProbe(p.man.Image.Height, p.man.Image.Width); err != nil {
				return err
			}
		}
		up = append(up, a)
	}
	pr := progress.New(cfg.Progress, fmt.Sprintf("pass 2/%d upsampled", p.passes), "samples", len(ids), cfg.Now)
	err := pipeline(ctx, ids, cfg.Batch, cfg.InFlight,
		func(ctx context.Context, batch []int64) ([]*inference.Features, error) {
			return heads(ctx, g, up, batch)
		},
		func(batch []int64, fs []*inference.Features) error {
			for i, a := range up {
				a.addProbe(fs[i].Data, len(batch), cfg.Workers)
			}
			pr.Add(len(batch))
			return nil
		})
	if err != nil {
		return err
	}
	pr.Finish()
	return nil
}

// levelsFromProbes turns pass 1b's counts into the layers' candidate levels.
func (p *plan) levelsFromProbes() {
	for _, a := range p.accs {
		if a.probes == nil {
			continue
		}
		nb := len(a.probes[0]) + 1
		a.levels = make([][]float32, len(a.probes))
		for u := range a.levels {
			a.levels[u] = probeLevels(a.probes[u], a.upCounts[u*nb:(u+1)*nb], a.upTotal, p.fracs)
		}
		a.probes, a.upCounts, a.probeIdx = nil, nil, nil
	}
}

// probePatches is pass 1b's patch layout: one "class" whose per-patch
// histogram is the patch's pixel count, over an all-zero segmentation.
type probePatches struct {
	p    patchIndex
	hist []int32
	seg  []uint8
}

func (a *layerAcc) allocProbe(imgH, imgW int) error {
	up, err := NewUpsampler(a.info.Height, a.info.Width, imgH, imgW)
	if err != nil {
		return err
	}
	pp := &probePatches{p: patchIndex{up: up, classes: 1}, seg: make([]uint8, imgH*imgW)}
	pp.hist = make([]int32, pp.p.numPatches())
	if err := pp.p.fillHist(pp.hist, pp.seg); err != nil {
		return err
	}
	a.probeIdx = pp
	a.upCounts = make([]int64, a.info.Channels*(len(a.probes[0])+1))
	return nil
}

func (a *layerAcc) addProbe(data []float32, n, workers int) {
	hw := a.info.Height * a.info.Width
	c := a.info.Channels
	nb := len(a.probes[0]) + 1
	pp := a.probeIdx
	parallelFor(c, workers, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			out := a.upCounts[u*nb : (u+1)*nb]
			for i := 0; i < n; i++ {
				pp.p.tallyHist(data[(i*c+u)*hw:(i*c+u+1)*hw], a.probes[u], pp.seg, pp.hist, out)
			}
		}
	})
	a.upTotal += int64(n * len(pp.seg))
}

// probeLevels returns, for each fraction f of fracs (ascending), the level
// above which a share f of the upsampled activations lies, ordered by
// level (ascending, so f descending) as the IQR search expects. probes are
// ascending levels (the last one the maximum) and counts[b] the number of
// upsampled values with exactly b probes strictly below them, of total.
// Between two probes the share above is taken as linear in the level.
func probeLevels(probes []float32, counts []int64, total int64, fracs []float64) []float32 {
	n := len(probes)
	above := make([]float64, n) // share strictly above probes[j]
	var run int64
	for j := n - 1; j >= 0; j-- {
		run += counts[j+1]
		above[j] = float64(run) / float64(total)
	}
	out := make([]float32, len(fracs))
	for i, f := range fracs {
		var v float32
		switch {
		case f >= above[0]:
			v = probes[0]
		case f <= above[n-1]:
			v = probes[n-1]
		default:
			// above is non-increasing: find j with above[j] ≥ f > above[j+1].
			lo, hi := 0, n-1
			for hi-lo > 1 {
				m := (lo + hi) / 2
				if above[m] >= f {
					lo = m
				} else {
					hi = m
				}
			}
			a0, a1 := above[lo], above[hi]
			v = probes[lo]
			if a0 > a1 && probes[hi] > probes[lo] {
				w := (a0 - f) / (a0 - a1)
				v = float32(float64(probes[lo]) + w*(float64(probes[hi])-float64(probes[lo])))
				v = min(max(v, probes[lo]), probes[hi])
			}
		}
		out[len(fracs)-1-i] = v
	}
	return out
}
