package dissection

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestPipelineOrderAndBound(t *testing.T) {
	ids := make([]int64, 103)
	for i := range ids {
		ids[i] = int64(i)
	}
	var running, peak atomic.Int32
	var got []int64
	err := pipeline(context.Background(), ids, 4, 3,
		func(ctx context.Context, b []int64) ([]int64, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
			return slices.Clone(b), nil
		},
		func(b []int64, v []int64) error {
			if !slices.Equal(b, v) {
				t.Errorf("batch %v got result %v", b, v)
			}
			got = append(got, v...)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("consumed out of order: %v", got)
	}
	if peak.Load() > 3 {
		t.Fatalf("%d producers ran at once, limit 3", peak.Load())
	}
}

func TestPipelineErrorStopsEverything(t *testing.T) {
	ids := make([]int64, 1000)
	boom := errors.New("boom")
	var started, finished atomic.Int32
	cases := []struct {
		name    string
		produce func(ctx context.Context, b []int64) (int, error)
		consume func(b []int64, v int) error
	}{
		{"producer fails", func(ctx context.Context, b []int64) (int, error) {
			started.Add(1)
			defer finished.Add(1)
			return 0, boom
		}, func([]int64, int) error { return nil }},
		{"consumer fails", func(ctx context.Context, b []int64) (int, error) {
			started.Add(1)
			defer finished.Add(1)
			return 0, nil
		}, func([]int64, int) error { return boom }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			started.Store(0)
			finished.Store(0)
			done := make(chan error, 1)
			go func() { done <- pipeline(context.Background(), ids, 1, 2, c.produce, c.consume) }()
			select {
			case err := <-done:
				if !errors.Is(err, boom) {
					t.Fatalf("got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("pipeline hung after an error")
			}
			if started.Load() != finished.Load() {
				t.Fatalf("%d producers still running after return", started.Load()-finished.Load())
			}
			if started.Load() > 10 {
				t.Fatalf("%d batches started after the first error", started.Load())
			}
		})
	}
}
