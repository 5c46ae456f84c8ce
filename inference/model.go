package inference

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// MaxBatch bounds n in Head/Tail/Generate so one call cannot exhaust memory.
const MaxBatch = 1024

// levelsQuantile is the per-unit "add" level used until dissection provides levels.
const levelsQuantile = 0.99

// fallbackSampleCount is how many ids (0, 1, ...) estimate the fallback levels
// when the manifest lists no sample_ids.
const fallbackSampleCount = 16

// Options configures Load. The zero value is valid: every field has a default.
type Options struct {
	// LibraryPath is the ONNX Runtime library, used only if the runtime is not
	// initialised yet; "" resolves it with ResolveLibrary("").
	LibraryPath string
	// Workers is the number of requests that run at once, each on its own set
	// of sessions. Default runtime.NumCPU().
	Workers int
	// QueueLimit is how many requests may wait for a worker before new ones
	// fail with ErrBusy. Default 4*Workers; negative means none may wait.
	QueueLimit int
	// IntraOpThreads is ONNX Runtime's thread count inside one session run.
	// Default 1: parallelism comes from Workers, which keeps latency stable
	// under concurrent users.
	IntraOpThreads int
	// Logger receives load-time information. Default slog.Default().
	Logger *slog.Logger
	// RegionMaxWork is the largest share of a full tail's estimated work for
	// which Repaint recomputes only the changed region; above it Repaint runs
	// the whole tail. Default DefaultRegionMaxWork; negative never crops.
	RegionMaxWork float64
	// CloseTimeout bounds how long Close waits for running requests.
	// Default DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// DefaultCloseTimeout is Options.CloseTimeout's default: longer than any
// one generator run on a CPU, short enough not to stall a shutdown.
const DefaultCloseTimeout = 30 * time.Second

func (o Options) withDefaults() (Options, error) {
	if o.Workers < 0 || o.IntraOpThreads < 0 {
		return o, fmt.Errorf("inference: options: Workers (%d) and IntraOpThreads (%d) must not be negative", o.Workers, o.IntraOpThreads)
	}
	if o.Workers == 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.QueueLimit == 0 {
		o.QueueLimit = 4 * o.Workers
	} else if o.QueueLimit < 0 {
		o.QueueLimit = 0
	}
	if o.IntraOpThreads == 0 {
		o.IntraOpThreads = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if math.IsNaN(o.RegionMaxWork) {
		return o, fmt.Errorf("inference: options: RegionMaxWork is NaN")
	}
	if o.RegionMaxWork == 0 {
		o.RegionMaxWork = DefaultRegionMaxWork
	}
	if o.CloseTimeout < 0 {
		return o, fmt.Errorf("inference: options: CloseTimeout %v is negative", o.CloseTimeout)
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	return o, nil
}

// LayerInfo describes one paintable layer (the output of a generator block).
// Index is the block's position in the chain, starting at 0.
type LayerInfo struct {
	Name     string
	Index    int
	Channels int
	Height   int
	Width    int
}

// Size is the number of values of one image's activations at this layer.
func (l LayerInfo) Size() int { return l.Channels * l.Height * l.Width }

// Features are activations at one layer for a batch, laid out [N, C, H, W].
type Features struct {
	Layer LayerInfo
	N     int
	Data  []float32
}

// Images are generator outputs, laid out [N, 3, H, W], in the manifest's
// image.range (not clamped).
type Images struct {
	N, H, W int
	Data    []float32
}

// stage is one ONNX graph of the model; in/out are the shapes without the
// batch dimension, -1 where the graph leaves a dimension free.
type stage struct {
	what string // "generator block layer3", "segmenter", ...
	file string
	data []byte
	in   []int64
	out  []int64
	loc  *locality // declared spatial footprint; nil: whole tensors only
	// features is the length of the segmenter's optional second output
	// "features" ([B, features]), 0 when it has none.
	features int
}

// Model is a loaded model. It is safe for concurrent use; see the package doc.
type Model struct {
	manifest Manifest
	layers   []LayerInfo
	index    map[string]int
	gen      []*stage // blocks, then to_rgb
	seg      *stage
	disc     *stage
	inp      *stage

	workers  chan *worker
	nWorkers int
	slots    chan struct{}
	done     chan struct{}
	closing  sync.Once

	levelsMu  sync.Mutex
	levels    map[string][]float32
	levelsRun map[string]chan struct{} // fallback computations running, closed when done

	regionMaxWork float64
	closeTimeout  time.Duration
}

// worker owns one session per graph plus the reusable tensors between blocks;
// ONNX Runtime sessions are not safe for concurrent runs, so a worker serves
// one request at a time.
type worker struct {
	gen     []*ort.DynamicAdvancedSession
	seg     *ort.DynamicAdvancedSession
	disc    *ort.DynamicAdvancedSession
	inp     *ort.DynamicAdvancedSession
	between []scratchTensor // output of gen[k] when it feeds gen[k+1]
	segIn   []float32
	segOut  scratchTensor
	segFeat scratchTensor
	// cropIn and cropOut are a region repaint's block crops. They live with
	// the worker rather than the Frame: a server keeps one Frame per session
	// and only as many workers as cores, and the crops of a 128 px model
	// reach 2 MiB.
	cropIn, cropOut []float32
}

// scratchTensor keeps a tensor and its backing buffer across calls; it is
// rebuilt only when the shape changes and reallocates only when it grows.
type scratchTensor struct {
	buf   []float32
	shape ort.Shape
	t     *ort.Tensor[float32]
}

func (s *scratchTensor) get(shape ort.Shape) (*ort.Tensor[float32], error) {
	if s.t != nil && s.shape.Equals(shape) {
		return s.t, nil
	}
	s.destroy()
	need := int(shape.FlattenedSize())
	if cap(s.buf) < need {
		s.buf = make([]float32, need)
	}
	t, err := ort.NewTensor(shape, s.buf[:need])
	if err != nil {
		return nil, fmt.Errorf("%w: allocating tensor %v: %v", ErrRuntime, shape, err)
	}
	s.t, s.shape = t, shape.Clone()
	return t, nil
}

func (s *scratchTensor) destroy() {
	if s.t != nil {
		_ = s.t.Destroy()
		s.t = nil
	}
}

// LoadDir loads the model directory dir from disk.
func LoadDir(dir string, opts Options) (*Model, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %q is not a directory", ErrBadModel, dir)
	}
	return Load(os.DirFS(dir), opts)
}

// Load loads a model from fsys, which is rooted at the model directory (an
// os.DirFS or a sub-tree of an embed.FS). Sessions are created from the file
// bytes, so nothing is written to disk. Every ONNX file's input and output
// shapes are checked against the manifest before any session is created.
func Load(fsys fs.FS, opts Options) (*Model, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	raw, err := fs.ReadFile(fsys, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("%w: reading manifest.json: %v", ErrBadModel, err)
	}
	man, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	if err := ensureRuntime(opts.LibraryPath); err != nil {
		return nil, err
	}
	m := &Model{
		manifest:  man,
		index:     make(map[string]int, len(man.Generator.Blocks)),
		levels:    make(map[string][]float32),
		levelsRun: map[string]chan struct{}{},
		nWorkers:  opts.Workers,
		workers:   make(chan *worker, opts.Workers),
		slots:     make(chan struct{}, opts.QueueLimit),
		done:      make(chan struct{}),

		regionMaxWork: opts.RegionMaxWork,
		closeTimeout:  opts.CloseTimeout,
	}
	prev := []int64{int64(man.Z.Size)}
	for i, b := range man.Generator.Blocks {
		m.layers = append(m.layers, LayerInfo{Name: b.Name, Index: i, Channels: b.Channels, Height: b.Height, Width: b.Width})
		m.index[b.Name] = i
		out := []int64{int64(b.Channels), int64(b.Height), int64(b.Width)}
		m.gen = append(m.gen, &stage{what: "generator block " + b.Name, file: b.File, in: prev, out: out, loc: b.Locality.get()})
		prev = out
	}
	m.gen = append(m.gen, &stage{what: "generator to_rgb", file: man.Generator.ToRGB.File, in: prev,
		out: []int64{3, int64(man.Image.Height), int64(man.Image.Width)}, loc: man.Generator.ToRGB.Locality.get()})
	all := append([]*stage(nil), m.gen...)
	if s := man.Segmenter; s != nil {
		// Spatial size is free: the segmenter may run at any resolution, but a
		// fixed one must be the image size because Segment feeds it images.
		m.seg = &stage{what: "segmenter", file: s.File, in: []int64{3, -1, -1}, out: []int64{int64(len(s.Classes)), -1, -1}}
		all = append(all, m.seg)
	}
	if d := man.Discriminator; d != nil {
		m.disc = &stage{what: "discriminator", file: d.File, in: []int64{3, int64(man.Image.Height), int64(man.Image.Width)}, out: []int64{1}}
		all = append(all, m.disc)
	}
	if d := man.Inpainter; d != nil {
		m.inp = &stage{what: "inpainter", file: d.File, in: []int64{4, int64(man.Image.Height), int64(man.Image.Width)},
			out: []int64{3, int64(man.Image.Height), int64(man.Image.Width)}}
		all = append(all, m.inp)
	}
	for _, s := range all {
		if s.data, err = fs.ReadFile(fsys, s.file); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadModel, s.what, err)
		}
		if err := checkGraph(s, man.Image); err != nil {
			return nil, err
		}
	}
	if err := m.startWorkers(opts); err != nil {
		return nil, err
	}
	w := <-m.workers
	err = m.checkLocality(w)
	m.workers <- w
	if err != nil {
		m.Close()
		return nil, err
	}
	for _, s := range all {
		s.data = nil // sessions hold their own copy of the weights
	}
	opts.Logger.Info("model loaded", "name", man.Name, "layers", len(m.layers), "workers", opts.Workers,
		"queue_limit", opts.QueueLimit, "intra_op_threads", opts.IntraOpThreads,
		"segmenter", m.seg != nil, "segmenter_features", m.FeatureDim(), "discriminator", m.disc != nil,
		"inpainter", m.inp != nil)
	return m, nil
}

