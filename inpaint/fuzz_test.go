package inpaint

import (
	"errors"
	"image"
	"testing"
)

// FuzzInpaint drives both methods with arbitrary small images, masks and
// radii: no panic, either a sentinel error or an opaque result that keeps
// every known pixel.
func FuzzInpaint(f *testing.F) {
	f.Add(uint8(5), uint8(4), 3.0, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(uint8(1), uint8(9), 1.0, []byte{0xff, 0, 0x10})
	f.Add(uint8(16), uint8(16), 64.0, []byte{0, 0, 0, 0xf0, 0x0f})
	f.Fuzz(func(t *testing.T, w8, h8 uint8, radius float64, data []byte) {
		w, h := int(w8%24)+1, int(h8%24)+1
		src := image.NewRGBA(image.Rect(0, 0, w, h))
		mask := image.NewGray(src.Bounds())
		for i := range src.Pix {
			if len(data) > 0 {
				src.Pix[i] = data[i%len(data)] * uint8(i+1)
			}
		}
		for i := range mask.Pix {
			if len(data) > 0 && data[(i*7)%len(data)]&(1<<(i%8)) != 0 {
				mask.Pix[i] = 1
			}
		}
		for _, method := range methods {
			got, err := Inpaint(src, mask, radius, method)
			if err != nil {
				if !errors.Is(err, ErrBadRadius) && !errors.Is(err, ErrNothingKnown) {
					t.Fatalf("%s: unexpected error %v", method, err)
				}
				continue
			}
			for i := 0; i < w*h; i++ {
				if got.Pix[4*i+3] != 255 {
					t.Fatalf("%s: pixel %d not opaque", method, i)
				}
				if mask.Pix[i] == 0 && string(got.Pix[4*i:4*i+3]) != string(src.Pix[4*i:4*i+3]) {
					t.Fatalf("%s: known pixel %d changed", method, i)
				}
			}
		}
	})
}
