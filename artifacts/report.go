package artifacts

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"slices"

	"github.com/ganpaint-go/ganpaint/inference"
)

// WriteSummary prints the top units of each ranking and the repair table.
func (r *Result) WriteSummary(w io.Writer, top int) {
	fmt.Fprintf(w, "%s %s: %d units ablated one at a time on %d images (seed %d)\n", r.Model, r.Layer, len(r.Units), r.Samples, r.Seed)
	if r.FIDMeasured {
		fmt.Fprintf(w, "baseline: discriminator %.4f, FID %.4f (segmenter features against %d renders)\n", r.Baseline.Disc, r.Baseline.FID, r.ReferenceN)
	} else {
		fmt.Fprintf(w, "baseline: discriminator %.4f (no FID reference)\n", r.Baseline.Disc)
	}
	for _, name := range r.rankingNames() {
		fmt.Fprintf(w, "\ntop units by %s:\n| rank | unit | discriminator change | FID change |\n|---|---|---|---|\n", name)
		for i, u := range r.Rankings[name][:min(top, len(r.Units))] {
			s := r.Units[u]
			fmt.Fprintf(w, "| %d | %d | %+.4f | %s |\n", i+1, u, s.DiscDelta, r.fidText(s.FIDDelta, true))
		}
	}
	fmt.Fprintf(w, "\nrepair on %d held-out images (the painter's toggle: top %d by %s):\n", r.Holdout, r.RepairK, r.RepairRanking)
	fmt.Fprintln(w, "| ranking | units ablated | discriminator before | after | FID before | after |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, rp := range r.Repair {
		fmt.Fprintf(w, "| %s | %d | %.4f | %.4f | %s | %s |\n", rp.Ranking, rp.K, rp.Before.Disc, rp.After.Disc,
			r.fidText(rp.Before.FID, false), r.fidText(rp.After.FID, false))
	}
}

func (r *Result) fidText(v float64, signed bool) string {
	if !r.FIDMeasured {
		return "–"
	}
	if signed {
		return fmt.Sprintf("%+.4f", v)
	}
	return fmt.Sprintf("%.4f", v)
}

// Sheet draws the report's pictures: for each of the top units (the
// repair's ranking) a row of before/after pairs on the given images, then a row for
// the repair (the toggle's units ablated together). Each pair is the
// unedited image and the image with the unit(s) ablated everywhere.
func Sheet(ctx context.Context, m Model, r *Result, ids []int64, topUnits int) (*image.RGBA, error) {
	li, err := m.Layer(r.Layer)
	if err != nil {
		return nil, err
	}
	man := m.Manifest()
	zs, err := m.ZBatch(ids)
	if err != nil {
		return nil, err
	}
	feats, err := m.Head(ctx, li.Name, zs, len(ids))
	if err != nil {
		return nil, err
	}
	plain, err := m.Tail(ctx, feats)
	if err != nil {
		return nil, err
	}
	var rows [][]int
	for _, u := range r.Rankings[r.RepairRanking][:min(topUnits, len(r.Units))] {
		rows = append(rows, []int{u})
	}
	rows = append(rows, r.Top())
	w, h := man.Image.Width, man.Image.Height
	const gap = 4
	sheet := image.NewRGBA(image.Rect(0, 0, len(ids)*(2*w+gap)-gap, len(rows)*(h+gap)-gap))
	draw.Draw(sheet, sheet.Bounds(), image.NewUniform(color.RGBA{16, 19, 24, 255}), image.Point{}, draw.Src)
	size := li.Size()
	plane := li.Height * li.Width
	for ri, units := range rows {
		ed := &inference.Features{Layer: li, N: feats.N, Data: slices.Clone(feats.Data)}
		for n := 0; n < ed.N; n++ {
			for _, u := range units {
				clear(ed.Data[n*size+u*plane : n*size+(u+1)*plane])
			}
		}
		after, err := m.Tail(ctx, ed)
		if err != nil {
			return nil, err
		}
		for i := range ids {
			x := i * (2*w + gap)
			y := ri * (h + gap)
			draw.Draw(sheet, image.Rect(x, y, x+w, y+h), plain.RGBA(i, man.Image.Range), image.Point{}, draw.Src)
			draw.Draw(sheet, image.Rect(x+w, y, x+2*w, y+h), after.RGBA(i, man.Image.Range), image.Point{}, draw.Src)
		}
	}
	return sheet, nil
}