// checkGraph compares an ONNX file's declared input/output with the contract.
func checkGraph(s *stage, img ImageSpec) error {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(s.data)
	if err != nil {
		return fmt.Errorf("%w: %s (%s) is not a loadable ONNX model: %v", ErrBadModel, s.what, s.file, err)
	}
	check := func(kind, name string, infos []ort.InputOutputInfo, want []int64) error {
		if len(infos) != 1 {
			return fmt.Errorf("%w: %s (%s) has %d %ss, want exactly one named %q", ErrBadModel, s.what, s.file, len(infos), kind, name)
		}
		io := infos[0]
		if io.Name != name {
			return fmt.Errorf("%w: %s (%s): %s is named %q, want %q", ErrBadModel, s.what, s.file, kind, io.Name, name)
		}
		if io.OrtValueType != ort.ONNXTypeTensor || io.DataType != ort.TensorElementDataTypeFloat {
			return fmt.Errorf("%w: %s (%s): %s must be a float32 tensor, got %s", ErrBadModel, s.what, s.file, kind, io.String())
		}
		dims := io.Dimensions
		if len(dims) != len(want)+1 {
			return fmt.Errorf("%w: %s (%s): %s has shape %v, want [batch %v]", ErrBadModel, s.what, s.file, kind, dims, want)
		}
		if dims[0] > 0 {
			return fmt.Errorf("%w: %s (%s): %s has a fixed batch size %d; the batch dimension must be dynamic", ErrBadModel, s.what, s.file, kind, dims[0])
		}
		for i, w := range want {
			if d := dims[i+1]; d > 0 && w > 0 && d != w {
				return fmt.Errorf("%w: %s (%s): %s has shape %v, manifest says [batch %v]", ErrBadModel, s.what, s.file, kind, dims, want)
			}
		}
		if s.loc != nil && (dims[2] > 0 || dims[3] > 0) {
			return fmt.Errorf("%w: %s (%s) declares scale and halo, so it must accept any height and width, but its %s is %v",
				ErrBadModel, s.what, s.file, kind, dims)
		}
		if s.what == "segmenter" && kind == "input" {
			if (dims[2] > 0 && dims[2] != int64(img.Height)) || (dims[3] > 0 && dims[3] != int64(img.Width)) {
				return fmt.Errorf("%w: segmenter (%s) input %v does not accept %dx%d images", ErrBadModel, s.file, dims, img.Width, img.Height)
			}
		}
		return nil
	}
	if err := check("input", "input", ins, s.in); err != nil {
		return err
	}
	if s.what == "segmenter" && len(outs) == 2 {
		// The optional "features" output (docs/model-format.md): [B, F].
		f := outs[1]
		if f.Name != "features" || f.OrtValueType != ort.ONNXTypeTensor || f.DataType != ort.TensorElementDataTypeFloat ||
			len(f.Dimensions) != 2 || f.Dimensions[0] > 0 || f.Dimensions[1] <= 0 || f.Dimensions[1] > maxChannels {
			return fmt.Errorf("%w: segmenter (%s): second output %s, want a float32 tensor \"features\" of shape [batch, F]",
				ErrBadModel, s.file, f.String())
		}
		s.features = int(f.Dimensions[1])
		outs = outs[:1]
	}
	return check("output", "output", outs, s.out)
}

