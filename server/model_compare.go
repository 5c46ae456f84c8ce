package server

import (
	"context"
	"fmt"
	"image"

	"github.com/ganpaint-go/ganpaint/compare"
	"github.com/ganpaint-go/ganpaint/inference"
)

// classIndex is the segmenter's label of concept.
func (e *ModelEngine) classIndex(concept string) (int, error) {
	classes, err := e.m.Classes()
	if err != nil {
		return 0, err
	}
	for i, c := range classes {
		if c.Name == concept {
			return i, nil
		}
	}
	return 0, fmt.Errorf("server: concept %q is not a segmenter class", concept)
}

// ConceptMask implements Comparer with the model's segmenter.
func (e *ModelEngine) ConceptMask(ctx context.Context, img *image.RGBA, concept string) (*image.Gray, error) {
	class, err := e.classIndex(concept)
	if err != nil {
		return nil, err
	}
	imgs, err := inference.ImagesFromRGBA([]*image.RGBA{img}, e.m.ImageRange())
	if err != nil {
		return nil, err
	}
	labels, err := e.m.Segment(ctx, imgs)
	if err != nil {
		return nil, busy(err)
	}
	mask, _ := compare.ConceptMask(labels, imgs.W, imgs.H, uint8(class), compare.DefaultDilate)
	return mask, nil
}

// Fill implements Comparer: the model's learned inpainter (unavailable
// unless it ships one), Navier–Stokes and Telea at compare.DefaultRadius.
func (e *ModelEngine) Fill(ctx context.Context, img *image.RGBA, mask *image.Gray) ([]compare.Fill, error) {
	fills, err := compare.RunFills(ctx, img, mask, compare.Fillers(e.m, compare.DefaultRadius))
	if err != nil {
		return nil, err
	}
	for i := range fills {
		fills[i].Err = busy(fills[i].Err)
	}
	return fills, nil
}
