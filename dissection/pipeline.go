package dissection

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
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

// progress draws a one-line progress bar (carriage return, no newline until
// finish) with the rate and the estimated time left. Only one goroutine
// updates it.
type progress struct {
	w     io.Writer
	label string
	total int
	done  int
	start time.Time
	last  time.Time
	now   func() time.Time
}

func newProgress(w io.Writer, label string, total int, now func() time.Time) *progress {
	t := now()
	p := &progress{w: w, label: label, total: total, start: t, now: now}
	p.draw(t)
	return p
}

func (p *progress) add(n int) {
	p.done += n
	t := p.now()
	if t.Sub(p.last) >= 200*time.Millisecond || p.done >= p.total {
		p.draw(t)
	}
}

func (p *progress) rate(t time.Time) float64 {
	el := t.Sub(p.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(p.done) / el
}

func (p *progress) draw(t time.Time) {
	p.last = t
	if p.w == nil {
		return
	}
	r := p.rate(t)
	eta := "?"
	if r > 0 {
		eta = (time.Duration(float64(p.total-p.done) / r * float64(time.Second))).Round(time.Second).String()
	}
	width := 24
	fill := 0
	if p.total > 0 {
		fill = width * p.done / p.total
	}
	bar := make([]byte, width)
	for i := range bar {
		if i < fill {
			bar[i] = '#'
		} else {
			bar[i] = '.'
		}
	}
	fmt.Fprintf(p.w, "\r%-22s [%s] %d/%d  %.1f samples/s  ETA %s   ", p.label, bar, p.done, p.total, r, eta)
}

// finish ends the line and returns the overall rate in samples per second.
func (p *progress) finish() float64 {
	t := p.now()
	p.draw(t)
	if p.w != nil {
		fmt.Fprintf(p.w, "\r%-22s %d samples in %s (%.1f samples/s)%s\n", p.label, p.done,
			t.Sub(p.start).Round(time.Millisecond), p.rate(t), "                              ")
	}
	return p.rate(t)
}
