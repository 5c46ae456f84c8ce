package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ganpaint-go/ganpaint/report"
)

// StaticImages renders the report's images by key; *report.Images is one.
type StaticImages interface {
	Get(ctx context.Context, key string) ([]byte, string, error)
}

// StaticStats says what WriteStaticReport wrote.
type StaticStats struct {
	Pages  int
	Images int
	Bytes  int64
}

// WriteStaticReport writes the report as files for hosting without the
// server (a course site): index.html, one page per layer (<layer>.html) and
// per unit (<layer>-unit<N>.html, showing the unit's top image), the images
// they show under img/ and the stylesheet, script and icon under static/.
// All links are relative, so the folder can be moved or served from any
// path. Images render on workers goroutines (each still bounded by the
// renderer); progress, if not nil, gets a line per layer.
func WriteStaticReport(ctx context.Context, dir string, rep *report.Report, imgs StaticImages, a *Assets, workers int, progress io.Writer) (StaticStats, error) {
	var st StaticStats
	if rep == nil || imgs == nil || a == nil {
		return st, errors.New("web: WriteStaticReport needs a report, images and assets")
	}
	if workers <= 0 {
		workers = 2
	}
	pages, err := NewReport(rep, report.StaticLinks(), a)
	if err != nil {
		return st, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("web: %w", err)
	}
	write := func(rel string, body []byte) error {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("web: %w", err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return fmt.Errorf("web: %w", err)
		}
		st.Bytes += int64(len(body))
		return nil
	}
	for _, name := range []string{"report.css", "report.js", "icon.svg"} {
		as, ok := a.byName[name]
		if !ok {
			return st, fmt.Errorf("%w: %q", ErrUnknownAsset, name)
		}
		if err := write("static/"+as.hashed, as.body); err != nil {
			return st, err
		}
	}
	page := func(rel string, render func(io.Writer) error) error {
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			return err
		}
		st.Pages++
		return write(rel, buf.Bytes())
	}
	links := report.StaticLinks()
	if err := page(links.Index(), pages.Index); err != nil {
		return st, err
	}
	var mu sync.Mutex // st, from the image workers
	for _, l := range rep.Layers {
		name := l.Layer.Layer
		start := time.Now()
		if err := page(links.Layer(name), func(w io.Writer) error { return pages.Layer(w, name) }); err != nil {
			return st, err
		}
		var keys []string
		seen := map[string]bool{}
		for u := range l.Units {
			if err := page(links.Unit(name, u), func(w io.Writer) error { return pages.Unit(w, name, u, -1) }); err != nil {
				return st, err
			}
			// A unit's keys stay together: they share its top images, which
			// the renderer then generates once.
			uk, err := pages.UnitImageKeys(name, u)
			if err != nil {
				return st, err
			}
			for _, k := range uk {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		n, err := renderAll(ctx, keys, workers, imgs, func(key string, body []byte) error {
			mu.Lock()
			defer mu.Unlock()
			return write("img/"+key, body)
		})
		st.Images += n
		if err != nil {
			return st, err
		}
		if progress != nil {
			fmt.Fprintf(progress, "%s: %d unit pages, %d images in %s\n", name, len(l.Units), n, time.Since(start).Round(time.Millisecond))
		}
	}
	return st, nil
}

// renderAll renders keys on workers goroutines, in order within each
// worker's share, and stops at the first error.
func renderAll(ctx context.Context, keys []string, workers int, imgs StaticImages, save func(key string, body []byte) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	done := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range next {
				body, _, err := imgs.Get(ctx, key)
				if err == nil {
					err = save(key, body)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("image %s: %w", key, err)
					cancel()
				}
				if err == nil {
					done++
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, k := range keys {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return done, firstErr
}
