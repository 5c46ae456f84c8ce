package dissection

import (
	"context"
	"sync"
)

// pipeline runs produce on consecutive batches of ids, at most inflight at
// once, and hands the results to consume strictly in batch order (so
// order-dependent state such as the sketches is reproducible). consume runs
// on the calling goroutine; a batch's slot is freed only after it has been
// consumed, which bounds memory to inflight+1 batches. On the first error the
// remaining work is cancelled and pipeline waits for running producers
// before returning, so no request outlives the call.
func pipeline[T any](ctx context.Context, ids []int64, batch, inflight int,
	produce func(ctx context.Context, ids []int64) (T, error),
	consume func(ids []int64, v T) error) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	// Deferred calls run last-in first-out: cancel first, so a launcher
	// blocked on a full semaphore wakes up, then wait for every goroutine.
	defer wg.Wait()
	defer cancel()
	nb := (len(ids) + batch - 1) / batch
	span := func(i int) []int64 { return ids[i*batch : min((i+1)*batch, len(ids))] }
	type result struct {
		v   T
		err error
	}
	results := make([]chan result, nb)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	sem := make(chan struct{}, inflight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < nb; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				v, err := produce(ctx, span(i))
				results[i] <- result{v, err}
			}(i)
		}
	}()
	for i := 0; i < nb; i++ {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		err := consume(span(i), r.v)
		<-sem
		if err != nil {
			return err
		}
	}
	return nil
}

// parallelFor splits [0, n) into at most workers contiguous chunks and runs
// fn on each in its own goroutine; each chunk owns its slice of the
// accumulators, so no locking is needed.
func parallelFor(n, workers int, fn func(lo, hi int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
