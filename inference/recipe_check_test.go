package inference_test

import (
	"context"
	"os"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// Set by `make test` after the toy pipeline (and by hand for a real model):
// a model folder and the torch reference `training/recipes.py --check-out`
// wrote for it.
const (
	envRecipeModel = "GANPAINT_RECIPE_MODEL"
	envRecipeRef   = "GANPAINT_RECIPE_REF"
)

// TestRecipeTorchMatchesRuntime checks the torch re-implementation recipes
// are trained with (training/onnx_torch.py) against ONNX Runtime on the same
// files, and the recipe edit formula of training/recipes.py against
// ApplyEdits' ModeBlend: the layer's activations, a recipe applied in a
// rectangle, the finished image and its segmentation.
func TestRecipeTorchMatchesRuntime(t *testing.T) {
	dir, ref := os.Getenv(envRecipeModel), os.Getenv(envRecipeRef)
	if dir == "" || ref == "" {
		t.Skipf("set %s and %s to check training/onnx_torch.py (make test does, after the toy pipeline)", envRecipeModel, envRecipeRef)
	}
	testenv.RequireRuntime(t)
	arrays, err := readNPZ(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := inference.LoadDir(dir, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, k := range []string{"ids", "rect", "layer_index", "weights", "values", "features", "edited", "image", "labels"} {
		if arrays[k] == nil {
			t.Fatalf("%s lacks %s", ref, k)
		}
	}
	li := m.Layers()[arrays["layer_index"].int64s[0]]
	ids := arrays["ids"].int64s
	zs, err := m.ZBatch(ids)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := m.Head(ctx, li.Name, zs, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	compare(t, li.Name+" (onnx_torch head)", f.Data, arrays["features"], 1e-3)
	// Edit torch's activations so the edit is compared on its own.
	src := &inference.Features{Layer: li, N: len(ids), Data: append([]float32(nil), arrays["features"].float32s...)}
	units := make([]int, li.Channels)
	for u := range units {
		units[u] = u
	}
	r := arrays["rect"].int64s
	man := m.Manifest()
	edit := inference.Edit{Units: units, Mode: inference.ModeBlend, Strength: 1, Weights: arrays["weights"].float32s, Values: arrays["values"].float32s,
		Mask: inference.RectMask(man.Image.Width, man.Image.Height, int(r[0]), int(r[1]), int(r[2]), int(r[3]))}
	var edited inference.Features
	if err := inference.ApplyEdits(&edited, src, []inference.Edit{edit}, nil, inference.PoolMax); err != nil {
		t.Fatal(err)
	}
	compare(t, "recipe edit (ModeBlend vs apply_recipe)", edited.Data, arrays["edited"], 1e-5)
	img, err := m.Tail(ctx, &edited)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "image after the edit (onnx_torch tail)", img.Data, arrays["image"], 1e-3)
	labels, err := m.Segment(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i, l := range labels {
		if int64(l) != arrays["labels"].int64s[i] {
			differ++
		}
	}
	t.Logf("segmenter: %d of %d labels differ from onnx_torch's", differ, len(labels))
	// Only near-ties may flip (the reference has labels, not logits).
	if differ*1000 > len(labels) {
		t.Errorf("%d of %d labels differ", differ, len(labels))
	}
}
