package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/cputime"
)

func init() {
	subcommands["bench"] = subcommand{
		summary: "measure stroke latency (region and full tail) against full regeneration, optionally PyTorch's",
		run:     runBench,
	}
}

// benchStats summarises one series of latencies.
type benchStats struct{ p50, p99, mean time.Duration }

func summarize(d []time.Duration) benchStats {
	if len(d) == 0 {
		return benchStats{}
	}
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

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// browserFormat is the frame format the painter's browser code asks for
// (PNG_MAX_PIXELS in web/static/app.js): PNG up to 128×128, JPEG above.
func browserFormat(w, h int) string {
	if w*h <= 128*128 {
		return "png"
	}
	return "jpeg"
}

// benchConfig is the bench's flags after checking.
type benchConfig struct {
	model, layer, format, ortLib string
	id                           int64
	strokes, rounds, warmup      int
	quality, units, threads      int
	seed                         uint64
	brushes                      []int
	regionMaxWork                float64
	compareTorch                 bool
	variants                     []namedDir
	psnrImages                   int
	python, torchScript          string
}

func parseBench(args []string, stderr io.Writer) (benchConfig, error) {
	var c benchConfig
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&c.model, "model", "", "model directory (default: the embedded default model)")
	fl.IntVar(&c.strokes, "strokes", 40, "timed strokes per variant in each round (the edit list grows to this)")
	fl.IntVar(&c.rounds, "rounds", 5, "rounds; variants interleave stroke by stroke within each")
	fl.IntVar(&c.warmup, "warmup", 10, "untimed strokes per variant before the first round")
	brushes := fl.String("brushes", "1,4,16", "paint-layer cells each stroke's square brush covers, one region-tail variant per value (perfect squares)")
	fl.StringVar(&c.layer, "layer", "", "paint layer (default: the manifest's default_layer)")
	fl.Int64Var(&c.id, "id", 7, "image id painted on")
	fl.StringVar(&c.format, "format", "auto", "frame format: png, jpeg, or auto (what the browser asks for: PNG up to 128×128 pixels, else JPEG)")
	fl.IntVar(&c.quality, "quality", 90, "JPEG quality of the encoded frame")
	fl.IntVar(&c.units, "units", 15, "units per stroke")
	fl.IntVar(&c.threads, "threads", 1, "intra-op threads (ONNX Runtime, and torch with --compare-torch)")
	fl.Uint64Var(&c.seed, "seed", 1, "seed of the random strokes")
	fl.Float64Var(&c.regionMaxWork, "region-max-work", 0, "largest share of the tail's work a region repaint may take before the full tail runs (default inference.DefaultRegionMaxWork)")
	fl.Func("variant", "NAME=DIR: also time the tail of the model folder DIR (e.g. a reduced-precision copy from training/quantize_tail.py) in the same run, and its PSNR against the main model; repeatable", func(v string) error {
		name, dir, ok := strings.Cut(v, "=")
		if !ok || name == "" || dir == "" {
			return fmt.Errorf("want NAME=DIR, got %q", v)
		}
		c.variants = append(c.variants, namedDir{name, dir})
		return nil
	})
	fl.IntVar(&c.psnrImages, "psnr-images", 200, "images (each with one random stroke) over which each --variant's PSNR against the main model is measured")
	fl.BoolVar(&c.compareTorch, "compare-torch", false, "also time PyTorch-eager regeneration of the same model (training/torch_regen.py) in the same run")
	fl.StringVar(&c.python, "python", "/usr/bin/python3", "Python with torch and onnx, for --compare-torch")
	fl.StringVar(&c.torchScript, "torch-script", "training/torch_regen.py", "the PyTorch side of --compare-torch (looked up from the working directory up to the module root)")
	fl.StringVar(&c.ortLib, "ort-lib", "", ortLibUsage)
	if err := fl.Parse(args); err != nil {
		return c, err
	}
	if fl.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if c.strokes < 1 || c.strokes > 100000 {
		return c, fmt.Errorf("--strokes %d must be 1..100000", c.strokes)
	}
	if c.rounds < 1 || c.rounds > 1000 || c.warmup < 0 || c.warmup > 10000 {
		return c, fmt.Errorf("--rounds %d must be 1..1000 and --warmup %d 0..10000", c.rounds, c.warmup)
	}
	if c.format != "auto" && c.format != "png" && c.format != "jpeg" {
		return c, fmt.Errorf("--format %q must be png, jpeg or auto", c.format)
	}
	if c.quality < 1 || c.quality > 100 {
		return c, fmt.Errorf("--quality %d must be 1..100", c.quality)
	}
	if c.units < 1 || c.threads < 1 {
		return c, fmt.Errorf("--units and --threads must be positive")
	}
	if c.psnrImages < 1 || c.psnrImages > 100000 {
		return c, fmt.Errorf("--psnr-images %d must be 1..100000", c.psnrImages)
	}
	if math.IsNaN(c.regionMaxWork) {
		return c, fmt.Errorf("--region-max-work must be a number")
	}
	for _, f := range strings.Split(*brushes, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		side := int(math.Round(math.Sqrt(float64(b))))
		if err != nil || b < 1 || side*side != b {
			return c, fmt.Errorf("--brushes %q: each value must be a perfect square (1, 4, 9, 16, ...)", *brushes)
		}
		c.brushes = append(c.brushes, b)
	}
	return c, nil
}

