package inference_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

const (
	tinyDir    = "testdata/proggan_tiny"
	scenes128  = "../assets/models/scenes128"
	repaintTol = 1e-5 // issue 15: before 8-bit rounding, against a full recompute
)

// randomSession is a painter's edit history: strokes (random rectangles,
// units, modes and strengths), undo, redo and reset, in random order.
type randomSession struct {
	rng     *rand.Rand
	li      inference.LayerInfo
	imgW    int
	imgH    int
	history [][]inference.Edit
	cur     int
}

func (s *randomSession) edits() []inference.Edit { return s.history[s.cur] }

func (s *randomSession) step() string {
	switch r := s.rng.IntN(20); {
	case r < 3 && s.cur > 0:
		s.cur--
		return "undo"
	case r < 5 && s.cur < len(s.history)-1:
		s.cur++
		return "redo"
	case r == 5:
		s.push(nil)
		return "reset"
	}
	units := make([]int, 1+s.rng.IntN(min(15, s.li.Channels)))
	for i := range units {
		units[i] = s.rng.IntN(s.li.Channels)
	}
	side := 1 + s.rng.IntN(max(s.imgW/4, 1))
	x, y := s.rng.IntN(s.imgW), s.rng.IntN(s.imgH)
	mask := inference.RectMask(s.imgW, s.imgH, x, y, x+side, y+s.rng.IntN(2*side)+1)
	if s.rng.IntN(15) == 0 {
		mask = inference.FullMask(s.imgW, s.imgH)
	}
	e := inference.Edit{Units: units, Mode: inference.Mode(1 + s.rng.IntN(3)), Value: float32(s.rng.NormFloat64()),
		Strength: []float32{0.5, 1, 1.5}[s.rng.IntN(3)], Mask: mask}
	s.push(append(append([]inference.Edit(nil), s.edits()...), e))
	return "stroke"
}

func (s *randomSession) push(edits []inference.Edit) {
	s.history = append(s.history[:s.cur+1], edits)
	s.cur = len(s.history) - 1
}

