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
//
// Sessions that recently sent faster than their rate limit wait in a second
// line that is served only when the first is empty: a flooder's strokes are
// still shown, but never ahead of a painter who keeps to the limits.
type turns struct {
	mu      sync.Mutex
	free    int
	waiting []*turn // FIFO
	late    []*turn // FIFO of penalised requests
	// waitingHTTP counts the waiting requests that are not sessions, which
	// are bounded separately (sessions are bounded by MaxSessions).
	waitingHTTP int
}

// turn is one request for a render slot; ready is closed when it is granted.
type turn struct {
	ready   chan struct{}
	granted bool
	http    bool
	late    bool
	// nowLate, when set, is asked again when the turn comes up: a session
	// that started flooding after it queued moves to the second line.
	nowLate func() bool
}

func newTurns(slots int) *turns { return &turns{free: slots} }

// request queues a turn, in the second line when late. The caller must
// either receive from t.ready and call done, or call cancel.
func (q *turns) request(http, late bool) *turn {
	return q.requestTurn(&turn{http: http, late: late})
}

// requestSession queues a session's turn; nowLate tells whether the session
// is over its rate limit, now and when the turn comes up.
func (q *turns) requestSession(nowLate func() bool) *turn {
	return q.requestTurn(&turn{late: nowLate(), nowLate: nowLate})
}

func (q *turns) requestTurn(t *turn) *turn {
	t.ready = make(chan struct{})
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.free > 0 && len(q.waiting) == 0 && len(q.late) == 0 {
		q.free--
		t.granted = true
		close(t.ready)
		return t
	}
	if t.late {
		q.late = append(q.late, t)
	} else {
		q.waiting = append(q.waiting, t)
	}
	if t.http {
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
	for len(q.waiting) > 0 && q.waiting[0].nowLate != nil && q.waiting[0].nowLate() {
		t := q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		t.late = true
		q.late = append(q.late, t)
	}
	line := &q.waiting
	if len(*line) == 0 {
		line = &q.late
	}
	if len(*line) == 0 {
		q.free++
		return
	}
	next := (*line)[0]
	(*line)[0] = nil
	*line = (*line)[1:]
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
	line := &q.waiting
	if t.late {
		line = &q.late
	}
	for i, w := range *line {
		if w == t {
			*line = append((*line)[:i], (*line)[i+1:]...)
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
	return len(q.waiting) + len(q.late)
}

// acquireHTTP waits for a turn for a request that is not a session, failing
// with ErrBusy at once when maxWaiting such requests already wait, or when
// ctx ends first.
func (q *turns) acquireHTTP(ctx context.Context, maxWaiting int) error {
	q.mu.Lock()
	if q.waitingHTTP >= maxWaiting && (q.free == 0 || len(q.waiting)+len(q.late) > 0) {
		q.mu.Unlock()
		return ErrBusy
	}
	q.mu.Unlock()
	t := q.request(true, false)
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		q.cancel(t)
		return ErrBusy
	}
}
