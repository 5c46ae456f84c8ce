package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
)

func init() {
	subcommands["bench"] = subcommand{
		summary: "measure stroke → encoded image latency against full regeneration",
		run:     runBench,
	}
}

// benchStats summarises one series of latencies.
type benchStats struct{ p50, p99, mean time.Duration }

func summarize(d []time.Duration) benchStats {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	// Nearest-rank percentiles: p99 of 200 strokes is the 198th value.
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return benchStats{p50: rank(0.5), p99: rank(0.99), mean: sum / time.Duration(len(s))}
}

// browserFormat is the frame format the painter's browser code asks for
// (PNG_MAX_PIXELS in web/static/app.js): PNG up to 128×128, JPEG above.
func browserFormat(w, h int) string {
	if w*h <= 128*128 {
		return "png"
	}
	return "jpeg"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", "model directory (default: the embedded default model)")
	strokes := fl.Int("strokes", 200, "number of strokes to time (each path)")
	layer := fl.String("layer", "", "paint layer (default: the manifest's default_layer)")
	id := fl.Int64("id", 7, "image id painted on")
	format := fl.String("format", "auto", "frame format: png, jpeg, or auto (what the browser asks for: PNG up to 128×128 pixels, else JPEG)")
	quality := fl.Int("quality", 90, "JPEG quality of the encoded frame")
	unitsPer := fl.Int("units", 15, "units per stroke")
	threads := fl.Int("threads", 1, "ONNX Runtime intra-op threads")
	seed := fl.Uint64("seed", 1, "seed of the random strokes")
	ortLib := fl.String("ort-lib", "", "ONNX Runtime library (default: $"+inference.EnvLibrary+", then .ort/, then system paths)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if *strokes < 1 || *strokes > 100000 {
		return fmt.Errorf("--strokes %d must be 1..100000", *strokes)
	}
	if *quality < 1 || *quality > 100 {
		return fmt.Errorf("--quality %d must be 1..100", *quality)
	}
	if *format != "auto" && *format != "png" && *format != "jpeg" {
		return fmt.Errorf("--format %q must be png, jpeg or auto", *format)
	}
	if *unitsPer < 1 || *threads < 1 {
		return fmt.Errorf("--units and --threads must be positive")
	}
	m, _, err := openModel(*model, *ortLib, inference.Options{Workers: 1, IntraOpThreads: *threads,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer m.Close()
	man := m.Manifest()
	li, err := layerOrDefault(m, *layer)
	if err != nil {
		return err
	}
	levels, err := m.Levels(li.Name)
	if err != nil {
		return err
	}
	z, err := m.Z(*id)
	if err != nil {
		return err
	}
	imgW, imgH := man.Image.Width, man.Image.Height
	if *format == "auto" {
		*format = browserFormat(imgW, imgH)
	}
	// A session's edits as the painter produces them: square brush dabs of
	// 1/8 of the image side, alternating add and remove, 15 units each, on a
	// growing stroke list that is re-applied in full every time (undo-able).
	rng := rand.New(rand.NewPCG(*seed, 0x9a1))
	side := max(imgW/8, 1)
	edits := make([]inference.Edit, *strokes)
	for i := range edits {
		units := make([]int, min(*unitsPer, li.Channels))
		for u := range units {
			units[u] = rng.IntN(li.Channels)
		}
		x, y := rng.IntN(imgW), rng.IntN(imgH)
		edits[i] = inference.Edit{Units: units, Mode: inference.Mode(1 + i%2), Strength: 1,
			Mask: inference.RectMask(imgW, imgH, x-side/2, y-side/2, x+side/2+1, y+side/2+1)}
	}

	cached, err := m.Head(ctx, li.Name, z, 1)
	if err != nil {
		return err
	}
	var (
		edited, fresh inference.Features
		img           inference.Images
		frame         bytes.Buffer
		rgba          = image.NewRGBA(image.Rect(0, 0, imgW, imgH))
	)
	encode := func() error {
		if err := img.RGBAInto(rgba, 0, m.ImageRange()); err != nil {
			return err
		}
		frame.Reset()
		if *format == "png" {
			return inference.EncodePNG(&frame, rgba)
		}
		return inference.EncodeJPEG(&frame, rgba, *quality)
	}
	var tApply, tTail, tEnc []time.Duration
	// A session keeps each stroke's mask pooled to the layer grid (pooling is
	// idempotent), so a new stroke pools only its own mask.
	pooled := make([]inference.Edit, len(edits))
	// Our path: activations at the paint layer are cached per image, so a
	// stroke costs pooling its mask + edit application + the blocks after the
	// layer + encoding.
	stroke := func(k int, record bool) error {
		t0 := time.Now()
		pooled[k-1] = edits[k-1]
		mask, err := edits[k-1].Mask.Pooled(li.Width, li.Height, inference.PoolMax)
		if err != nil {
			return err
		}
		pooled[k-1].Mask = mask
		if err := inference.ApplyEdits(&edited, cached, pooled[:k], levels, inference.PoolMax); err != nil {
			return err
		}
		t1 := time.Now()
		if err := m.TailInto(ctx, &img, &edited); err != nil {
			return err
		}
		t2 := time.Now()
		if err := encode(); err != nil {
			return err
		}
		if record {
			t3 := time.Now()
			tApply, tTail, tEnc = append(tApply, t1.Sub(t0)), append(tTail, t2.Sub(t1)), append(tEnc, t3.Sub(t2))
		}
		return nil
	}
	// The reference's path: every stroke reruns the whole generator from z
	// with the edits hooked in at the layer, then encodes.
	regenerate := func(k int) error {
		if err := m.HeadInto(ctx, &fresh, li.Name, z, 1); err != nil {
			return err
		}
		if err := inference.ApplyEdits(&fresh, &fresh, pooled[:k], levels, inference.PoolMax); err != nil {
			return err
		}
		if err := m.TailInto(ctx, &img, &fresh); err != nil {
			return err
		}
		return encode()
	}
	for k := 1; k <= min(10, *strokes); k++ { // warm caches and ORT's allocators
		if err := stroke(k, false); err != nil {
			return err
		}
		if err := regenerate(k); err != nil {
			return err
		}
	}
	clear(pooled)
	ours := make([]time.Duration, 0, *strokes)
	full := make([]time.Duration, 0, *strokes)
	// Interleave the two paths so both see the same machine load.
	for k := 1; k <= *strokes; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		if err := stroke(k, true); err != nil {
			return err
		}
		ours = append(ours, time.Since(t))
		t = time.Now()
		if err := regenerate(k); err != nil {
			return err
		}
		full = append(full, time.Since(t))
	}
	o, f := summarize(ours), summarize(full)
	a, tl, e := summarize(tApply), summarize(tTail), summarize(tEnc)
	enc := "PNG"
	if *format == "jpeg" {
		enc = fmt.Sprintf("JPEG quality %d", *quality)
	}
	fmt.Fprintf(stdout, "model %s, layer %s (%d units at %dx%d), image %dx%d, frames %s, %d strokes (stroke list grows to %d edits of %d units), ONNX Runtime %s, 1 worker, %d intra-op thread(s)\n",
		man.Name, li.Name, li.Channels, li.Width, li.Height, imgW, imgH, enc, *strokes, *strokes, *unitsPer, inference.RuntimeVersion(), *threads)
	fmt.Fprintf(stdout, "stroke -> encoded image (cached activations + edits + tail + %s):  p50 %s  p99 %s  mean %s\n", strings.ToUpper(*format), ms(o.p50), ms(o.p99), ms(o.mean))
	fmt.Fprintf(stdout, "  of which: pool new mask + apply edits p50 %s, tail p50 %s, RGBA+%s p50 %s\n", ms(a.p50), ms(tl.p50), strings.ToUpper(*format), ms(e.p50))
	fmt.Fprintf(stdout, "full regeneration from z per stroke (reference server):             p50 %s  p99 %s  mean %s\n", ms(f.p50), ms(f.p99), ms(f.mean))
	fmt.Fprintf(stdout, "speed-up (ratio of medians): %.2fx; last frame %d bytes\n", float64(f.p50)/float64(o.p50), frame.Len())
	return nil
}
