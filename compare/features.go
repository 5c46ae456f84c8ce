package compare

import (
	"context"
	"fmt"

	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/npy"
)

// ReferenceBatch is how many renders ReferenceFromRenders segments per call.
const ReferenceBatch = 16

// maxRenderBytes bounds the renders file read by ReferenceFromRenders.
const maxRenderBytes = 4 << 30

// ReferenceFromRenders computes FID reference statistics (the segmenter's
// features of real images) from the `images` array of an .npz written by
// training/build_dataset.py: uint8 [N, H, W, 3] at the model's image size.
func ReferenceFromRenders(ctx context.Context, m *inference.Model, npzPath string) (fid.Stats, error) {
	if m.FeatureDim() == 0 {
		return fid.Stats{}, fmt.Errorf("%w: run training/seg_features.py on the model's segmenter.onnx", inference.ErrNoFeatures)
	}
	arr, err := npy.ReadNPZ(npzPath, "images", maxRenderBytes)
	if err != nil {
		return fid.Stats{}, err
	}
	man := m.Manifest()
	if len(arr.Shape) != 4 || arr.Shape[3] != 3 || arr.Shape[1] != man.Image.Height || arr.Shape[2] != man.Image.Width {
		return fid.Stats{}, fmt.Errorf("%s: images have shape %v, want [N, %d, %d, 3] (the model's image size)",
			npzPath, arr.Shape, man.Image.Height, man.Image.Width)
	}
	n, h, w := arr.Shape[0], arr.Shape[1], arr.Shape[2]
	if n < 2 {
		return fid.Stats{}, fmt.Errorf("%s: %d images, need at least 2", npzPath, n)
	}
	feats := make([]float32, 0, n*m.FeatureDim())
	for start := 0; start < n; start += ReferenceBatch {
		end := min(start+ReferenceBatch, n)
		imgs, err := inference.ImagesFromRGB(arr.Data[start*h*w*3:end*h*w*3], end-start, h, w, man.Image.Range)
		if err != nil {
			return fid.Stats{}, err
		}
		_, f, err := m.SegmentFeatures(ctx, imgs)
		if err != nil {
			return fid.Stats{}, err
		}
		feats = append(feats, f...)
	}
	return fid.Compute(feats, m.FeatureDim())
}
