package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
)

// refMask is the reference API's mask record: a shape, the bounds the bits
// fill, and the bits — a PNG data URL or a string of '0'/'1'.
type refMask struct {
	Shape     []int   `json:"shape"`
	Bitbounds []int   `json:"bitbounds"`
	Bitstring *string `json:"bitstring"`
}

// bitMask is a decoded mask: H×W values, each 0 or 1, row-major.
type bitMask struct {
	W, H int
	Bits []float32
}

// errMask wraps every mask decoding problem; the API answers it with 400.
var errMask = errors.New("mask")

func maskErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMask, fmt.Sprintf(format, args...))
}

// pngPrefix finds the start of base64 data in "data:image/png;base64,…" or
// the reference's shorter "image/png;base64,…".
func pngPayload(s string) (string, bool) {
	const marker = "image/png;base64,"
	i := strings.Index(s, marker)
	if i < 0 {
		return "", false
	}
	if head := s[:i]; head != "" && head != "data:" {
		return "", false
	}
	return s[i+len(marker):], true
}

// decodeRefMask turns a mask record into a 0/1 mask, the way the reference
// server does:
//   - shape [h, w] is the mask's size; empty means the PNG's size for a PNG,
//     else defW×defH (the generated image);
//   - bitbounds [y0, x0, y1, x1] is the rectangle the bits fill; empty means
//     the whole mask; everything outside it is 0;
//   - bitstring is a PNG data URL whose size must equal the bounds' (a pixel
//     is on where its alpha is > 0, or — for a PNG without alpha — where it
//     is not white), or '0'/'1' characters filling the bounds row by row
//     (any character but '0' is on, as in the reference); null means all on.
//
// maxSide bounds every side so a hostile mask cannot make us allocate much.
func decodeRefMask(m refMask, defW, defH, maxSide int) (bitMask, error) {
	var pngData []byte
	var cfg image.Config
	isPNG := false
	if m.Bitstring != nil {
		if payload, ok := pngPayload(*m.Bitstring); ok {
			isPNG = true
			var err error
			if pngData, err = decodeBase64(payload); err != nil {
				return bitMask{}, maskErr("bitstring is not valid base64 PNG data: %v", err)
			}
			if cfg, err = png.DecodeConfig(bytes.NewReader(pngData)); err != nil {
				return bitMask{}, maskErr("bitstring PNG: %v", err)
			}
			if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxSide || cfg.Height > maxSide {
				return bitMask{}, maskErr("bitstring PNG is %d×%d; each side must be 1..%d", cfg.Width, cfg.Height, maxSide)
			}
		}
	}
	h, w := defH, defW
	if isPNG {
		h, w = cfg.Height, cfg.Width
	}
	switch len(m.Shape) {
	case 0:
	case 2:
		h, w = m.Shape[0], m.Shape[1]
	default:
		return bitMask{}, maskErr("shape must be [height, width] (got %d numbers)", len(m.Shape))
	}
	if h <= 0 || w <= 0 || h > maxSide || w > maxSide {
		return bitMask{}, maskErr("shape %d×%d: each side must be 1..%d", h, w, maxSide)
	}
	y0, x0, y1, x1 := 0, 0, h, w
	switch len(m.Bitbounds) {
	case 0:
	case 4:
		y0, x0, y1, x1 = m.Bitbounds[0], m.Bitbounds[1], m.Bitbounds[2], m.Bitbounds[3]
		if y0 < 0 || x0 < 0 || y1 > h || x1 > w || y0 >= y1 || x0 >= x1 {
			return bitMask{}, maskErr("bitbounds %v must satisfy 0 ≤ y0 < y1 ≤ %d and 0 ≤ x0 < x1 ≤ %d", m.Bitbounds, h, w)
		}
	default:
		return bitMask{}, maskErr("bitbounds must be [y0, x0, y1, x1] (got %d numbers)", len(m.Bitbounds))
	}
	bh, bw := y1-y0, x1-x0
	out := bitMask{W: w, H: h, Bits: make([]float32, w*h)}
	switch {
	case m.Bitstring == nil:
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				out.Bits[y*w+x] = 1
			}
		}
	case isPNG:
		if cfg.Width != bw || cfg.Height != bh {
			return bitMask{}, maskErr("bitstring PNG is %d×%d but bitbounds cover %d×%d", cfg.Width, cfg.Height, bw, bh)
		}
		img, err := png.Decode(bytes.NewReader(pngData))
		if err != nil {
			return bitMask{}, maskErr("bitstring PNG: %v", err)
		}
		on := pngOn(img)
		b := img.Bounds()
		for y := 0; y < bh; y++ {
			for x := 0; x < bw; x++ {
				if on(b.Min.X+x, b.Min.Y+y) {
					out.Bits[(y0+y)*w+x0+x] = 1
				}
			}
		}
	default:
		s := *m.Bitstring
		if len(s) != bh*bw {
			return bitMask{}, maskErr("bitstring has %d characters but bitbounds cover %d×%d = %d", len(s), bh, bw, bh*bw)
		}
		for i := 0; i < len(s); i++ {
			if s[i] != '0' {
				out.Bits[(y0+i/bw)*w+x0+i%bw] = 1
			}
		}
	}
	return out, nil
}

// decodeBase64 accepts padded and unpadded standard base64 (browsers pad;
// hand-written clients sometimes do not).
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// pngOn says which pixels of a decoded PNG mark the mask: those with alpha
// above 0 when the PNG has an alpha channel (a canvas drawing), otherwise
// those that are not white in the red channel, as the reference reads them.
// Go decodes PNGs with alpha (or a transparent palette entry or colour key)
// to NRGBA, NRGBA64 or a palette with translucent entries, and opaque
// truecolour ones to RGBA, so the decoded type says which rule applies.
func pngOn(img image.Image) func(x, y int) bool {
	hasAlpha := false
	switch im := img.(type) {
	case *image.NRGBA, *image.NRGBA64:
		hasAlpha = true
	case *image.Paletted:
		for _, c := range im.Palette {
			if _, _, _, a := c.RGBA(); a != 0xffff {
				hasAlpha = true
			}
		}
	}
	if hasAlpha {
		return func(x, y int) bool {
			_, _, _, a := img.At(x, y).RGBA()
			return a > 0
		}
	}
	return func(x, y int) bool {
		r, _, _, _ := img.At(x, y).RGBA()
		return r < 0xffff
	}
}
