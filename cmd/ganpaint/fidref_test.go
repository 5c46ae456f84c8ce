package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// writeRendersNPZ writes an .npz with an `images` array, uint8 [n, h, w, 3],
// as training/build_dataset.py does; pixel values come from f.
func writeRendersNPZ(t *testing.T, path string, n, h, w int, f func(k, i int) uint8) {
	t.Helper()
	head := fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d, 3), }", n, h, w)
	head += strings.Repeat(" ", (64-(10+len(head)+1)%64)%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&buf, binary.LittleEndian, uint16(len(head)))
	buf.WriteString(head)
	for k := 0; k < n; k++ {
		for i := 0; i < h*w*3; i++ {
			buf.WriteByte(f(k, i))
		}
	}
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(file)
	zf, _ := zw.Create("images.npy")
	zf.Write(buf.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	file.Close()
}

func TestFIDRef(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := testenv.CopyDir(t, plantedModelDir)
	renders := filepath.Join(t.TempDir(), "renders.npz")
	// Channel c of image k is the constant 10k + 50c: the planted segmenter's
	// features are the mean colour, so the statistics are known exactly.
	writeRendersNPZ(t, renders, 5, 32, 32, func(k, i int) uint8 { return uint8(10*k + 50*(i%3)) })
	var out, errb bytes.Buffer
	if code := runMain(context.Background(), []string{"fidref", "--model", dir, "--renders", renders}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	ref, err := fid.LoadReference(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if ref.N != 5 || ref.Dim != 3 || ref.Source != "renders.npz" {
		t.Fatalf("reference n=%d dim=%d source=%q", ref.N, ref.Dim, ref.Source)
	}
	for c := 0; c < 3; c++ {
		// Mean of 10k + 50c over k = 0..4 in [-1, 1]: (20 + 50c)/255·2 − 1.
		want := (20+50*float64(c))/255*2 - 1
		if math.Abs(ref.Mean[c]-want) > 1e-5 {
			t.Errorf("mean[%d] = %v, want %v", c, ref.Mean[c], want)
		}
		// Variance of 10k/255·2 over k = 0..4 (n − 1): (20/255)²·2.5.
		if v := ref.Cov[c][c]; math.Abs(v-math.Pow(20.0/255, 2)*2.5) > 1e-6 {
			t.Errorf("var[%d] = %v", c, v)
		}
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no renders", []string{"fidref", "--model", dir}, "required"},
		{"missing file", []string{"fidref", "--model", dir, "--renders", filepath.Join(dir, "none.npz")}, "none.npz"},
		{"wrong size", func() []string {
			p := filepath.Join(t.TempDir(), "small.npz")
			writeRendersNPZ(t, p, 3, 16, 16, func(k, i int) uint8 { return 1 })
			return []string{"fidref", "--model", dir, "--renders", p}
		}(), "image size"},
	}
	for _, b := range bad {
		errb.Reset()
		if code := runMain(context.Background(), b.args, &out, &errb); code == 0 || !strings.Contains(errb.String(), b.want) {
			t.Errorf("%s: exit %d, stderr %q (want it to mention %q)", b.name, code, errb.String(), b.want)
		}
	}
}