func (m *Model) startWorkers(opts Options) error {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("%w: session options: %v", ErrRuntime, err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
		return fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	// Repaint runs blocks on crops of ever-changing sizes, and ONNX Runtime
	// keeps one memory pattern per input shape it has seen, without bound;
	// its arena still reuses buffers, and whole-tensor runs measured the
	// same without the pattern.
	if err := so.SetMemPattern(false); err != nil {
		return fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	newSession := func(s *stage) (*ort.DynamicAdvancedSession, error) {
		outs := []string{"output"}
		if s.features > 0 {
			outs = append(outs, "features")
		}
		sess, err := ort.NewDynamicAdvancedSessionWithONNXData(s.data, []string{"input"}, outs, so)
		if err != nil {
			return nil, fmt.Errorf("%w: %s (%s): creating session: %v", ErrBadModel, s.what, s.file, err)
		}
		return sess, nil
	}
	var made []*worker
	fail := func(err error) error {
		for _, w := range made {
			w.destroy()
		}
		return err
	}
	for i := 0; i < opts.Workers; i++ {
		w := &worker{between: make([]scratchTensor, len(m.gen))}
		made = append(made, w)
		for _, s := range m.gen {
			sess, err := newSession(s)
			if err != nil {
				return fail(err)
			}
			w.gen = append(w.gen, sess)
		}
		if m.seg != nil {
			if w.seg, err = newSession(m.seg); err != nil {
				return fail(err)
			}
		}
		if m.disc != nil {
			if w.disc, err = newSession(m.disc); err != nil {
				return fail(err)
			}
		}
		if m.inp != nil {
			if w.inp, err = newSession(m.inp); err != nil {
				return fail(err)
			}
		}
	}
	for _, w := range made {
		m.workers <- w
	}
	return nil
}

func (w *worker) destroy() {
	for i := range w.between {
		w.between[i].destroy()
	}
	w.segOut.destroy()
	w.segFeat.destroy()
	for _, s := range w.gen {
		_ = s.Destroy()
	}
	if w.seg != nil {
		_ = w.seg.Destroy()
	}
	if w.disc != nil {
		_ = w.disc.Destroy()
	}
	if w.inp != nil {
		_ = w.inp.Destroy()
	}
}

// Close waits for running requests to finish, up to Options.CloseTimeout,
// and frees every session. Calls made after Close fail with ErrClosed. When
// requests are still running at the deadline Close returns ErrCloseTimeout;
// their sessions are freed as they finish. Close is idempotent: a second
// call returns nil at once.
func (m *Model) Close() error {
	var err error
	m.closing.Do(func() {
		close(m.done)
		deadline := time.NewTimer(m.closeTimeout)
		defer deadline.Stop()
		for i := 0; i < m.nWorkers; i++ {
			select {
			case w := <-m.workers:
				w.destroy()
			case <-deadline.C:
				left := m.nWorkers - i
				err = fmt.Errorf("%w: %d of %d workers still running after %v", ErrCloseTimeout, left, m.nWorkers, m.closeTimeout)
				go func() {
					for range left {
						(<-m.workers).destroy()
					}
				}()
				return
			}
		}
	})
	return err
}

// acquire borrows a worker. With wait=false a request that finds every worker
// busy queues only if fewer than QueueLimit requests already wait, otherwise
// it fails with ErrBusy; internal background work passes wait=true.
func (m *Model) acquire(ctx context.Context, wait bool) (*worker, error) {
	select {
	case <-m.done:
		return nil, ErrClosed
	default:
	}
	select {
	case w := <-m.workers:
		return w, nil
	default:
	}
	if !wait {
		select {
		case m.slots <- struct{}{}:
			defer func() { <-m.slots }()
		default:
			return nil, fmt.Errorf("%w: %d workers busy and %d requests already waiting", ErrBusy, m.nWorkers, cap(m.slots))
		}
	}
	select {
	case w := <-m.workers:
		return w, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-m.done:
		return nil, ErrClosed
	}
}

func (m *Model) release(w *worker) { m.workers <- w }

// Manifest returns a copy of the model's manifest.
func (m *Model) Manifest() Manifest { return m.manifest.clone() }

// Layers lists the paintable layers in generator order.
func (m *Model) Layers() []LayerInfo { return append([]LayerInfo(nil), m.layers...) }

// Layer looks a layer up by name.
func (m *Model) Layer(name string) (LayerInfo, error) {
	i, ok := m.index[name]
	if !ok {
		names := make([]string, len(m.layers))
		for j, l := range m.layers {
			names[j] = l.Name
		}
		return LayerInfo{}, fmt.Errorf("%w: %q (model %s has %v)", ErrUnknownLayer, name, m.manifest.Name, names)
	}
	return m.layers[i], nil
}

// ImageRange is the value range of generated images (manifest image.range).
func (m *Model) ImageRange() [2]float32 { return m.manifest.Image.Range }

func checkBatch(n int) error {
	if n <= 0 || n > MaxBatch {
		return fmt.Errorf("%w: batch size %d outside [1, %d]", ErrBadShape, n, MaxBatch)
	}
	return nil
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

func withBatch(n int, dims []int64) ort.Shape {
	s := make(ort.Shape, 0, len(dims)+1)
	return append(append(s, int64(n)), dims...)
}

// runChain runs generator stages first..last (inclusive) on batch n. in is
// the input of stage first and final receives the output of stage last; both
// are wrapped without copying. capture[k], when set, receives a copy of stage
// k's output.
func (m *Model) runChain(ctx context.Context, w *worker, first, last, n int, in, final []float32, capture map[int][]float32) error {
	inT, err := ort.NewTensor(withBatch(n, m.gen[first].in), in)
	if err != nil {
		return fmt.Errorf("%w: input tensor: %v", ErrRuntime, err)
	}
	defer inT.Destroy()
	var cur ort.Value = inT
	for k := first; k <= last; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		shape := withBatch(n, m.gen[k].out)
		var out *ort.Tensor[float32]
		if k == last {
			if out, err = ort.NewTensor(shape, final); err != nil {
				return fmt.Errorf("%w: output tensor: %v", ErrRuntime, err)
			}
			defer out.Destroy()
		} else if out, err = w.between[k].get(shape); err != nil {
			return err
		}
		if err := w.gen[k].Run([]ort.Value{cur}, []ort.Value{out}); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrRuntime, m.gen[k].what, err)
		}
		if dst := capture[k]; dst != nil {
			copy(dst, out.GetData())
		}
		cur = out
	}
	return nil
}

