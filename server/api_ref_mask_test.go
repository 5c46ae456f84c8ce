package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }

// pngURL encodes img as the data URL a canvas's toDataURL("image/png") gives.
func pngURL(t testing.TB, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

// maskString draws a mask as rows of '.' and '#', for readable failures.
func maskString(m bitMask) string {
	var b strings.Builder
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if m.Bits[y*m.W+x] > 0 {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestDecodeRefMask(t *testing.T) {
	// A 4×3 canvas drawing: transparent except two painted pixels.
	canvas := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	canvas.Set(1, 0, color.NRGBA{255, 0, 0, 255})
	canvas.Set(3, 2, color.NRGBA{0, 0, 0, 1}) // barely visible still counts
	// An opaque RGB image: non-white pixels are the mask.
	rgb := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i := range rgb.Pix {
		rgb.Pix[i] = 255
	}
	rgb.Set(0, 1, color.RGBA{254, 255, 255, 255})
	// A palette with a transparent entry (a GIF-like PNG).
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{0, 0, 0, 0}, color.NRGBA{9, 9, 9, 255}})
	pal.SetColorIndex(1, 0, 1)

	for _, tc := range []struct {
		name string
		m    refMask
		want string
	}{
		{"bits fill the bounds row by row",
			refMask{Shape: []int{3, 4}, Bitbounds: []int{1, 1, 3, 3}, Bitstring: strp("1001")},
			"....\n.#..\n..#.\n"},
		{"one pixel as the reference editor sends it",
			refMask{Shape: []int{3, 4}, Bitbounds: []int{2, 3, 3, 4}, Bitstring: strp("1")},
			"....\n....\n...#\n"},
		{"any character but 0 is on",
			refMask{Shape: []int{1, 3}, Bitstring: strp("0x1")},
			".##\n"},
		{"empty shape means the image size",
			refMask{Bitbounds: []int{0, 0, 1, 2}, Bitstring: strp("11")},
			"##..\n....\n"},
		{"null bitstring fills the bounds",
			refMask{Shape: []int{2, 3}, Bitbounds: []int{0, 1, 2, 2}},
			".#.\n.#.\n"},
		{"canvas PNG with empty shape and bounds",
			refMask{Shape: []int{}, Bitbounds: []int{}, Bitstring: strp(pngURL(t, canvas))},
			".#..\n....\n...#\n"},
		{"PNG placed in bounds of a larger shape",
			refMask{Shape: []int{3, 5}, Bitbounds: []int{0, 1, 3, 5}, Bitstring: strp(pngURL(t, canvas))},
			"..#..\n.....\n....#\n"},
		{"opaque PNG marks non-white",
			refMask{Bitstring: strp(pngURL(t, rgb))},
			"..\n#.\n"},
		{"paletted PNG with a transparent entry",
			refMask{Bitstring: strp(pngURL(t, pal))},
			".#\n"},
		{"PNG without the data: prefix",
			refMask{Bitstring: strp(strings.TrimPrefix(pngURL(t, pal), "data:"))},
			".#\n"},
		{"unpadded base64",
			refMask{Bitstring: strp(strings.TrimRight(pngURL(t, pal), "="))},
			".#\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRefMask(tc.m, 4, 2, 64)
			if err != nil {
				t.Fatal(err)
			}
			if s := maskString(got); s != tc.want {
				t.Errorf("mask\n%swant\n%s", s, tc.want)
			}
		})
	}
}

