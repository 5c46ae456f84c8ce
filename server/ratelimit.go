package server

import "time"

// bucket is a session's message budget: rate tokens a second up to burst.
// It is used by the reading goroutine only.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// take spends one token, first waiting until there is one; it reports
// whether it had to wait (the client is over its rate) and false for ok
// when stop closed during the wait. While it waits the session reads
// nothing, so the client's frames pile up in TCP buffers and its sends
// block: a flooder is throttled by TCP instead of costing the server work.
func (b *bucket) take(stop <-chan struct{}) (waited, ok bool) {
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return false, true
	}
	wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
		return true, false
	}
	b.last = time.Now()
	b.tokens = 0
	return true, true
}