// Head runs the generator from z up to and including layer; zs holds n
// latent vectors back to back.
func (m *Model) Head(ctx context.Context, layer string, zs []float32, n int) (*Features, error) {
	f := &Features{}
	if err := m.HeadInto(ctx, f, layer, zs, n); err != nil {
		return nil, err
	}
	return f, nil
}

// HeadID is Head for one image id (z from the manifest's rule).
func (m *Model) HeadID(ctx context.Context, layer string, id int64) (*Features, error) {
	z, err := m.Z(id)
	if err != nil {
		return nil, err
	}
	return m.Head(ctx, layer, z, 1)
}

// HeadInto is Head writing into dst, reusing dst.Data when it is big enough.
func (m *Model) HeadInto(ctx context.Context, dst *Features, layer string, zs []float32, n int) error {
	return m.head(ctx, dst, layer, zs, n, false)
}

func (m *Model) head(ctx context.Context, dst *Features, layer string, zs []float32, n int, wait bool) error {
	li, err := m.Layer(layer)
	if err != nil {
		return err
	}
	if err := checkBatch(n); err != nil {
		return err
	}
	if len(zs) != n*m.manifest.Z.Size {
		return fmt.Errorf("%w: %d z values for %d images of z size %d", ErrBadShape, len(zs), n, m.manifest.Z.Size)
	}
	if dst == nil {
		return fmt.Errorf("%w: nil destination", ErrBadShape)
	}
	w, err := m.acquire(ctx, wait)
	if err != nil {
		return err
	}
	defer m.release(w)
	dst.Layer, dst.N, dst.Data = li, n, grow(dst.Data, n*li.Size())
	return m.runChain(ctx, w, 0, li.Index, n, zs, dst.Data, nil)
}

