package server

import (
	"context"
	"sync"
)

// turns hands out render slots in arrival order. A session asks for a turn
// only when it has a state to show and holds at most one request at a time,
// so arrival order is round robin over the sessions that want an image: a
// painter that strokes ten times a second cannot get more renders than one
// that strokes twice, and none waits behind more than one render of each
// other session. Whoever gets a turn renders its newest state.
type turns struct {
	mu      sync.Mutex
	free    int
	waiting []*turn // FIFO
	// waitingHTTP counts the waiting requests that are not sessions, which
	// are bounded separately (sessions are bounded by MaxSessions).
	waitingHTTP int
}

// turn is one request for a render slot; ready is closed when it is granted.
type turn struct {
	ready   chan struct{}
	granted bool
	http    bool
}

func newTurns(slots int) *turns { return &turns{free: slots} }

// request queues a turn. The caller must either receive from t.ready and
// call done, or call cancel.
func (q *turns) request(http bool) *turn {
	t := &turn{ready: make(chan struct{}), http: http}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.free > 0 && len(q.waiting) == 0 {
		q.free--
		t.granted = true
		close(t.ready)
		return t
	}
	q.waiting = append(q.waiting, t)
	if http {
		q.waitingHTTP++
	}
	return t
}

// done returns a granted turn's slot to the next in line.
func (q *turns) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.grantLocked()
}

func (q *turns) grantLocked() {
	if len(q.waiting) == 0 {
		q.free++
		return
	}
	next := q.waiting[0]
	q.waiting[0] = nil
	q.waiting = q.waiting[1:]
	if next.http {
		q.waitingHTTP--
	}
	next.granted = true
	close(next.ready)
}

// cancel withdraws t; a turn granted meanwhile is passed on.
func (q *turns) cancel(t *turn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.granted {
		q.grantLocked()
		return
	}
	for i, w := range q.waiting {
		if w == t {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			if t.http {
				q.waitingHTTP--
			}
			return
		}
	}
}

// depth is the number of waiting requests.
func (q *turns) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// acquireHTTP waits for a turn for a request that is not a session, failing
// with ErrBusy at once when maxWaiting such requests already wait, or when
// ctx ends first.
func (q *turns) acquireHTTP(ctx context.Context, maxWaiting int) error {
	q.mu.Lock()
	if q.waitingHTTP >= maxWaiting && (q.free == 0 || len(q.waiting) > 0) {
		q.mu.Unlock()
		return ErrBusy
	}
	q.mu.Unlock()
	t := q.request(true)
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		q.cancel(t)
		return ErrBusy
	}
}