// benchVariant is one way of producing a stroke's image, timed stroke by stroke.
type benchVariant struct {
	name  string
	brush int // cells per stroke of the strokes it paints
	torch string
	// reset starts a round (untimed): empty edit list, frame at the plain image.
	reset func() error
	// stroke adds stroke k (1-based) of the round and produces its image;
	// it reports the CPU and wall time of the compute part and, for the Go
	// variants, of RGBA conversion + encoding.
	stroke func(k int) (sample, error)

	cpu, wall, encCPU, encWall []time.Duration
	work                       []float64
}

type sample struct {
	cpu, wall, encCPU, encWall time.Duration
	work                       float64
	encoded                    bool
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseBench(args, stderr)
	if err != nil {
		return err
	}
	m, fsys, err := openModel(c.model, c.ortLib, inference.Options{Workers: 1, IntraOpThreads: c.threads,
		RegionMaxWork: c.regionMaxWork, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer m.Close()
	man := m.Manifest()
	li, err := layerOrDefault(m, c.layer)
	if err != nil {
		return err
	}
	for _, b := range c.brushes {
		if side := int(math.Sqrt(float64(b))); side > li.Width || side > li.Height {
			return fmt.Errorf("--brushes: %d cells do not fit the %dx%d grid of %s", b, li.Width, li.Height, li.Name)
		}
	}
	levels, err := m.Levels(ctx, li.Name)
	if err != nil {
		return err
	}
	z, err := m.Z(c.id)
	if err != nil {
		return err
	}
	imgW, imgH := man.Image.Width, man.Image.Height
	if c.format == "auto" {
		c.format = browserFormat(imgW, imgH)
	}
	cached, err := m.Head(ctx, li.Name, z, 1)
	if err != nil {
		return err
	}

	// Strokes, as the painter stores them: a square of cells at the paint
	// layer's grid, `units` distinct units, add and remove alternating.
	// strokes[b][r][k] is stroke k of round r for brush b; every variant
	// with the same brush paints the same strokes.
	rng := rand.New(rand.NewPCG(c.seed, 0x9a1))
	strokes := map[int][][]inference.Edit{}
	for _, b := range c.brushes {
		side := int(math.Sqrt(float64(b)))
		rounds := make([][]inference.Edit, c.rounds+1) // round 0 is the warm-up
		for r := range rounds {
			n := c.strokes
			if r == 0 {
				n = max(c.warmup, 1)
			}
			for k := 0; k < n; k++ {
				units := rng.Perm(li.Channels)[:min(c.units, li.Channels)]
				x, y := rng.IntN(li.Width-side+1), rng.IntN(li.Height-side+1)
				rounds[r] = append(rounds[r], inference.Edit{Units: units, Mode: inference.Mode(1 + k%2), Strength: 1,
					Mask: inference.RectMask(li.Width, li.Height, x, y, x+side, y+side)})
			}
		}
		strokes[b] = rounds
	}
	mainBrush := c.brushes[0]
	for _, b := range c.brushes {
		if b == 4 {
			mainBrush = b
		}
	}
	round := 0

	encode := func(imgs *inference.Images, rgba *image.RGBA, buf *bytes.Buffer) error {
		if err := imgs.RGBAInto(rgba, 0, m.ImageRange()); err != nil {
			return err
		}
		buf.Reset()
		return inference.EncodeImage(buf, rgba, c.format, c.quality)
	}
	var lastFrame bytes.Buffer
	var fullImage []float32 // the full-tail variant's latest image, to compare torch's with
	goVariant := func(name string, brush int, tail func(ctx context.Context, edited *inference.Features, k int) (*inference.Images, float64, error), reset func() error) *benchVariant {
		var edited inference.Features
		rgba := image.NewRGBA(image.Rect(0, 0, imgW, imgH))
		return &benchVariant{name: name, brush: brush, reset: reset, stroke: func(k int) (sample, error) {
			var s sample
			c0, _ := cputime.Process()
			t0 := time.Now()
			if err := inference.ApplyEdits(&edited, cached, strokes[brush][round][:k], levels, inference.PoolMax); err != nil {
				return s, err
			}
			imgs, work, err := tail(ctx, &edited, k)
			if err != nil {
				return s, err
			}
			c1, _ := cputime.Process()
			t1 := time.Now()
			if err := encode(imgs, rgba, &lastFrame); err != nil {
				return s, err
			}
			c2, _ := cputime.Process()
			s = sample{cpu: c1 - c0, wall: t1.Sub(t0), encCPU: c2 - c1, encWall: time.Since(t1), work: work, encoded: true}
			return s, nil
		}}
	}
	var variants []*benchVariant
	var fresh inference.Features
	var regenImg inference.Images
	variants = append(variants, goVariant("regenerate from z, ONNX Runtime (the reference server's path)", mainBrush,
		func(ctx context.Context, _ *inference.Features, k int) (*inference.Images, float64, error) {
			// Everything from z: the head too, then the same edits and tail.
			if err := m.HeadInto(ctx, &fresh, li.Name, z, 1); err != nil {
				return nil, 0, err
			}
			if err := inference.ApplyEdits(&fresh, &fresh, strokes[mainBrush][round][:k], levels, inference.PoolMax); err != nil {
				return nil, 0, err
			}
			err := m.TailInto(ctx, &regenImg, &fresh)
			return &regenImg, 1, err
		}, func() error { return nil }))
	var fullImg inference.Images
	variants = append(variants, goVariant("stroke, full tail (cached head)", mainBrush,
		func(ctx context.Context, edited *inference.Features, _ int) (*inference.Images, float64, error) {
			err := m.TailInto(ctx, &fullImg, edited)
			fullImage = fullImg.Data
			return &fullImg, 1, err
		}, func() error { return nil }))
	for _, b := range c.brushes {
		fr := &inference.Frame{}
		variants = append(variants, goVariant(fmt.Sprintf("stroke, region tail, %d-cell brush", b), b,
			func(ctx context.Context, edited *inference.Features, _ int) (*inference.Images, float64, error) {
				st, err := m.Repaint(ctx, fr, edited)
				return fr.Image(), st.Work, err
			}, func() error {
				_, err := m.Repaint(ctx, fr, cached)
				return err
			}))
	}

	var psnrLines []string
	for _, vd := range c.variants {
		vm, _, err := openModel(vd.dir, c.ortLib, inference.Options{Workers: 1, IntraOpThreads: c.threads,
			RegionMaxWork: c.regionMaxWork, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return fmt.Errorf("--variant %s: %w", vd.name, err)
		}
		defer vm.Close()
		vli, err := vm.Layer(li.Name)
		vman := vm.Manifest()
		if err != nil || vli != li || vman.Image != man.Image {
			return fmt.Errorf("--variant %s: layer %s or image size differs from the main model's", vd.name, li.Name)
		}
		var vImg inference.Images
		variants = append(variants, goVariant(fmt.Sprintf("stroke, full tail [%s]", vd.name), mainBrush,
			func(ctx context.Context, edited *inference.Features, _ int) (*inference.Images, float64, error) {
				err := vm.TailInto(ctx, &vImg, edited)
				return &vImg, 1, err
			}, func() error { return nil }))
		fr := &inference.Frame{}
		variants = append(variants, goVariant(fmt.Sprintf("stroke, region tail, %d-cell brush [%s]", mainBrush, vd.name), mainBrush,
			func(ctx context.Context, edited *inference.Features, _ int) (*inference.Images, float64, error) {
				st, err := vm.Repaint(ctx, fr, edited)
				return fr.Image(), st.Work, err
			}, func() error {
				_, err := vm.Repaint(ctx, fr, cached)
				return err
			}))
		line, err := variantPSNR(ctx, m, vm, li, levels, mainBrush, c.psnrImages, c.seed)
		if err != nil {
			return fmt.Errorf("--variant %s: %w", vd.name, err)
		}
		psnrLines = append(psnrLines, fmt.Sprintf("[%s] against %s: %s", vd.name, man.Name, line))
	}

	var torch *torchClient
	var torchInfo torchInit
	if c.compareTorch {
		dir, cleanup, err := modelDirFor(c.model, fsys)
		if err != nil {
			return err
		}
		defer cleanup()
		script, err := findUp(c.torchScript)
		if err != nil {
			return fmt.Errorf("--torch-script: %w", err)
		}
		fmt.Fprintf(stderr, "starting %s %s (loading torch, measuring the machine's peak)...\n", c.python, script)
		torch, torchInfo, err = startTorch(ctx, c.python, script, dir, li.Name, z, c.threads, stderr)
		if err != nil {
			return err
		}
		defer torch.close()
		for _, tv := range torchInfo.Variants {
			tv := tv
			variants = append(variants, &benchVariant{name: "PyTorch eager regeneration (" + tv + ")", brush: mainBrush, torch: tv,
				reset: func() error { return torch.reset(tv) },
				stroke: func(k int) (sample, error) {
					e := strokes[mainBrush][round][k-1]
					cpu, wall, err := torch.stroke(tv, e, li, levels)
					return sample{cpu: cpu, wall: wall, work: 1}, err
				}})
		}
	}

	loadStart := loadAvg()
	var torchDiff float64
	for round = 0; round <= c.rounds; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, v := range variants {
			if err := v.reset(); err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
		}
		n := len(strokes[mainBrush][round])
		for k := 1; k <= n; k++ {
			// Rotate the order so no variant always runs right after another.
			for i := range variants {
				v := variants[(i+k+round)%len(variants)]
				s, err := v.stroke(k)
				if err != nil {
					return fmt.Errorf("%s: %w", v.name, err)
				}
				if round == 0 {
					continue
				}
				v.cpu, v.wall, v.work = append(v.cpu, s.cpu), append(v.wall, s.wall), append(v.work, s.work)
				if s.encoded {
					v.encCPU, v.encWall = append(v.encCPU, s.encCPU), append(v.encWall, s.encWall)
				}
			}
		}
		if torch != nil && round > 0 {
			for _, tv := range torchInfo.Variants {
				img, err := torch.image(tv)
				if err != nil {
					return err
				}
				if len(img) != len(fullImage) {
					return fmt.Errorf("torch image has %d values, ours %d", len(img), len(fullImage))
				}
				for i, v := range img {
					torchDiff = max(torchDiff, math.Abs(float64(v-fullImage[i])))
				}
			}
		}
	}
	loadEnd := loadAvg()

	enc := strings.ToUpper(c.format)
	if c.format == "jpeg" {
		enc = fmt.Sprintf("JPEG quality %d", c.quality)
	}
	fmt.Fprintf(stdout, "model %s, layer %s (%d units at %dx%d), image %dx%d, frames %s, ONNX Runtime %s, 1 worker, %d intra-op thread(s)\n",
		man.Name, li.Name, li.Channels, li.Width, li.Height, imgW, imgH, enc, inference.RuntimeVersion(), c.threads)
	fmt.Fprintf(stdout, "%d rounds x %d strokes per variant (the edit list grows to %d edits of %d units, add/remove alternating), variants interleaved stroke by stroke, %d warm-up strokes each\n",
		c.rounds, c.strokes, c.strokes, min(c.units, li.Channels), max(c.warmup, 1))
	fmt.Fprintf(stdout, "load average (1/5/15 min) at start %s, at end %s; CPU time = this process's CPU clock (for PyTorch: its process's)\n", loadStart, loadEnd)
	if torch != nil {
		peak := torchInfo.PeakGFLOPS
		bound := time.Duration(2 * float64(torchInfo.TailMACs) / (peak * 1e9) * float64(time.Second))
		fmt.Fprintf(stdout, "generator after %s: %.1f M MACs (whole generator %.1f M); measured peak %.0f GFLOP/s (%s, torch %s): a %d-core lower bound of %s for the full tail\n",
			li.Name, float64(torchInfo.TailMACs)/1e6, float64(torchInfo.TotalMACs)/1e6, peak, torchInfo.PeakHow, torchInfo.Torch, c.threads, ms(bound))
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant (edits + generator to float image)\tCPU p50\tCPU p99\twall p50\twall p99\tMACs run\t+RGBA+"+strings.ToUpper(c.format)+" CPU p50\t")
	for _, v := range variants {
		cs, ws := summarize(v.cpu), summarize(v.wall)
		encCol := "-"
		if len(v.encCPU) > 0 {
			encCol = ms(summarize(v.encCPU).p50)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t\n", v.name, ms(cs.p50), ms(cs.p99), ms(ws.p50), ms(ws.p99), 100*mean(v.work), encCol)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Ratios of CPU medians against the fastest regeneration in the run.
	ref := variants[0]
	for _, v := range variants {
		if v.torch != "" && summarize(v.cpu).p50 < summarize(ref.cpu).p50 || (ref.torch == "" && v.torch != "") {
			ref = v
		}
	}
	var parts []string
	for _, v := range variants[1:] {
		if v.torch == "" {
			parts = append(parts, fmt.Sprintf("%s %.2fx", strings.TrimPrefix(v.name, "stroke, "), float64(summarize(ref.cpu).p50)/float64(summarize(v.cpu).p50)))
		}
	}
	fmt.Fprintf(stdout, "speed-up in CPU time per stroke (ratio of medians) against %s: %s\n", ref.name, strings.Join(parts, ", "))
	if torch != nil {
		fmt.Fprintf(stdout, "same image: max |PyTorch − ONNX Runtime full tail| over the final image of every round %.2g\n", torchDiff)
	}
	for _, l := range psnrLines {
		fmt.Fprintln(stdout, l)
	}
	fmt.Fprintf(stdout, "last frame %d bytes\n", lastFrame.Len())
	return nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// loadAvg is /proc/loadavg's first three fields, or "n/a".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

type namedDir struct{ name, dir string }

// variantPSNR renders n images (ids 0…n−1, each with one random stroke of
// brush cells at li) through the tails of a and b and returns their PSNR on
// the 8-bit frames: over all images' pixels together, and the worst image.
func variantPSNR(ctx context.Context, a, b *inference.Model, li inference.LayerInfo, levels []float32, brush, n int, seed uint64) (string, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5e))
	side := int(math.Sqrt(float64(brush)))
	var f inference.Features
	var ia, ib inference.Images
	man := a.Manifest()
	ra := image.NewRGBA(image.Rect(0, 0, man.Image.Width, man.Image.Height))
	rb := image.NewRGBA(ra.Rect)
	var total float64
	worst := math.Inf(1)
	for id := int64(0); id < int64(n); id++ {
		z, err := a.Z(id)
		if err != nil {
			return "", err
		}
		if err := a.HeadInto(ctx, &f, li.Name, z, 1); err != nil {
			return "", err
		}
		x, y := rng.IntN(li.Width-side+1), rng.IntN(li.Height-side+1)
		e := inference.Edit{Units: rng.Perm(li.Channels)[:min(15, li.Channels)], Mode: inference.Mode(1 + id%2), Strength: 1,
			Mask: inference.RectMask(li.Width, li.Height, x, y, x+side, y+side)}
		if err := inference.ApplyEdits(&f, &f, []inference.Edit{e}, levels, inference.PoolMax); err != nil {
			return "", err
		}
		if err := a.TailInto(ctx, &ia, &f); err != nil {
			return "", err
		}
		if err := b.TailInto(ctx, &ib, &f); err != nil {
			return "", err
		}
		if err := ia.RGBAInto(ra, 0, a.ImageRange()); err != nil {
			return "", err
		}
		if err := ib.RGBAInto(rb, 0, a.ImageRange()); err != nil {
			return "", err
		}
		var se float64
		for i := range ra.Pix {
			if i%4 != 3 {
				d := float64(ra.Pix[i]) - float64(rb.Pix[i])
				se += d * d
			}
		}
		mse := se / float64(len(ra.Pix)/4*3)
		total += mse
		worst = min(worst, psnr(mse))
	}
	return fmt.Sprintf("PSNR %.2f dB over %d images with one stroke each (worst image %.2f dB)", psnr(total/float64(n)), n, worst), nil
}

func psnr(mse float64) float64 {
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}