// checkFeatures verifies f matches one of the model's layers.
func (m *Model) checkFeatures(f *Features) (LayerInfo, error) {
	if f == nil {
		return LayerInfo{}, fmt.Errorf("%w: nil features", ErrBadShape)
	}
	li, err := m.Layer(f.Layer.Name)
	if err != nil {
		return li, err
	}
	if f.Layer.Channels != li.Channels || f.Layer.Height != li.Height || f.Layer.Width != li.Width {
		return li, fmt.Errorf("%w: features claim %s is %dx%dx%d, model has %dx%dx%d", ErrBadShape, li.Name,
			f.Layer.Channels, f.Layer.Height, f.Layer.Width, li.Channels, li.Height, li.Width)
	}
	if err := checkBatch(f.N); err != nil {
		return li, err
	}
	if len(f.Data) != f.N*li.Size() {
		return li, fmt.Errorf("%w: %d feature values for %d images at %s (%d each)", ErrBadShape, len(f.Data), f.N, li.Name, li.Size())
	}
	return li, nil
}

// Tail runs the blocks after f's layer and to_rgb.
func (m *Model) Tail(ctx context.Context, f *Features) (*Images, error) {
	img := &Images{}
	if err := m.TailInto(ctx, img, f); err != nil {
		return nil, err
	}
	return img, nil
}

// TailInto is Tail writing into dst, reusing dst.Data when it is big enough.
func (m *Model) TailInto(ctx context.Context, dst *Images, f *Features) error {
	li, err := m.checkFeatures(f)
	if err != nil {
		return err
	}
	if dst == nil {
		return fmt.Errorf("%w: nil destination", ErrBadShape)
	}
	w, err := m.acquire(ctx, false)
	if err != nil {
		return err
	}
	defer m.release(w)
	h, wd := m.manifest.Image.Height, m.manifest.Image.Width
	dst.N, dst.H, dst.W = f.N, h, wd
	dst.Data = grow(dst.Data, f.N*3*h*wd)
	return m.runChain(ctx, w, li.Index+1, len(m.gen)-1, f.N, f.Data, dst.Data, nil)
}