// TestRepaintMatchesFullTail is the region-limited tail's exactness test:
// over random edit sequences, every repaint equals a full recompute of the
// tail within 1e-5, and pixels outside the reported dirty box are the
// previous frame's bit for bit.
func TestRepaintMatchesFullTail(t *testing.T) {
	testenv.RequireRuntime(t)
	ctx := context.Background()
	cases := []struct {
		dir    string
		layers []string
		ids    []int64
		steps  int
	}{
		{tinyDir, []string{"layer2", "layer4", "layer5", "layer8"}, []int64{0, 1}, 60},
		{scenes128, []string{"layer4", "layer6"}, []int64{7}, 40},
	}
	for _, tc := range cases {
		m, err := inference.LoadDir(tc.dir, inference.Options{Workers: 1, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		man := m.Manifest()
		for _, layer := range tc.layers {
			for _, id := range tc.ids {
				t.Run(fmt.Sprintf("%s/%s/id%d", filepath.Base(tc.dir), layer, id), func(t *testing.T) {
					li, err := m.Layer(layer)
					if err != nil {
						t.Fatal(err)
					}
					levels, err := m.Levels(context.Background(), layer)
					if err != nil {
						t.Fatal(err)
					}
					head, err := m.HeadID(ctx, layer, id)
					if err != nil {
						t.Fatal(err)
					}
					s := &randomSession{rng: rand.New(rand.NewPCG(uint64(id), uint64(li.Index))), li: li,
						imgW: man.Image.Width, imgH: man.Image.Height, history: [][]inference.Edit{nil}}
					var fr inference.Frame
					var edited inference.Features
					var full inference.Images
					var prev []float32
					regions := 0
					var overall float64
					for i := 0; i < tc.steps; i++ {
						what := "first"
						if i > 0 {
							what = s.step()
						}
						if err := inference.ApplyEdits(&edited, head, s.edits(), levels, inference.PoolMax); err != nil {
							t.Fatal(err)
						}
						st, err := m.Repaint(ctx, &fr, &edited)
						if err != nil {
							t.Fatalf("step %d (%s): %v", i, what, err)
						}
						if err := m.TailInto(ctx, &full, &edited); err != nil {
							t.Fatal(err)
						}
						got := fr.Image()
						var worst float64
						for p, v := range full.Data {
							worst = max(worst, math.Abs(float64(got.Data[p]-v)))
						}
						if !(worst <= repaintTol) {
							t.Fatalf("step %d (%s, %+v): max |repaint − full| = %g > %g", i, what, st, worst, repaintTol)
						}
						if prev != nil {
							if p, ok := outsideDiffers(prev, got, st.Dirty); ok {
								t.Fatalf("step %d (%s): pixel %v changed outside the dirty box %v", i, what, p, st.Dirty)
							}
						}
						overall = max(overall, worst)
						prev = append(prev[:0], got.Data...)
						if st.Region {
							regions++
						}
					}
					if regions == 0 {
						t.Fatalf("no repaint of %d took the region path: the test checked nothing of it", tc.steps)
					}
					t.Logf("%d of %d repaints were region-limited; max |repaint − full| %g", regions, tc.steps, overall)
				})
			}
		}
	}
}

// outsideDiffers finds a pixel outside box where img differs from prev.
func outsideDiffers(prev []float32, img *inference.Images, box image.Rectangle) (image.Point, bool) {
	plane := img.H * img.W
	for c := 0; c < 3; c++ {
		for y := 0; y < img.H; y++ {
			for x := 0; x < img.W; x++ {
				if image.Pt(x, y).In(box) {
					continue
				}
				if p := c*plane + y*img.W + x; math.Float32bits(prev[p]) != math.Float32bits(img.Data[p]) {
					return image.Pt(x, y), true
				}
			}
		}
	}
	return image.Point{}, false
}

func TestRepaintStats(t *testing.T) {
	testenv.RequireRuntime(t)
	ctx := context.Background()
	m, err := inference.LoadDir(scenes128, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	head, err := m.HeadID(ctx, "layer4", 3)
	if err != nil {
		t.Fatal(err)
	}
	var fr inference.Frame
	st, err := m.Repaint(ctx, &fr, head)
	if err != nil {
		t.Fatal(err)
	}
	if st.Region || st.Work != 1 || st.Dirty != image.Rect(0, 0, 128, 128) {
		t.Errorf("first repaint = %+v, want a full run", st)
	}
	if st, err = m.Repaint(ctx, &fr, head); err != nil || st.Region || st.Work != 0 || !st.Dirty.Empty() {
		t.Errorf("repaint without a change = %+v, %v; want nothing done", st, err)
	}
	tests := []struct {
		name    string
		mask    inference.Mask
		region  bool
		changed image.Rectangle
		dirty   image.Rectangle
	}{
		// One 16-px cell of the 8×8 grid: the change spreads 30 px around it
		// (eight 3×3 convolutions, at 16…128 px).
		{"one cell", inference.RectMask(8, 8, 3, 3, 4, 4), true, image.Rect(3, 3, 4, 4), image.Rect(18, 18, 94, 94)},
		{"corner cell", inference.RectMask(8, 8, 0, 0, 1, 1), true, image.Rect(0, 0, 1, 1), image.Rect(0, 0, 46, 46)},
		{"everywhere", inference.FullMask(8, 8), false, image.Rect(0, 0, 8, 8), image.Rect(0, 0, 128, 128)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var edited inference.Features
			if err := inference.ApplyEdits(&edited, head, []inference.Edit{{Units: []int{1, 2, 3}, Mode: inference.ModeRemove, Strength: 1, Mask: tc.mask}}, nil, inference.PoolMax); err != nil {
				t.Fatal(err)
			}
			st, err := m.Repaint(ctx, &fr, &edited)
			if err != nil {
				t.Fatal(err)
			}
			if st.Region != tc.region || st.Changed != tc.changed || st.Dirty != tc.dirty {
				t.Errorf("stats %+v, want region %v, changed %v, dirty %v", st, tc.region, tc.changed, tc.dirty)
			}
			if tc.region && !(st.Work > 0 && st.Work < 1) {
				t.Errorf("work %v, want a share of the full tail", st.Work)
			}
			// Back to the unedited image for the next case.
			if _, err := m.Repaint(ctx, &fr, head); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRepaintFallsBackWithoutLocality(t *testing.T) {
	m := loadPlanted(t, inference.Options{Workers: 1})
	ctx := context.Background()
	head, err := m.HeadID(ctx, "layer2", 7)
	if err != nil {
		t.Fatal(err)
	}
	var fr inference.Frame
	for i, mask := range []inference.Mask{inference.FullMask(8, 8), inference.RectMask(8, 8, 0, 0, 1, 1)} {
		var edited inference.Features
		if err := inference.ApplyEdits(&edited, head, []inference.Edit{{Units: []int{0}, Mode: inference.ModeRemove, Strength: 1, Mask: mask}}, nil, inference.PoolMax); err != nil {
			t.Fatal(err)
		}
		st, err := m.Repaint(ctx, &fr, &edited)
		if err != nil {
			t.Fatal(err)
		}
		if st.Region {
			t.Errorf("repaint %d of a model without declared locality took the region path", i)
		}
		want, err := m.Tail(ctx, &edited)
		if err != nil {
			t.Fatal(err)
		}
		for p, v := range want.Data {
			if fr.Image().Data[p] != v {
				t.Fatalf("repaint %d differs from the tail at %d", i, p)
			}
		}
	}
	var bad inference.Frame
	if _, err := m.Repaint(ctx, &bad, &inference.Features{Layer: head.Layer, N: 2, Data: make([]float32, 2*head.Layer.Size())}); !errors.Is(err, inference.ErrBadShape) {
		t.Errorf("batch of 2: %v, want ErrBadShape", err)
	}
}

// TestLoadChecksLocality damages the declared scale/halo of a model and
// expects the load to fail with a message naming the problem.
func TestLoadChecksLocality(t *testing.T) {
	testenv.RequireRuntime(t)
	ip := func(v int) *int { return &v }
	tests := []struct {
		name   string
		dir    string
		change func(*inference.Manifest)
		want   string
	}{
		{"halo too small", tinyDir, func(m *inference.Manifest) { m.Generator.Blocks[4].Halo = ip(0) }, "halo 0"},
		{"halo too small, same-size block", tinyDir, func(m *inference.Manifest) { m.Generator.Blocks[5].Halo = ip(0) }, "halo 0"},
		{"wrong scale", tinyDir, func(m *inference.Manifest) { m.Generator.Blocks[2].Scale = ip(1) }, "scale 1 does not take"},
		{"scale without halo", tinyDir, func(m *inference.Manifest) { m.Generator.Blocks[2].Halo = nil }, "together"},
		{"first block", tinyDir, func(m *inference.Manifest) { m.Generator.Blocks[0].Scale, m.Generator.Blocks[0].Halo = ip(1), ip(0) }, "takes z"},
		{"negative halo", tinyDir, func(m *inference.Manifest) { m.Generator.Blocks[3].Halo = ip(-1) }, "halo -1"},
		{"fixed-size file", plantedDir, func(m *inference.Manifest) { m.Generator.Blocks[2].Scale, m.Generator.Blocks[2].Halo = ip(2), ip(0) }, "any height and width"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyModel(t, tc.dir)
			raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var man inference.Manifest
			if err := json.Unmarshal(raw, &man); err != nil {
				t.Fatal(err)
			}
			tc.change(&man)
			raw, _ = json.Marshal(man)
			if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := inference.LoadDir(dir, inference.Options{Workers: 1, Logger: quietLogger()})
			if err == nil {
				m.Close()
				t.Fatal("load succeeded")
			}
			if !errors.Is(err, inference.ErrBadModel) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want ErrBadModel mentioning %q", err, tc.want)
			}
		})
	}
}

// RepaintTo keeps the blocks up to a later layer and must give what
// ForwardInto gives, stroke after stroke, with most strokes region-limited.
func TestRepaintToMatchesForward(t *testing.T) {
	testenv.RequireRuntime(t)
	ctx := context.Background()
	m, err := inference.LoadDir(tinyDir, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	man := m.Manifest()
	li, err := m.Layer("layer4")
	if err != nil {
		t.Fatal(err)
	}
	levels, err := m.Levels(ctx, "layer4")
	if err != nil {
		t.Fatal(err)
	}
	head, err := m.HeadID(ctx, "layer4", 2)
	if err != nil {
		t.Fatal(err)
	}
	s := &randomSession{rng: rand.New(rand.NewPCG(5, 6)), li: li, imgW: man.Image.Width, imgH: man.Image.Height,
		history: [][]inference.Edit{nil}}
	var fr inference.Frame
	var edited, want inference.Features
	regions := 0
	for i := 0; i < 40; i++ {
		what := "first"
		if i > 0 {
			what = s.step()
		}
		to := "layer6"
		if i >= 25 {
			to = "layer7" // another end: the frame starts over at step 25
		}
		if err := inference.ApplyEdits(&edited, head, s.edits(), levels, inference.PoolMax); err != nil {
			t.Fatal(err)
		}
		st, err := m.RepaintTo(ctx, &fr, &edited, to)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, what, err)
		}
		if err := m.ForwardInto(ctx, &want, &edited, to); err != nil {
			t.Fatal(err)
		}
		got := fr.Output()
		if got == nil || got.Layer.Name != to || len(got.Data) != len(want.Data) || fr.Image() != nil {
			t.Fatalf("step %d: output %v at the wrong layer, or an image where there is none", i, got)
		}
		for p, v := range want.Data {
			if d := math.Abs(float64(got.Data[p] - v)); !(d <= repaintTol) {
				t.Fatalf("step %d (%s, %+v): |RepaintTo − ForwardInto| = %g at %d", i, what, st, d, p)
			}
		}
		if i == 25 && st.Region {
			t.Fatalf("step %d: a new end layer repainted only a region", i)
		}
		if st.Region {
			regions++
		}
	}
	if regions == 0 {
		t.Fatal("no RepaintTo took the region path: the test checked nothing of it")
	}
	if _, err := m.RepaintTo(ctx, &fr, &edited, "layer3"); err == nil {
		t.Error("RepaintTo an earlier layer accepted")
	}
	if _, err := m.RepaintTo(ctx, &fr, &edited, "layer99"); err == nil {
		t.Error("RepaintTo an unknown layer accepted")
	}
}
