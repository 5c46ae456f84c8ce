package inference_test

import (
	"context"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

// Running the sessions on low-priority threads changes where they run, not
// what they compute: every path through a worker (head, tail, region
// repaint) gives the same bits.
func TestWorkerNiceSameImages(t *testing.T) {
	plain := loadPlanted(t, inference.Options{Workers: 1})
	nice := loadPlanted(t, inference.Options{Workers: 1, WorkerNice: 5})
	layer := plain.Layers()[1].Name
	ctx := context.Background()
	render := func(m *inference.Model) []float32 {
		f, err := m.HeadID(ctx, layer, 3)
		if err != nil {
			t.Fatal(err)
		}
		var fr inference.Frame
		if _, err := m.Repaint(ctx, &fr, f); err != nil {
			t.Fatal(err)
		}
		f.Data[0] += 1 // one cell changed: a region repaint where the model allows it
		if _, err := m.Repaint(ctx, &fr, f); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), fr.Image().Data...)
	}
	a, b := render(plain), render(nice)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("images of %d and %d values", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: %v without WorkerNice, %v with it", i, a[i], b[i])
		}
	}
}
