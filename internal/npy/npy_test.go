package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// encode writes a as a version 1.0 .npy stream, padded as numpy pads.
func encode(w io.Writer, a *Array) error {
	var dims []string
	for _, d := range a.Shape {
		dims = append(dims, strconv.Itoa(d))
	}
	shape := "(" + strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	shape += ")"
	head := fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': %s, }", shape)
	head += strings.Repeat(" ", (64-(10+len(head)+1)%64)%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&buf, binary.LittleEndian, uint16(len(head)))
	buf.WriteString(head)
	buf.Write(a.Data)
	_, err := w.Write(buf.Bytes())
	return err
}

// The fixture was written by numpy: np.savez('small.npz', images=uint8 (2,3,4,3)
// = arange % 251, labels=ones (2,3,4), floats=float32 zeros (3,)).
func TestReadNumpyFile(t *testing.T) {
	a, err := ReadNPZ("testdata/small.npz", "images", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Shape) != "[2 3 4 3]" || len(a.Data) != 72 {
		t.Fatalf("shape %v, %d values", a.Shape, len(a.Data))
	}
	for i, v := range a.Data {
		if int(v) != i%251 {
			t.Fatalf("value %d = %d, want %d", i, v, i%251)
		}
	}
	l, err := ReadNPZ("testdata/small.npz", "labels", 1<<20)
	if err != nil || fmt.Sprint(l.Shape) != "[2 3 4]" {
		t.Fatalf("labels: %v %v", l, err)
	}
	if _, err := ReadNPZ("testdata/small.npz", "floats", 1<<20); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "uint8") {
		t.Errorf("float array: error = %v", err)
	}
	if _, err := ReadNPZ("testdata/small.npz", "missing", 1<<20); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "images") {
		t.Errorf("missing array: error = %v (should list the archive's arrays)", err)
	}
	if _, err := ReadNPZ("testdata/small.npz", "images", 71); !errors.Is(err, ErrTooBig) {
		t.Errorf("over the limit: error = %v", err)
	}
	if _, err := ReadNPZ(filepath.Join(t.TempDir(), "absent.npz"), "images", 1<<20); !errors.Is(err, ErrFormat) {
		t.Errorf("absent file: error = %v", err)
	}
}

func TestDecodeRoundTripAndHeaders(t *testing.T) {
	for _, shape := range [][]int{{5}, {2, 3}, {}, {0, 4}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		a := &Array{Shape: shape, Data: bytes.Repeat([]byte{7}, n)}
		var buf bytes.Buffer
		if err := encode(&buf, a); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(&buf, 1<<10)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		if fmt.Sprint(got.Shape) != fmt.Sprint(shape) || !bytes.Equal(got.Data, a.Data) {
			t.Fatalf("shape %v: got %v", shape, got.Shape)
		}
	}
	good := "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }"
	bad := map[string]string{
		"fortran":       strings.Replace(good, "False", "True", 1),
		"float":         strings.Replace(good, "|u1", "<f4", 1),
		"unknown key":   strings.Replace(good, "}", "'x': 1}", 1),
		"no shape":      "{'descr': '|u1', 'fortran_order': False}",
		"bad tuple":     strings.Replace(good, "(2, 2)", "(2, -2)", 1),
		"huge dim":      strings.Replace(good, "(2, 2)", "(99999999999999, 2)", 1),
		"not a dict":    "[1, 2]",
		"repeated key":  strings.Replace(good, "}", "'shape': (1,)}", 1),
		"bad bool":      strings.Replace(good, "False", "0", 1),
		"escaped":       strings.Replace(good, "|u1", `|u\1`, 1),
		"trailing text": good + " x",
	}
	for name, h := range bad {
		var buf bytes.Buffer
		buf.WriteString("\x93NUMPY\x01\x00")
		_ = binary.Write(&buf, binary.LittleEndian, uint16(len(h)))
		buf.WriteString(h)
		buf.Write([]byte{1, 2, 3, 4})
		if _, err := Decode(&buf, 1<<10); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	streams := map[string][]byte{
		"empty":        nil,
		"no magic":     []byte("PK\x03\x04 not npy at all"),
		"version 9":    []byte("\x93NUMPY\x09\x00\x10\x00"),
		"short header": []byte("\x93NUMPY\x01\x00\x40\x00{'descr'"),
		"huge v2":      []byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"),
	}
	for name, b := range streams {
		if _, err := Decode(bytes.NewReader(b), 1<<10); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	// Short data.
	var buf bytes.Buffer
	_ = encode(&buf, &Array{Shape: []int{10}, Data: make([]byte, 10)})
	if _, err := Decode(bytes.NewReader(buf.Bytes()[:buf.Len()-3]), 1<<10); !errors.Is(err, ErrFormat) {
		t.Errorf("short data: error = %v", err)
	}
}

func TestReadNPZWrittenHere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("images.npy")
	if err := encode(w, &Array{Shape: []int{1, 2, 2, 3}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	f.Close()
	a, err := ReadNPZ(path, "images", 100)
	if err != nil || a.Data[11] != 12 {
		t.Fatalf("%v %v", a, err)
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	_ = encode(&buf, &Array{Shape: []int{2, 3}, Data: []byte{1, 2, 3, 4, 5, 6}})
	f.Add(buf.Bytes())
	f.Add([]byte("\x93NUMPY\x02\x00\x20\x00\x00\x00{'shape': (), 'descr': 'u1', 'fortran_order': False}"))
	f.Add([]byte("\x93NUMPY\x01\x00\x05\x00{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decode(bytes.NewReader(data), 1<<16)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooBig) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		n := 1
		for _, d := range a.Shape {
			n *= d
		}
		if n != len(a.Data) {
			t.Fatalf("shape %v with %d values", a.Shape, len(a.Data))
		}
	})
}
