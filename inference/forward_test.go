package inference_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// Running forward from layer2 to layer3 equals the head to layer3, and the
// tail after it equals the tail after layer2.
func TestForwardInto(t *testing.T) {
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(plantedDir, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	z, _ := m.ZBatch([]int64{3, 8})
	f2, err := m.Head(ctx, "layer2", z, 2)
	if err != nil {
		t.Fatal(err)
	}
	f3, err := m.Head(ctx, "layer3", z, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got inference.Features
	if err := m.ForwardInto(ctx, &got, f2, "layer3"); err != nil {
		t.Fatal(err)
	}
	if got.Layer.Name != "layer3" || got.N != 2 || sameBits(got.Data, f3.Data) != -1 {
		t.Fatalf("forward to layer3 differs from the head (%s, %d values)", got.Layer.Name, len(got.Data))
	}
	a, _ := m.Tail(ctx, f2)
	b, _ := m.Tail(ctx, &got)
	if sameBits(a.Data, b.Data) != -1 {
		t.Fatal("tail after forwarding differs")
	}
	var same inference.Features
	if err := m.ForwardInto(ctx, &same, f3, "layer3"); err != nil || sameBits(same.Data, f3.Data) != -1 {
		t.Fatalf("forward to its own layer: %v", err)
	}
	for _, to := range []string{"layer1", "layer9"} {
		if err := m.ForwardInto(ctx, &got, f3, to); !errors.Is(err, inference.ErrUnknownLayer) {
			t.Errorf("forward to %s: %v", to, err)
		}
	}
}