// Generate runs the whole generator on n latent vectors and also returns the
// activations of the named layers (for dissection). Duplicate names are fine.
func (m *Model) Generate(ctx context.Context, zs []float32, n int, layers []string) (*Images, map[string]*Features, error) {
	if err := checkBatch(n); err != nil {
		return nil, nil, err
	}
	if len(zs) != n*m.manifest.Z.Size {
		return nil, nil, fmt.Errorf("%w: %d z values for %d images of z size %d", ErrBadShape, len(zs), n, m.manifest.Z.Size)
	}
	feats := make(map[string]*Features, len(layers))
	capture := make(map[int][]float32, len(layers))
	for _, name := range layers {
		li, err := m.Layer(name)
		if err != nil {
			return nil, nil, err
		}
		if _, ok := feats[name]; ok {
			continue
		}
		f := &Features{Layer: li, N: n, Data: make([]float32, n*li.Size())}
		feats[name] = f
		capture[li.Index] = f.Data
	}
	w, err := m.acquire(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	defer m.release(w)
	h, wd := m.manifest.Image.Height, m.manifest.Image.Width
	img := &Images{N: n, H: h, W: wd, Data: make([]float32, n*3*h*wd)}
	if err := m.runChain(ctx, w, 0, len(m.gen)-1, n, zs, img.Data, capture); err != nil {
		return nil, nil, err
	}
	return img, feats, nil
}

func checkImages(imgs *Images) error {
	if imgs == nil {
		return fmt.Errorf("%w: nil images", ErrBadShape)
	}
	if err := checkBatch(imgs.N); err != nil {
		return err
	}
	if imgs.H <= 0 || imgs.W <= 0 || imgs.H > maxDim || imgs.W > maxDim {
		return fmt.Errorf("%w: image size %dx%d", ErrBadShape, imgs.W, imgs.H)
	}
	if len(imgs.Data) != imgs.N*3*imgs.H*imgs.W {
		return fmt.Errorf("%w: %d values for %d images of 3x%dx%d", ErrBadShape, len(imgs.Data), imgs.N, imgs.H, imgs.W)
	}
	return nil
}

// Classes returns the segmenter's classes in label order, or ErrNoSegmenter.
func (m *Model) Classes() ([]ClassSpec, error) {
	if m.manifest.Segmenter == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSegmenter, m.manifest.Name)
	}
	return append([]ClassSpec(nil), m.manifest.Segmenter.Classes...), nil
}

// Segment labels every pixel of imgs (values in the manifest's image.range)
// with the index of its highest-scoring class; ties go to the lower index.
// The result is [N, H, W] at the image resolution.
func (m *Model) Segment(ctx context.Context, imgs *Images) ([]uint8, error) {
	labels, _, err := m.segment(ctx, imgs, false)
	return labels, err
}

// FeatureDim is the length of the segmenter's pooled penultimate features
// (its "features" output), or 0 when the model has none.
func (m *Model) FeatureDim() int {
	if m.seg == nil {
		return 0
	}
	return m.seg.features
}

// SegmentFeatures is Segment that also returns the segmenter's "features"
// output, [N, FeatureDim()]: the penultimate feature map averaged over each
// image, the features FID is measured on. ErrNoFeatures when the segmenter
// has no such output.
func (m *Model) SegmentFeatures(ctx context.Context, imgs *Images) ([]uint8, []float32, error) {
	if m.seg != nil && m.seg.features == 0 {
		return nil, nil, fmt.Errorf("%w: %s (%s)", ErrNoFeatures, m.manifest.Name, m.seg.file)
	}
	return m.segment(ctx, imgs, true)
}

func (m *Model) segment(ctx context.Context, imgs *Images, wantFeatures bool) ([]uint8, []float32, error) {
	if m.seg == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoSegmenter, m.manifest.Name)
	}
	if err := checkImages(imgs); err != nil {
		return nil, nil, err
	}
	spec := m.manifest.Segmenter
	w, err := m.acquire(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	defer m.release(w)
	in := imgs.Data
	if src, dstR := m.manifest.Image.Range, spec.InputRange; src != dstR {
		// Map image.range linearly onto the segmenter's input_range.
		scale := (dstR[1] - dstR[0]) / (src[1] - src[0])
		w.segIn = grow(w.segIn, len(in))
		for i, v := range in {
			w.segIn[i] = (v-src[0])*scale + dstR[0]
		}
		in = w.segIn
	}
	inT, err := ort.NewTensor(ort.NewShape(int64(imgs.N), 3, int64(imgs.H), int64(imgs.W)), in)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: input tensor: %v", ErrRuntime, err)
	}
	defer inT.Destroy()
	k := len(spec.Classes)
	out, err := w.segOut.get(ort.NewShape(int64(imgs.N), int64(k), int64(imgs.H), int64(imgs.W)))
	if err != nil {
		return nil, nil, err
	}
	outs := []ort.Value{out}
	var featT *ort.Tensor[float32]
	if m.seg.features > 0 {
		// The session computes both outputs; the features are cheap.
		if featT, err = w.segFeat.get(ort.NewShape(int64(imgs.N), int64(m.seg.features))); err != nil {
			return nil, nil, err
		}
		outs = append(outs, featT)
	}
	if err := w.seg.Run([]ort.Value{inT}, outs); err != nil {
		return nil, nil, fmt.Errorf("%w: segmenter: %v", ErrRuntime, err)
	}
	logits := out.GetData()
	plane := imgs.H * imgs.W
	labels := make([]uint8, imgs.N*plane)
	for n := 0; n < imgs.N; n++ {
		base := logits[n*k*plane : (n+1)*k*plane]
		lab := labels[n*plane : (n+1)*plane]
		for p := 0; p < plane; p++ {
			best := base[p]
			for c := 1; c < k; c++ {
				if v := base[c*plane+p]; v > best {
					best, lab[p] = v, uint8(c)
				}
			}
		}
	}
	var feats []float32
	if wantFeatures {
		feats = append([]float32(nil), featT.GetData()...)
	}
	return labels, feats, nil
}

