package server

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestRenderSize(t *testing.T) {
	srv, err := New(Config{Logger: quietLogger()}, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	_, native := httpGet(t, ts.URL+"/render.png", nil)
	small, err := png.Decode(bytes.NewReader(native))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		size   string
		status int
		side   int // of the answer, when 200
	}{
		{"", 200, 64},
		{"64", 200, 64},
		{"512", 200, 512},
		{"1024", 200, 1024},
		{"100", 400, 0},  // not a multiple of 64
		{"32", 400, 0},   // below native
		{"1088", 400, 0}, // above the limit
		{"0", 400, 0},
		{"-64", 400, 0},
		{"+128", 400, 0},
		{"128.0", 400, 0},
		{"1e3", 400, 0},
		{"abc", 400, 0},
		{"99999999999999999999", 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.size, func(t *testing.T) {
			resp, body := httpGet(t, ts.URL+"/render.png?size="+tc.size, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != http.StatusOK {
				if len(body) == 0 || len(body) > 200 || !strings.Contains(string(body), "size") {
					t.Errorf("error body %q, want a short message about size", body)
				}
				return
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.side || b.Dy() != tc.side {
				t.Fatalf("image %v, want %d×%d", b, tc.side, tc.side)
			}
			// Nearest neighbour: every pixel is the native pixel it covers.
			k := tc.side / 64
			for y := 0; y < tc.side; y += 7 {
				for x := 0; x < tc.side; x += 5 {
					if img.At(x, y) != small.At(x/k, y/k) {
						t.Fatalf("pixel (%d,%d) = %v, native (%d,%d) = %v", x, y, img.At(x, y), x/k, y/k, small.At(x/k, y/k))
					}
				}
			}
		})
	}
}

func TestPreviewScale(t *testing.T) {
	tests := []struct{ w, h, want int }{
		{64, 64, 8}, {128, 128, 4}, {256, 256, 2}, {100, 60, 6}, {512, 512, 1}, {1024, 1024, 1}, {2048, 100, 1},
	}
	for _, tc := range tests {
		k := previewScale(tc.w, tc.h)
		if k != tc.want {
			t.Errorf("previewScale(%d, %d) = %d, want %d", tc.w, tc.h, k, tc.want)
		}
		// What the pages ask for must be what /render.png accepts.
		if _, err := renderScale(strconv.Itoa(max(tc.w, tc.h)*k), tc.w, tc.h); err != nil {
			t.Errorf("previewScale(%d, %d) = %d gives a size render.png refuses: %v", tc.w, tc.h, k, err)
		}
	}
}

func FuzzRenderScale(f *testing.F) {
	for _, s := range []string{"", "512", "128", "0", "-1", "+512", "1e3", "0x200", "٥١٢", "00512"} {
		f.Add(s, 128, 128)
	}
	f.Fuzz(func(t *testing.T, size string, w, h int) {
		if w <= 0 || h <= 0 || w > maxImageSide || h > maxImageSide {
			return
		}
		k, err := renderScale(size, w, h)
		if err != nil {
			if len(err.Error()) > 120 {
				t.Fatalf("long error %q", err)
			}
			return
		}
		if k < 1 || max(w, h)*k > max(maxRenderSide, max(w, h)) {
			t.Fatalf("renderScale(%q, %d, %d) = %d: outside the limits", size, w, h, k)
		}
	})
}

func TestUpscale(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 2, 1))
	copy(src.Pix, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	got := upscale(src, 3)
	want := []byte{}
	row := []byte{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8}
	for i := 0; i < 3; i++ {
		want = append(want, row...)
	}
	if got.Bounds() != image.Rect(0, 0, 6, 3) || !bytes.Equal(got.Pix, want) {
		t.Errorf("upscale = %v %v", got.Bounds(), got.Pix)
	}
	if upscale(src, 1) != src {
		t.Error("factor 1 copied the image")
	}
}
