package efficacy

import (
	"fmt"
	"io"
	"time"
)

// progress prints a one-line progress report, rewritten in place, with the
// rate and the time left.
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
	p := &progress{w: w, label: label, total: total, start: now(), now: now}
	p.draw(p.start)
	return p
}

func (p *progress) add(n int) {
	p.done += n
	t := p.now()
	if t.Sub(p.last) >= 500*time.Millisecond || p.done >= p.total {
		p.draw(t)
	}
}

func (p *progress) draw(t time.Time) {
	p.last = t
	if p.w == nil {
		return
	}
	el := t.Sub(p.start).Seconds()
	rate, eta := 0.0, "?"
	if el > 0 {
		rate = float64(p.done) / el
	}
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%s %d/%d (%.1f/s, %s left)   ", p.label, p.done, p.total, rate, eta)
}

func (p *progress) finish() {
	if p.w == nil {
		return
	}
	p.draw(p.now())
	fmt.Fprintf(p.w, "\r%s %d/%d in %s\n", p.label, p.done, p.total, p.now().Sub(p.start).Round(time.Second))
}