// HasInpainter reports whether the model ships a learned inpainter.
func (m *Model) HasInpainter() bool { return m.inp != nil }

// Inpaint runs the model's learned inpainter (docs/model-format.md) on imgs
// (values in the manifest's image.range) with masks, [N, H, W], 1 where a
// pixel is to be filled and 0 where it is known (values in between are
// passed through). The network sees the image with the masked pixels set to
// 0 and the mask as a 4th channel; the result keeps every pixel with mask 0
// as it was and takes the network's output where the mask is 1, blending in
// between. ErrNoInpainter when the model has none.
func (m *Model) Inpaint(ctx context.Context, imgs *Images, masks []float32) (*Images, error) {
	if m.inp == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoInpainter, m.manifest.Name)
	}
	if err := checkImages(imgs); err != nil {
		return nil, err
	}
	h, wd := m.manifest.Image.Height, m.manifest.Image.Width
	if imgs.H != h || imgs.W != wd {
		return nil, fmt.Errorf("%w: inpainter takes %dx%d images, got %dx%d", ErrBadShape, wd, h, imgs.W, imgs.H)
	}
	plane := h * wd
	if len(masks) != imgs.N*plane {
		return nil, fmt.Errorf("%w: %d mask values for %d images of %dx%d", ErrBadShape, len(masks), imgs.N, wd, h)
	}
	for i, v := range masks {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("%w: mask value %v at %d", ErrBadMask, v, i)
		}
	}
	in := make([]float32, imgs.N*4*plane)
	for n := 0; n < imgs.N; n++ {
		mk := masks[n*plane : (n+1)*plane]
		dst := in[n*4*plane : (n+1)*4*plane]
		for c := 0; c < 3; c++ {
			src := imgs.Data[(n*3+c)*plane : (n*3+c+1)*plane]
			for p, v := range src {
				dst[c*plane+p] = v * (1 - mk[p])
			}
		}
		copy(dst[3*plane:], mk)
	}
	w, err := m.acquire(ctx, false)
	if err != nil {
		return nil, err
	}
	defer m.release(w)
	inT, err := ort.NewTensor(ort.NewShape(int64(imgs.N), 4, int64(h), int64(wd)), in)
	if err != nil {
		return nil, fmt.Errorf("%w: input tensor: %v", ErrRuntime, err)
	}
	defer inT.Destroy()
	out := &Images{N: imgs.N, H: h, W: wd, Data: make([]float32, imgs.N*3*plane)}
	outT, err := ort.NewTensor(ort.NewShape(int64(imgs.N), 3, int64(h), int64(wd)), out.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: output tensor: %v", ErrRuntime, err)
	}
	defer outT.Destroy()
	if err := w.inp.Run([]ort.Value{inT}, []ort.Value{outT}); err != nil {
		return nil, fmt.Errorf("%w: inpainter: %v", ErrRuntime, err)
	}
	for n := 0; n < imgs.N; n++ {
		mk := masks[n*plane : (n+1)*plane]
		for c := 0; c < 3; c++ {
			off := (n*3 + c) * plane
			for p := 0; p < plane; p++ {
				a := mk[p]
				out.Data[off+p] = imgs.Data[off+p]*(1-a) + out.Data[off+p]*a
			}
		}
	}
	return out, nil
}

// Discriminate returns the discriminator's realism score for each image.
func (m *Model) Discriminate(ctx context.Context, imgs *Images) ([]float32, error) {
	if m.disc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoDiscriminator, m.manifest.Name)
	}
	if err := checkImages(imgs); err != nil {
		return nil, err
	}
	if imgs.H != m.manifest.Image.Height || imgs.W != m.manifest.Image.Width {
		return nil, fmt.Errorf("%w: discriminator takes %dx%d images, got %dx%d", ErrBadShape,
			m.manifest.Image.Width, m.manifest.Image.Height, imgs.W, imgs.H)
	}
	w, err := m.acquire(ctx, false)
	if err != nil {
		return nil, err
	}
	defer m.release(w)
	inT, err := ort.NewTensor(ort.NewShape(int64(imgs.N), 3, int64(imgs.H), int64(imgs.W)), imgs.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: input tensor: %v", ErrRuntime, err)
	}
	defer inT.Destroy()
	scores := make([]float32, imgs.N)
	outT, err := ort.NewTensor(ort.NewShape(int64(imgs.N), 1), scores)
	if err != nil {
		return nil, fmt.Errorf("%w: output tensor: %v", ErrRuntime, err)
	}
	defer outT.Destroy()
	if err := w.disc.Run([]ort.Value{inT}, []ort.Value{outT}); err != nil {
		return nil, fmt.Errorf("%w: discriminator: %v", ErrRuntime, err)
	}
	return scores, nil
}

