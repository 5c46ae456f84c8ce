// Package progress draws the one-line progress bar of the long batch
// commands (dissection passes, the efficacy benchmark): rewritten in place
// with a carriage return, with the rate and the time left, and a summary
// line at the end.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// redraw bounds how often the line is rewritten.
const redraw = 200 * time.Millisecond

// Bar is one progress line. Only one goroutine updates it. A Bar on a nil
// writer draws nothing but still counts.
type Bar struct {
	w     io.Writer
	label string
	unit  string
	total int
	done  int
	start time.Time
	last  time.Time
	now   func() time.Time
}

// New starts a bar of total items named unit ("samples", "probes") on w;
// now is the clock (time.Now when nil).
func New(w io.Writer, label, unit string, total int, now func() time.Time) *Bar {
	if now == nil {
		now = time.Now
	}
	t := now()
	b := &Bar{w: w, label: label, unit: unit, total: total, start: t, now: now}
	b.draw(t)
	return b
}

// Add counts n more items done.
func (b *Bar) Add(n int) {
	b.done += n
	t := b.now()
	if t.Sub(b.last) >= redraw || b.done >= b.total {
		b.draw(t)
	}
}

func (b *Bar) rate(t time.Time) float64 {
	el := t.Sub(b.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(b.done) / el
}

func (b *Bar) draw(t time.Time) {
	b.last = t
	if b.w == nil {
		return
	}
	r := b.rate(t)
	eta := "?"
	if r > 0 {
		eta = time.Duration(float64(b.total-b.done) / r * float64(time.Second)).Round(time.Second).String()
	}
	const width = 24
	fill := 0
	if b.total > 0 {
		fill = min(width, width*b.done/b.total)
	}
	bar := strings.Repeat("#", fill) + strings.Repeat(".", width-fill)
	fmt.Fprintf(b.w, "\r%-22s [%s] %d/%d  %.1f %s/s  ETA %s   ", b.label, bar, b.done, b.total, r, b.unit, eta)
}

// Finish ends the line with a summary and returns the overall rate in items
// per second.
func (b *Bar) Finish() float64 {
	t := b.now()
	b.draw(t)
	r := b.rate(t)
	if b.w != nil {
		fmt.Fprintf(b.w, "\r%-22s %d %s in %s (%.1f %s/s)%s\n", b.label, b.done, b.unit,
			t.Sub(b.start).Round(time.Millisecond), r, b.unit, strings.Repeat(" ", 30))
	}
	return r
}
