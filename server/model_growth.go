package server

import (
	"context"
	"fmt"
	"image"

	"github.com/ganpaint-go/ganpaint/inference"
)

// growthBatch is how many images MeasureGrowth segments per call.
const growthBatch = 16

// GrowthMap implements Growth with the dissection's location maps.
func (e *ModelEngine) GrowthMap(layer, concept string) (*GrowthMap, bool) {
	if e.res == nil {
		return nil, false
	}
	l, ok := e.res.Layers[layer]
	if !ok || l.Causal == nil {
		return nil, false
	}
	lm, ok := l.Causal.Locations[concept]
	if !ok || lm.Rows <= 0 || lm.Cols <= 0 || len(lm.Rate) != lm.Rows*lm.Cols || len(lm.Eligible) != len(lm.Rate) {
		return nil, false
	}
	gm := &GrowthMap{Layer: layer, Concept: concept, Source: "dissection", Rows: lm.Rows, Cols: lm.Cols,
		Rate: append([]float64(nil), lm.Rate...), Present: make([]bool, len(lm.Rate)), K: lm.K, Images: lm.Images,
		AppearShare: l.Causal.AppearShare}
	for i, n := range lm.Eligible {
		gm.Present[i] = n == 0
	}
	return gm, true
}

// MeasureGrowth implements Growth: one generator run per block with the
// units added there (at their levels, as a stroke adds them), then the
// segmenter on all of them.
func (e *ModelEngine) MeasureGrowth(ctx context.Context, f Features, edits []Edit, units []int, concept string, appear float64) (*GrowthMap, error) {
	mf, ok := f.(modelFeatures)
	if !ok || mf.f == nil {
		return nil, fmt.Errorf("server: features of type %T did not come from this engine", f)
	}
	class, err := e.classIndex(concept)
	if err != nil {
		return nil, err
	}
	li := mf.f.Layer
	rows, cols := min(li.Height, MaxGrowthSide), min(li.Width, MaxGrowthSide)
	gm := &GrowthMap{Layer: li.Name, Concept: concept, Source: "image", Rows: rows, Cols: cols,
		Rate: make([]float64, rows*cols), Present: make([]bool, rows*cols), K: len(units), Images: 1, AppearShare: appear}
	// Block b covers cells ⌊i·h/rows⌋ … ⌊(i+1)·h/rows⌋−1 (columns likewise).
	blockMask := func(b int) []float32 {
		m := make([]float32, li.Width*li.Height)
		i, j := b/cols, b%cols
		for y := i * li.Height / rows; y < (i+1)*li.Height/rows; y++ {
			for x := j * li.Width / cols; x < (j+1)*li.Width/cols; x++ {
				m[y*li.Width+x] = 1
			}
		}
		return m
	}
	W, H := e.info.ImageWidth, e.info.ImageHeight
	share := func(labels []uint8, b int) float64 {
		i, j := b/cols, b%cols
		y0, y1 := i*H/rows, (i+1)*H/rows
		x0, x1 := j*W/cols, (j+1)*W/cols
		n, hit := 0, 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				n++
				if int(labels[y*W+x]) == class {
					hit++
				}
			}
		}
		if n == 0 {
			return 0
		}
		return float64(hit) / float64(n)
	}
	base, err := e.Render(ctx, f, edits)
	if err != nil {
		return nil, err
	}
	baseLabels, err := e.segmentRGBA(ctx, []*image.RGBA{base})
	if err != nil {
		return nil, err
	}
	for start := 0; start < rows*cols; start += growthBatch {
		var imgs []*image.RGBA
		end := min(start+growthBatch, rows*cols)
		for b := start; b < end; b++ {
			ed := append(append([]Edit(nil), edits...), Edit{Edit: inference.Edit{Units: units, Mode: inference.ModeAdd, Strength: 1,
				Mask: inference.Mask{Width: li.Width, Height: li.Height, Alpha: blockMask(b)}}})
			img, err := e.Render(ctx, f, ed)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
		labels, err := e.segmentRGBA(ctx, imgs)
		if err != nil {
			return nil, err
		}
		for k := range imgs {
			b := start + k
			if share(baseLabels, b) >= appear {
				gm.Present[b] = true
				continue
			}
			if share(labels[k*W*H:(k+1)*W*H], b) >= appear {
				gm.Rate[b] = 1
			}
		}
	}
	return gm, nil
}

func (e *ModelEngine) segmentRGBA(ctx context.Context, imgs []*image.RGBA) ([]uint8, error) {
	batch, err := inference.ImagesFromRGBA(imgs, e.m.ImageRange())
	if err != nil {
		return nil, err
	}
	labels, err := e.m.Segment(ctx, batch)
	return labels, busy(err)
}