func TestDecodeRefMaskErrors(t *testing.T) {
	big := image.NewNRGBA(image.Rect(0, 0, 65, 1))
	small := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	for _, tc := range []struct {
		name string
		m    refMask
		want string
	}{
		{"shape of three", refMask{Shape: []int{1, 2, 3}}, "shape must be"},
		{"zero shape", refMask{Shape: []int{0, 4}}, "each side"},
		{"negative shape", refMask{Shape: []int{-1, 4}}, "each side"},
		{"oversized shape", refMask{Shape: []int{65, 4}}, "each side"},
		{"bounds of two", refMask{Bitbounds: []int{0, 1}}, "bitbounds must be"},
		{"bounds outside", refMask{Shape: []int{2, 2}, Bitbounds: []int{0, 0, 3, 2}}, "0 ≤ y0 < y1 ≤ 2"},
		{"empty bounds", refMask{Shape: []int{2, 2}, Bitbounds: []int{1, 0, 1, 2}}, "bitbounds"},
		{"negative bounds", refMask{Shape: []int{2, 2}, Bitbounds: []int{-1, 0, 1, 2}}, "bitbounds"},
		{"short bitstring", refMask{Shape: []int{2, 2}, Bitstring: strp("101")}, "3 characters"},
		{"empty bitstring", refMask{Shape: []int{2, 2}, Bitstring: strp("")}, "0 characters"},
		{"bad base64", refMask{Bitstring: strp("data:image/png;base64,@@@@")}, "base64"},
		{"not a PNG", refMask{Bitstring: strp("data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("GIF89a....")))}, "PNG"},
		{"oversized PNG", refMask{Bitstring: strp(pngURL(t, big))}, "each side"},
		{"PNG and bounds disagree", refMask{Shape: []int{4, 4}, Bitbounds: []int{0, 0, 3, 3}, Bitstring: strp(pngURL(t, small))}, "bitbounds cover 3×3"},
		{"junk before the PNG marker", refMask{Bitstring: strp("xximage/png;base64,AAAA")}, "characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRefMask(tc.m, 4, 2, 64)
			if !errors.Is(err, errMask) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a mask error with %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeRefMask: whatever the record, the decoder answers a mask or an
// error, never panics, and a mask has the promised size, holds only 0 and
// 1, and is 0 outside the bounds.
func FuzzDecodeRefMask(f *testing.F) {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 3, 2)))
	pngB64 := "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	f.Add(2, 3, 0, 0, 2, 3, "101010", true)
	f.Add(0, 0, -1, 0, 0, 0, "", false)
	f.Add(0, 0, 0, 0, 0, 0, pngB64, true)
	f.Add(4, 4, 1, 1, 3, 4, pngB64, true)
	f.Add(1, 1, 0, 0, 1, 1, "1", true)
	f.Add(3, 3, 0, 0, 3, 3, "data:image/png;base64,iVBORw0KGgo=", true)
	f.Fuzz(func(t *testing.T, h, w, y0, x0, y1, x1 int, bits string, hasBits bool) {
		m := refMask{}
		if h != 0 || w != 0 {
			m.Shape = []int{h, w}
		}
		if y0 >= 0 {
			m.Bitbounds = []int{y0, x0, y1, x1}
		}
		if hasBits {
			m.Bitstring = &bits
		}
		got, err := decodeRefMask(m, 5, 4, 32)
		if err != nil {
			if !errors.Is(err, errMask) {
				t.Fatalf("error %v does not wrap errMask", err)
			}
			return
		}
		if got.W < 1 || got.H < 1 || got.W > 32 || got.H > 32 || len(got.Bits) != got.W*got.H {
			t.Fatalf("mask %d×%d with %d bits", got.W, got.H, len(got.Bits))
		}
		by0, bx0, by1, bx1 := 0, 0, got.H, got.W
		if m.Bitbounds != nil {
			by0, bx0, by1, bx1 = y0, x0, y1, x1
		}
		for i, v := range got.Bits {
			y, x := i/got.W, i%got.W
			if v != 0 && v != 1 {
				t.Fatalf("bit %v at %d", v, i)
			}
			if v == 1 && (y < by0 || y >= by1 || x < bx0 || x >= bx1) {
				t.Fatalf("bit set at (%d,%d) outside the bounds %v", y, x, m.Bitbounds)
			}
		}
	})
}

// FuzzRefMaskJSON: a mask record as the API receives it, JSON inside a
// request body, through the decoder and onto a layer's grid. The decoder
// answers a mask or an error, never panics, and pooling gives values in
// [0, 1] with the max-pooled cell never below the mean-pooled one. The
// committed corpus (testdata/fuzz/FuzzRefMaskJSON) holds the shapes real
// clients send: canvas PNGs with and without alpha, bitstrings with and
// without bounds, null bits.
func FuzzRefMaskJSON(f *testing.F) {
	f.Add([]byte(`{"shape":[2,3],"bitbounds":[0,0,2,3],"bitstring":"101010"}`))
	f.Add([]byte(`{"bitstring":null}`))
	f.Add([]byte(`{"shape":[4,4],"bitbounds":[1,1,3,4],"bitstring":"011100"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m refMask
		if err := json.Unmarshal(data, &m); err != nil {
			return
		}
		got, err := decodeRefMask(m, 16, 12, 64)
		if err != nil {
			if !errors.Is(err, errMask) {
				t.Fatalf("error %v does not wrap errMask", err)
			}
			return
		}
		if got.W < 1 || got.H < 1 || got.W > 64 || got.H > 64 || len(got.Bits) != got.W*got.H {
			t.Fatalf("mask %d×%d with %d bits", got.W, got.H, len(got.Bits))
		}
		const gw, gh = 4, 3
		maxCell, meanCell := make([]float32, gw*gh), make([]float32, gw*gh)
		adaptivePool(maxCell, got, gw, gh, false)
		adaptivePool(meanCell, got, gw, gh, true)
		for i := range maxCell {
			if maxCell[i] < 0 || maxCell[i] > 1 || meanCell[i] < 0 || meanCell[i] > 1 || meanCell[i] > maxCell[i]+1e-6 {
				t.Fatalf("cell %d: max %v, mean %v", i, maxCell[i], meanCell[i])
			}
		}
	})
}

func TestAdaptivePool(t *testing.T) {
	m := bitMask{W: 4, H: 4, Bits: []float32{
		1, 0, 0, 0,
		0, 0, 0, 0,
		0, 0, 0, 0,
		0, 0, 0, 1,
	}}
	for _, tc := range []struct {
		name   string
		gw, gh int
		mean   bool
		want   []float32
	}{
		{"max down", 2, 2, false, []float32{1, 0, 0, 1}},
		{"mean down", 2, 2, true, []float32{0.25, 0, 0, 0.25}},
		{"max up replicates", 8, 8, false, nil},
		{"odd grid overlaps", 3, 3, false, []float32{1, 0, 0, 0, 0, 0, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, tc.gw*tc.gh)
			adaptivePool(dst, m, tc.gw, tc.gh, tc.mean)
			if tc.want == nil {
				// Upsampling by 2: cell (y,x) reads mask pixel (y/2, x/2).
				for y := 0; y < tc.gh; y++ {
					for x := 0; x < tc.gw; x++ {
						if dst[y*tc.gw+x] != m.Bits[(y/2)*4+x/2] {
							t.Fatalf("cell (%d,%d) = %v", y, x, dst[y*tc.gw+x])
						}
					}
				}
				return
			}
			for i := range dst {
				if dst[i] != tc.want[i] {
					t.Fatalf("pooled %v, want %v", dst, tc.want)
				}
			}
		})
	}
}