// Levels returns the per-unit value that ModeAdd inserts at layer. Levels set
// with SetLevels (normally dissection's 0.99 quantiles) win; otherwise the
// fallback is computed once and cached: for each unit, the 0.99 quantile
// (linear interpolation between order statistics, as numpy's default) of its
// activations over every cell of the manifest's sample_ids images (ids
// 0..15 when the manifest lists none). The returned slice is a copy.
//
// The fallback runs the generator, so it runs outside the levels lock (other
// layers' levels and SetLevels do not wait for it) and stops with ctx; callers
// asking for the same layer meanwhile wait for that one computation, and
// compute it themselves if it is cancelled.
func (m *Model) Levels(ctx context.Context, layer string) ([]float32, error) {
	li, err := m.Layer(layer)
	if err != nil {
		return nil, err
	}
	for {
		m.levelsMu.Lock()
		if l, ok := m.levels[layer]; ok {
			m.levelsMu.Unlock()
			return append([]float32(nil), l...), nil
		}
		running, waiting := m.levelsRun[layer]
		if !waiting {
			running = make(chan struct{})
			m.levelsRun[layer] = running
		}
		m.levelsMu.Unlock()
		if waiting {
			select {
			case <-running:
				continue // done, or cancelled: look again
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		l, err := m.fallbackLevels(ctx, li)
		m.levelsMu.Lock()
		delete(m.levelsRun, layer)
		if _, set := m.levels[layer]; err == nil && !set {
			m.levels[layer] = l // unless SetLevels came first, which wins
		}
		l = append([]float32(nil), m.levels[layer]...)
		m.levelsMu.Unlock()
		close(running)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
}

// SetLevels replaces the per-unit add levels of layer (one finite value per unit).
func (m *Model) SetLevels(layer string, levels []float32) error {
	li, err := m.Layer(layer)
	if err != nil {
		return err
	}
	if err := checkLevels(levels, li.Channels); err != nil {
		return err
	}
	m.levelsMu.Lock()
	m.levels[layer] = append([]float32(nil), levels...)
	m.levelsMu.Unlock()
	return nil
}

func checkLevels(levels []float32, channels int) error {
	if len(levels) != channels {
		return fmt.Errorf("%w: %d levels for %d units", ErrBadLevels, len(levels), channels)
	}
	for u, v := range levels {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: unit %d level is %v", ErrBadLevels, u, v)
		}
	}
	return nil
}

func (m *Model) fallbackLevels(ctx context.Context, li LayerInfo) ([]float32, error) {
	ids := m.manifest.SampleIDs
	if len(ids) == 0 {
		for id := int64(0); id < fallbackSampleCount && id < m.manifest.Z.MaxID; id++ {
			ids = append(ids, id)
		}
	}
	plane := li.Height * li.Width
	perUnit := make([][]float32, li.Channels)
	for c := range perUnit {
		perUnit[c] = make([]float32, 0, len(ids)*plane)
	}
	const chunk = 8
	var f Features
	for start := 0; start < len(ids); start += chunk {
		end := min(start+chunk, len(ids))
		zs, err := m.ZBatch(ids[start:end])
		if err != nil {
			return nil, err
		}
		if err := m.head(ctx, &f, li.Name, zs, end-start, true); err != nil {
			return nil, fmt.Errorf("computing fallback levels for %s: %w", li.Name, err)
		}
		for n := 0; n < f.N; n++ {
			for c := 0; c < li.Channels; c++ {
				off := (n*li.Channels + c) * plane
				perUnit[c] = append(perUnit[c], f.Data[off:off+plane]...)
			}
		}
	}
	levels := make([]float32, li.Channels)
	for c, vals := range perUnit {
		levels[c] = quantile(vals, levelsQuantile)
	}
	return levels, nil
}

// quantile sorts vals in place and interpolates linearly between the order
// statistics around q·(len−1).
func quantile(vals []float32, q float64) float32 {
	if len(vals) == 0 {
		return 0
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	pos := q * float64(len(vals)-1)
	lo := int(math.Floor(pos))
	if lo >= len(vals)-1 {
		return vals[len(vals)-1]
	}
	frac := pos - float64(lo)
	return float32(float64(vals[lo]) + frac*(float64(vals[lo+1])-float64(vals[lo])))
}
