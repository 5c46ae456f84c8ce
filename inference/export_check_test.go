package inference_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// Set by `make test` after training/toy_pipeline.sh (and by hand after a real
// export): a model folder written by training/export.py and the torch
// reference outputs it wrote with --check-out.
const (
	envExportModel = "GANPAINT_EXPORT_MODEL"
	envExportRef   = "GANPAINT_EXPORT_REF"
)

// TestExportMatchesTorch runs an exported model under ONNX Runtime and
// compares every block, the image, the discriminator and the segmenter with
// the torch outputs of the same weights.
func TestExportMatchesTorch(t *testing.T) {
	dir, ref := os.Getenv(envExportModel), os.Getenv(envExportRef)
	if dir == "" || ref == "" {
		t.Skipf("set %s and %s to check an export (make test does, after the toy pipeline)", envExportModel, envExportRef)
	}
	testenv.RequireRuntime(t)
	arrays, err := readNPZ(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := inference.LoadDir(dir, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("the export does not load: %v", err)
	}
	defer m.Close()

	ids := arrays["ids"]
	if ids == nil || len(ids.shape) != 1 {
		t.Fatalf("%s has no ids", ref)
	}
	n := ids.shape[0]
	zs := make([]float32, 0, n*m.Manifest().Z.Size)
	for _, id := range ids.int64s {
		z, err := m.Z(id)
		if err != nil {
			t.Fatal(err)
		}
		zs = append(zs, z...)
	}
	compare(t, "z (Go rule vs training/zrule.py)", zs, arrays["z"], 0)

	var names []string
	for _, l := range m.Layers() {
		names = append(names, l.Name)
	}
	img, feats, err := m.Generate(context.Background(), zs, n, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		compare(t, name, feats[name].Data, arrays[name], 1e-3)
	}
	compare(t, "to_rgb", img.Data, arrays["to_rgb"], 1e-3)
	if want := arrays["discriminator"]; want != nil {
		got, err := m.Discriminate(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "discriminator", got, want, 1e-3)
	}
	if logits := arrays["segmenter"]; logits != nil {
		labels, err := m.Segment(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		// Argmax may flip only where torch's two best logits nearly tie.
		c := logits.shape[1]
		plane := len(labels) / n
		flips := 0
		for i := range labels {
			b, p := i/plane, i%plane
			best, second, arg := float32(math.Inf(-1)), float32(math.Inf(-1)), 0
			for k := 0; k < c; k++ {
				v := logits.float32s[(b*c+k)*plane+p]
				if v > best {
					best, second, arg = v, best, k
				} else if v > second {
					second = v
				}
			}
			if int(labels[i]) != arg && best-second > 1e-3 {
				flips++
			}
		}
		t.Logf("segmenter: %d of %d labels differ from torch's argmax beyond ties", flips, len(labels))
		if flips > 0 {
			t.Errorf("segmenter labels differ from torch at %d pixels", flips)
		}
	}
	if want := arrays["segmenter_features"]; want != nil {
		_, got, err := m.SegmentFeatures(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "segmenter features", got, want, 1e-3)
	}
}

// compare reports the largest absolute difference and fails beyond
// tol·max(1, |want|max).
func compare(t *testing.T, what string, got []float32, want *npyArray, tol float64) {
	t.Helper()
	if want == nil {
		t.Errorf("%s: missing from the torch reference", what)
		return
	}
	if len(got) != len(want.float32s) {
		t.Errorf("%s: %d values, torch has %d (shape %v)", what, len(got), len(want.float32s), want.shape)
		return
	}
	var maxDiff, maxAbs float64
	for i, g := range got {
		w := float64(want.float32s[i])
		maxDiff = math.Max(maxDiff, math.Abs(float64(g)-w))
		maxAbs = math.Max(maxAbs, math.Abs(w))
	}
	bound := tol * math.Max(1, maxAbs)
	t.Logf("%-36s max |onnx - torch| = %.3g (bound %.3g, |torch| max %.3g)", what, maxDiff, bound, maxAbs)
	if maxDiff > bound || math.IsNaN(maxDiff) {
		t.Errorf("%s: max abs difference %g exceeds %g", what, maxDiff, bound)
	}
}

// npyArray is one array of a NumPy .npz; only the dtypes export.py writes.
type npyArray struct {
	shape    []int
	float32s []float32
	int64s   []int64
}

// readNPZ reads an uncompressed or deflated .npz written by numpy.savez.
func readNPZ(path string) (map[string]*npyArray, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer zr.Close()
	out := map[string]*npyArray{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		arr, err := parseNPY(data)
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", f.Name, path, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = arr
	}
	return out, nil
}

var (
	npyDescr = regexp.MustCompile(`'descr':\s*'([<|=]?[a-z]\d+)'`)
	npyOrder = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

func parseNPY(data []byte) (*npyArray, error) {
	if len(data) < 10 || !bytes.HasPrefix(data, []byte("\x93NUMPY")) {
		return nil, fmt.Errorf("not a .npy file")
	}
	var headerLen, start int
	switch data[6] {
	case 1:
		headerLen, start = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf("short .npy header")
		}
		headerLen, start = int(binary.LittleEndian.Uint32(data[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy version %d", data[6])
	}
	if start+headerLen > len(data) {
		return nil, fmt.Errorf("short .npy header")
	}
	header, body := string(data[start:start+headerLen]), data[start+headerLen:]
	descr, order, shapeText := npyDescr.FindStringSubmatch(header), npyOrder.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if descr == nil || order == nil || shapeText == nil || order[1] != "False" {
		return nil, fmt.Errorf("unsupported .npy header %q", header)
	}
	arr := &npyArray{}
	count := 1
	for _, part := range strings.Split(shapeText[1], ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		d, err := strconv.Atoi(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad shape %q", shapeText[1])
		}
		arr.shape = append(arr.shape, d)
		count *= d
	}
	switch strings.TrimLeft(descr[1], "<|=") {
	case "f4":
		if len(body) != 4*count {
			return nil, fmt.Errorf("%d bytes for %d float32 values", len(body), count)
		}
		arr.float32s = make([]float32, count)
		for i := range arr.float32s {
			arr.float32s[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
	case "i8":
		if len(body) != 8*count {
			return nil, fmt.Errorf("%d bytes for %d int64 values", len(body), count)
		}
		arr.int64s = make([]int64, count)
		for i := range arr.int64s {
			arr.int64s[i] = int64(binary.LittleEndian.Uint64(body[8*i:]))
		}
	default:
		return nil, fmt.Errorf("dtype %s not supported", descr[1])
	}
	return arr, nil
}
