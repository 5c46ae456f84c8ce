package server

import (
	"context"
	"errors"
	"image"
	"sync"
	"time"
)

// pngCache keeps the most recently rendered /render.png images. Link
// previews and the sample strip ask for the same few states over and over,
// and each costs a full generator run; a small FIFO is enough for that.
type pngCache struct {
	mu    sync.Mutex
	max   int
	items map[string][]byte
	order []string // insertion order, oldest first
}

func newPNGCache(max int) *pngCache {
	return &pngCache{max: max, items: map[string][]byte{}}
}

func (c *pngCache) get(key string) ([]byte, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.items[key]
	return b, ok
}

func (c *pngCache) put(key string, b []byte) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.items, c.order[0])
		c.order = append(c.order[:0], c.order[1:]...)
	}
	c.items[key] = b
	c.order = append(c.order, key)
}

// renderPainter renders p's current state for an HTTP request. It waits
// its turn among the sessions for up to Config.RenderWait (a page with a
// strip of thumbnails fires many requests at once, and they should wait
// rather than fail) and answers ErrBusy when the wait is over or too many
// requests already wait.
func (s *site) renderPainter(ctx context.Context, p *painter) (*image.RGBA, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.RenderWait)
	err := s.turns.acquireHTTP(wctx, s.cfg.MaxRenderWaiting)
	cancel()
	if err != nil {
		return nil, err
	}
	defer s.turns.done()
	deadline := time.Now().Add(s.cfg.RenderWait)
	backoff := s.cfg.BusyBackoff
	for {
		f, err := s.engine.Features(ctx, p.layer.info.Name, p.id)
		var img *image.RGBA
		if err == nil {
			img, err = s.engine.Render(ctx, f, p.layer.withRepair(p.repairOn(), p.edits()))
		}
		if err == nil || !errors.Is(err, ErrBusy) || time.Now().Add(backoff).After(deadline) {
			return img, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, maxBusyBackoff/2)
	}
}
