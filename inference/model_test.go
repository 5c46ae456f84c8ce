package inference_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// plantedLevels are the A_k of the planted model's concept units (see testdata/planted/README.md).
var plantedLevels = []float32{1, 1.5, 2, 2.5}

// plantedColors are the class colours as bytes, label order.
var plantedColors = [][3]uint8{{0x80, 0x80, 0x80}, {0x87, 0xce, 0xeb}, {0x22, 0x8b, 0x22}, {0x8b, 0x45, 0x13}, {0x7c, 0xfc, 0x00}}

func headOf(t *testing.T, m *inference.Model, layer string, id int64) *inference.Features {
	t.Helper()
	z, err := m.Z(id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Head(context.Background(), layer, z, 1)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// winner returns the planted concept unit that is on at layer2 cell (cy, cx).
func winner(t *testing.T, f2 *inference.Features, cy, cx int) int {
	t.Helper()
	on := -1
	for k := 0; k < 4; k++ {
		v := f2.Data[k*64+cy*8+cx]
		switch v {
		case 0:
		case plantedLevels[k]:
			if on >= 0 {
				t.Fatalf("cell (%d,%d): units %d and %d both on", cy, cx, on, k)
			}
			on = k
		default:
			t.Fatalf("cell (%d,%d) unit %d = %v, want 0 or %v", cy, cx, k, v, plantedLevels[k])
		}
	}
	if on < 0 {
		t.Fatalf("cell (%d,%d): no concept unit on", cy, cx)
	}
	return on
}

func TestPlantedStructure(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx := context.Background()
	for _, id := range []int64{0, 7, 99999} {
		f2 := headOf(t, m, "layer2", id)
		img, err := m.Tail(ctx, f2)
		if err != nil {
			t.Fatal(err)
		}
		rgba := img.RGBA(0, m.ImageRange())
		labels, err := m.Segment(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				k := winner(t, f2, y/4, x/4)
				px := rgba.RGBAAt(x, y)
				if want := plantedColors[k+1]; px.R != want[0] || px.G != want[1] || px.B != want[2] || px.A != 255 {
					t.Fatalf("id %d pixel (%d,%d) = %v, want colour of class %d %v", id, x, y, px, k+1, want)
				}
				if labels[y*32+x] != uint8(k+1) {
					t.Fatalf("id %d pixel (%d,%d) label %d, want %d", id, x, y, labels[y*32+x], k+1)
				}
			}
		}
	}
}

// The acceptance test: removing a planted unit changes exactly its
// pixels, and undoing (an empty edit list) restores the image bit for bit.
func TestRemovePlantedUnitChangesExactlyItsPixels(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx := context.Background()
	for _, layer := range []string{"layer2", "layer3"} {
		for unit := 0; unit < 4; unit++ {
			t.Run(layer+"/unit"+string(rune('0'+unit)), func(t *testing.T) {
				f2 := headOf(t, m, "layer2", 7)
				feat := headOf(t, m, layer, 7)
				base, err := m.Tail(ctx, feat)
				if err != nil {
					t.Fatal(err)
				}
				var edited inference.Features
				edit := inference.Edit{Units: []int{unit}, Mode: inference.ModeRemove, Strength: 1, Mask: inference.FullMask(32, 32)}
				if err := inference.ApplyEdits(&edited, feat, []inference.Edit{edit}, nil, inference.PoolMax); err != nil {
					t.Fatal(err)
				}
				after, err := m.Tail(ctx, &edited)
				if err != nil {
					t.Fatal(err)
				}
				bg := [3]float32{}
				changed := 0
				for c := 0; c < 3; c++ {
					bg[c] = float32(plantedColors[0][c])/255*2 - 1
				}
				for y := 0; y < 32; y++ {
					for x := 0; x < 32; x++ {
						owned := winner(t, f2, y/4, x/4) == unit
						for c := 0; c < 3; c++ {
							i := c*1024 + y*32 + x
							if owned {
								if math.Abs(float64(after.Data[i]-bg[c])) > 1e-6 {
									t.Fatalf("pixel (%d,%d) ch %d = %v, want background %v", x, y, c, after.Data[i], bg[c])
								}
								if c == 0 {
									changed++
								}
							} else if math.Float32bits(after.Data[i]) != math.Float32bits(base.Data[i]) {
								t.Fatalf("pixel (%d,%d) ch %d changed from %v to %v but unit %d is not there", x, y, c, base.Data[i], after.Data[i], unit)
							}
						}
					}
				}
				t.Logf("unit %d owned %d pixels", unit, changed)
				if err := inference.ApplyEdits(&edited, feat, nil, nil, inference.PoolMax); err != nil {
					t.Fatal(err)
				}
				undone, err := m.Tail(ctx, &edited)
				if err != nil {
					t.Fatal(err)
				}
				if i := sameBits(undone.Data, base.Data); i != -1 {
					t.Fatalf("undo differs from the original at %d", i)
				}
			})
		}
	}
}

func TestNuisanceUnitsAndAddWherePresent(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx := context.Background()
	feat := headOf(t, m, "layer2", 3)
	base, err := m.Tail(ctx, feat)
	if err != nil {
		t.Fatal(err)
	}
	levels, err := m.Levels(context.Background(), "layer2")
	if err != nil {
		t.Fatal(err)
	}
	// Removing units that to_rgb ignores, and adding unit k only inside the
	// cells where it is already on at its level, must not change a bit.
	k := winner(t, feat, 0, 0)
	mask := inference.Mask{Width: 8, Height: 8, Alpha: make([]float32, 64)}
	for p := 0; p < 64; p++ {
		if feat.Data[k*64+p] != 0 {
			mask.Alpha[p] = 1
		}
	}
	edits := []inference.Edit{
		{Units: []int{4, 5, 6, 7}, Mode: inference.ModeRemove, Strength: 1, Mask: inference.FullMask(32, 32)},
		{Units: []int{k}, Mode: inference.ModeAdd, Strength: 1, Mask: mask},
	}
	var edited inference.Features
	if err := inference.ApplyEdits(&edited, feat, edits, levels, inference.PoolMax); err != nil {
		t.Fatal(err)
	}
	after, err := m.Tail(ctx, &edited)
	if err != nil {
		t.Fatal(err)
	}
	if i := sameBits(after.Data, base.Data); i != -1 {
		t.Fatalf("image changed at %d", i)
	}
	// Adding unit k in a cell where another unit is on blends its colour in:
	// the pixel moves away from the original colour.
	other := -1
	for p := 0; p < 64 && other < 0; p++ {
		if feat.Data[k*64+p] == 0 {
			other = p
		}
	}
	if other < 0 {
		t.Skip("unit owns every cell")
	}
	cy, cx := other/8, other%8
	add := []inference.Edit{{Units: []int{k}, Mode: inference.ModeAdd, Strength: 1, Mask: inference.RectMask(32, 32, cx*4, cy*4, cx*4+4, cy*4+4)}}
	if err := inference.ApplyEdits(&edited, feat, add, levels, inference.PoolMax); err != nil {
		t.Fatal(err)
	}
	after, err = m.Tail(ctx, &edited)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			i := y*32 + x
			in := y/4 == cy && x/4 == cx
			if diff := after.Data[i] != base.Data[i] || after.Data[1024+i] != base.Data[1024+i] || after.Data[2048+i] != base.Data[2048+i]; diff != in {
				t.Fatalf("pixel (%d,%d): changed=%v, inside painted cell=%v", x, y, diff, in)
			}
		}
	}
}

func TestLevelsFallbackAndSet(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	got, err := m.Levels(context.Background(), "layer2")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range plantedLevels {
		if got[k] != want {
			t.Errorf("fallback level of unit %d = %v, want %v", k, got[k], want)
		}
	}
	// Units 4..7 are continuous: their level is the 0.99 quantile of the raw values.
	var vals []float32
	for id := int64(0); id < 16; id++ {
		f := headOf(t, m, "layer2", id)
		vals = append(vals, f.Data[4*64:5*64]...)
	}
	if want := inference.Quantile(vals, 0.99); got[4] != want {
		t.Errorf("fallback level of unit 4 = %v, want %v", got[4], want)
	}
	got[0] = 99 // the caller's copy must not leak into the model
	again, _ := m.Levels(context.Background(), "layer2")
	if again[0] != 1 {
		t.Fatal("Levels returned the cached slice")
	}
	set := []float32{8, 7, 6, 5, 4, 3, 2, 1}
	if err := m.SetLevels("layer2", set); err != nil {
		t.Fatal(err)
	}
	if again, _ = m.Levels(context.Background(), "layer2"); sameBits(again, set) != -1 {
		t.Fatalf("after SetLevels got %v", again)
	}
	for _, bad := range [][]float32{nil, {1, 2}, {1, 2, 3, 4, 5, 6, 7, float32(math.Inf(-1))}} {
		if err := m.SetLevels("layer2", bad); !errors.Is(err, inference.ErrBadLevels) {
			t.Errorf("SetLevels(%v) error = %v", bad, err)
		}
	}
	if err := m.SetLevels("nope", set); !errors.Is(err, inference.ErrUnknownLayer) {
		t.Errorf("SetLevels unknown layer error = %v", err)
	}
	if _, err := m.Levels(context.Background(), "nope"); !errors.Is(err, inference.ErrUnknownLayer) {
		t.Errorf("Levels unknown layer error = %v", err)
	}
}

// The fallback runs the generator outside the levels lock: a cancelled
// caller gets its context's error and leaves nothing cached, and callers
// racing for the same layer all get the one computed answer.
func TestLevelsFallbackCancelAndShare(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Levels(ctx, "layer2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Levels: %v, want context.Canceled", err)
	}
	const callers = 6
	got := make([][]float32, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = m.Levels(context.Background(), "layer2")
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		for k, want := range plantedLevels {
			if got[i][k] != want {
				t.Errorf("caller %d: level of unit %d = %v, want %v", i, k, got[i][k], want)
			}
		}
	}
}

// Generate, Head+Tail from every layer and batched calls must all agree.
func TestGenerateAgreesWithHeadTail(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx := context.Background()
	ids := []int64{0, 5, 11}
	zs, err := m.ZBatch(ids)
	if err != nil {
		t.Fatal(err)
	}
	img, feats, err := m.Generate(ctx, zs, len(ids), []string{"layer1", "layer3", "layer1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(feats) != 2 {
		t.Fatalf("got %d captured layers, want 2", len(feats))
	}
	for _, li := range m.Layers() {
		f, err := m.Head(ctx, li.Name, zs, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := feats[li.Name]; ok && sameBits(c.Data, f.Data) != -1 {
			t.Fatalf("Generate's %s differs from Head", li.Name)
		}
		tail, err := m.Tail(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if i := sameBits(tail.Data, img.Data); i != -1 {
			t.Fatalf("Tail from %s differs from Generate at %d", li.Name, i)
		}
	}
	// Image 1 of the batch equals the same id generated alone.
	single, err := m.HeadID(ctx, "layer3", 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.HeadID(ctx, "layer3", -1); !errors.Is(err, inference.ErrIDOutOfRange) {
		t.Fatalf("HeadID(-1) error = %v", err)
	}
	one, err := m.Tail(ctx, single)
	if err != nil {
		t.Fatal(err)
	}
	if i := sameBits(one.Data, img.Data[3*1024:6*1024]); i != -1 {
		t.Fatalf("batched image differs from single at %d", i)
	}
	scores, err := m.Discriminate(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	for n := range ids {
		var sum float64
		for _, v := range img.Data[n*3072 : (n+1)*3072] {
			sum += float64(v)
		}
		if math.Abs(sum/3072-float64(scores[n])) > 1e-5 {
			t.Errorf("discriminator score %d = %v, want mean %v", n, scores[n], sum/3072)
		}
	}
}

func TestModelRejectsBadCalls(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx := context.Background()
	z, _ := m.Z(1)
	f := headOf(t, m, "layer2", 1)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"head unknown layer", func() error { _, err := m.Head(ctx, "layer9", z, 1); return err }, inference.ErrUnknownLayer},
		{"head short z", func() error { _, err := m.Head(ctx, "layer2", z[:7], 1); return err }, inference.ErrBadShape},
		{"head z for two", func() error { _, err := m.Head(ctx, "layer2", z, 2); return err }, inference.ErrBadShape},
		{"head zero batch", func() error { _, err := m.Head(ctx, "layer2", nil, 0); return err }, inference.ErrBadShape},
		{"head huge batch", func() error { _, err := m.Head(ctx, "layer2", nil, inference.MaxBatch+1); return err }, inference.ErrBadShape},
		{"tail nil", func() error { _, err := m.Tail(ctx, nil); return err }, inference.ErrBadShape},
		{"tail unknown layer", func() error {
			g := *f
			g.Layer.Name = "mystery"
			_, err := m.Tail(ctx, &g)
			return err
		}, inference.ErrUnknownLayer},
		{"tail wrong channels", func() error {
			g := *f
			g.Layer.Channels = 4
			g.Data = g.Data[:256]
			_, err := m.Tail(ctx, &g)
			return err
		}, inference.ErrBadShape},
		{"tail short data", func() error {
			g := *f
			g.Data = g.Data[:100]
			_, err := m.Tail(ctx, &g)
			return err
		}, inference.ErrBadShape},
		{"generate unknown layer", func() error { _, _, err := m.Generate(ctx, z, 1, []string{"x"}); return err }, inference.ErrUnknownLayer},
		{"generate short z", func() error { _, _, err := m.Generate(ctx, z[:3], 1, nil); return err }, inference.ErrBadShape},
		{"segment bad images", func() error {
			_, err := m.Segment(ctx, &inference.Images{N: 1, H: 4, W: 4, Data: make([]float32, 3)})
			return err
		}, inference.ErrBadShape},
		{"discriminate wrong size", func() error {
			_, err := m.Discriminate(ctx, &inference.Images{N: 1, H: 4, W: 4, Data: make([]float32, 48)})
			return err
		}, inference.ErrBadShape},
		{"id out of range", func() error { _, err := m.Z(100000); return err }, inference.ErrIDOutOfRange},
		{"negative id", func() error { _, err := m.Z(-3); return err }, inference.ErrIDOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Head(canceled, "layer2", z, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context error = %v", err)
	}
}

func TestSegmentAtOtherResolutionAndRange(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := copyPlanted(t)
	// Declare a [0, 2] image range and [-1, 1] segmenter range: Segment must
	// map values, so an image of "sky + 1" still reads as sky.
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	raw = []byte(strings.Replace(string(raw), `"range": [
      -1,
      1
    ]`, `"range": [0, 2]`, 1))
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := inference.LoadDir(dir, inference.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.ImageRange() != [2]float32{0, 2} {
		t.Fatalf("manifest edit did not apply: %v", m.ImageRange())
	}
	img := &inference.Images{N: 1, H: 3, W: 5, Data: make([]float32, 45)}
	for p := 0; p < 15; p++ {
		cls := p % 5
		for c := 0; c < 3; c++ {
			img.Data[c*15+p] = float32(plantedColors[cls][c])/255*2 - 1 + 1
		}
	}
	labels, err := m.Segment(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	for p, l := range labels {
		if int(l) != p%5 {
			t.Fatalf("pixel %d label %d, want %d", p, l, p%5)
		}
	}
}

func TestLoadRejectsBadModels(t *testing.T) {
	testenv.RequireRuntime(t)
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"missing manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "manifest.json")) }, "manifest.json"},
		{"corrupt manifest", func(t *testing.T, dir string) { writeFile(t, dir, "manifest.json", []byte("{")) }, "manifest"},
		{"missing block", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "generator/layer2.onnx")) }, "layer2"},
		{"corrupt onnx", func(t *testing.T, dir string) {
			writeFile(t, dir, "generator/layer3.onnx", []byte("this is not a protobuf at all"))
		}, "layer3"},
		{"truncated onnx", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "generator/layer1.onnx"))
			writeFile(t, dir, "generator/layer1.onnx", data[:len(data)/2])
		}, "layer1"},
		{"block shape mismatch", func(t *testing.T, dir string) { replaceInManifest(t, dir, `"channels": 8,`, `"channels": 9,`) }, "shape"},
		{"wrong file for block", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "generator/layer3.onnx"))
			writeFile(t, dir, "generator/layer2.onnx", data)
		}, "layer2"},
		{"segmenter class count mismatch", func(t *testing.T, dir string) {
			replaceInManifest(t, dir, `{
        "name": "grass",
        "color": "#7cfc00"
      }`, `{"name": "grass", "color": "#7cfc00"}, {"name": "extra", "color": "#000000"}`)
		}, "segmenter"},
		{"discriminator corrupt", func(t *testing.T, dir string) { writeFile(t, dir, "discriminator.onnx", []byte{0x08}) }, "discriminator"},
		{"inpainter is not one", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "discriminator.onnx"))
			writeFile(t, dir, "inpainter.onnx", data)
		}, "inpainter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyPlanted(t)
			tt.damage(t, dir)
			m, err := inference.LoadDir(dir, inference.Options{Logger: quietLogger()})
			if err == nil {
				m.Close()
				t.Fatal("damaged model loaded")
			}
			if !errors.Is(err, inference.ErrBadModel) {
				t.Fatalf("error = %v, want ErrBadModel", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	if _, err := inference.LoadDir(filepath.Join(t.TempDir(), "absent"), inference.Options{}); !errors.Is(err, inference.ErrBadModel) {
		t.Errorf("absent dir error = %v", err)
	}
	if _, err := inference.LoadDir(plantedDir, inference.Options{Workers: -1}); err == nil {
		t.Error("negative Workers accepted")
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceInManifest(t *testing.T, dir, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), old) {
		t.Fatalf("manifest does not contain %q", old)
	}
	writeFile(t, dir, "manifest.json", []byte(strings.Replace(string(raw), old, new, 1)))
}

func TestBusyAndClose(t *testing.T) {
	m := loadPlanted(t, inference.Options{Workers: 1, QueueLimit: -1})
	ctx := context.Background()
	z, _ := m.Z(0)
	release, err := m.HoldWorker(ctx, false) // occupy the only worker
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Head(ctx, "layer1", z, 1); !errors.Is(err, inference.ErrBusy) {
		t.Fatalf("error with every worker busy and no queue = %v, want ErrBusy", err)
	}
	release()
	if _, err := m.Head(ctx, "layer1", z, 1); err != nil {
		t.Fatalf("after release: %v", err)
	}
	m.Close()
	m.Close()
	if _, err := m.Head(ctx, "layer1", z, 1); !errors.Is(err, inference.ErrClosed) {
		t.Fatalf("after Close error = %v, want ErrClosed", err)
	}
}

func TestQueueWaitsThenServes(t *testing.T) {
	m := loadPlanted(t, inference.Options{Workers: 1, QueueLimit: 1})
	ctx := context.Background()
	z, _ := m.Z(0)
	release, err := m.HoldWorker(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := m.Head(ctx, "layer1", z, 1)
		waiting <- err
	}()
	// Wait until the goroutine holds the only queue slot, then a third call must fail fast.
	for m.Waiting() == 0 {
		select {
		case err := <-waiting:
			t.Fatalf("queued call returned early: %v", err)
		default:
		}
	}
	if _, err := m.Head(ctx, "layer1", z, 1); !errors.Is(err, inference.ErrBusy) {
		t.Fatalf("third call error = %v, want ErrBusy", err)
	}
	release()
	if err := <-waiting; err != nil {
		t.Fatalf("queued call: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := loadPlanted(t, inference.Options{Workers: 2, QueueLimit: 64})
	ctx := context.Background()
	want := map[int64][]float32{}
	for id := int64(0); id < 4; id++ {
		img, err := m.Tail(ctx, headOf(t, m, "layer2", id))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = img.Data
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var f inference.Features
			var img inference.Images
			for r := 0; r < 20; r++ {
				id := int64((g + r) % 4)
				z, _ := m.Z(id)
				if err := m.HeadInto(ctx, &f, "layer2", z, 1); err != nil {
					errs <- err
					return
				}
				if err := m.TailInto(ctx, &img, &f); err != nil {
					errs <- err
					return
				}
				if sameBits(img.Data, want[id]) != -1 {
					errs <- errors.New("concurrent result differs")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestNoSegmenterOrDiscriminator(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := copyPlanted(t)
	man := plantedManifest(t)
	man.Segmenter, man.Discriminator = nil, nil
	raw, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "manifest.json", raw)
	os.Remove(filepath.Join(dir, "segmenter.onnx"))
	m, err := inference.LoadDir(dir, inference.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img, err := m.Tail(context.Background(), headOf(t, m, "layer1", 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Segment(context.Background(), img); !errors.Is(err, inference.ErrNoSegmenter) {
		t.Errorf("Segment error = %v", err)
	}
	if _, err := m.Classes(); !errors.Is(err, inference.ErrNoSegmenter) {
		t.Errorf("Classes error = %v", err)
	}
	if _, err := m.Discriminate(context.Background(), img); !errors.Is(err, inference.ErrNoDiscriminator) {
		t.Errorf("Discriminate error = %v", err)
	}
}

// Load must work from any fs.FS (the default model is embedded in the binary).
func TestLoadFromMapFS(t *testing.T) {
	testenv.RequireRuntime(t)
	mem := fstest.MapFS{}
	err := filepath.WalkDir(plantedDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(plantedDir, path)
		mem["models/planted/"+filepath.ToSlash(rel)] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(mem, "models/planted")
	if err != nil {
		t.Fatal(err)
	}
	m, err := inference.Load(sub, inference.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fromDisk := loadPlanted(t, inference.Options{})
	a, err := m.Tail(context.Background(), headOf(t, m, "layer2", 4))
	if err != nil {
		t.Fatal(err)
	}
	b, err := fromDisk.Tail(context.Background(), headOf(t, fromDisk, "layer2", 4))
	if err != nil {
		t.Fatal(err)
	}
	if i := sameBits(a.Data, b.Data); i != -1 {
		t.Fatalf("embedded and on-disk models differ at %d", i)
	}
	if _, err := inference.Load(fstest.MapFS{}, inference.Options{Logger: quietLogger()}); !errors.Is(err, inference.ErrBadModel) {
		t.Fatalf("empty fs: error = %v, want ErrBadModel", err)
	}
}

func TestSegmentFeatures(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	if m.FeatureDim() != 3 {
		t.Fatalf("FeatureDim = %d, want 3 (the planted segmenter's features are the mean colour)", m.FeatureDim())
	}
	ctx := context.Background()
	zs, err := m.ZBatch([]int64{3, 8})
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := m.Generate(ctx, zs, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	labels, feats, err := m.SegmentFeatures(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.Segment(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if string(labels) != string(plain) {
		t.Error("SegmentFeatures labels differ from Segment's")
	}
	if len(feats) != 2*3 {
		t.Fatalf("%d feature values, want 6", len(feats))
	}
	plane := img.H * img.W
	for n := 0; n < 2; n++ {
		for c := 0; c < 3; c++ {
			var mean float64
			for _, v := range img.Data[(n*3+c)*plane : (n*3+c+1)*plane] {
				mean += float64(v)
			}
			mean /= float64(plane)
			if got := float64(feats[n*3+c]); math.Abs(got-mean) > 1e-5 {
				t.Errorf("image %d channel %d: feature %v, want the mean colour %v", n, c, got, mean)
			}
		}
	}
	// A segmenter without the output: the error names it.
	noFeat := m.Bare("segmenter.onnx")
	if _, _, err := noFeat.SegmentFeatures(ctx, img); !errors.Is(err, inference.ErrNoFeatures) {
		t.Errorf("SegmentFeatures without the output: error = %v, want ErrNoFeatures", err)
	}
}

func TestInpaint(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	if !m.HasInpainter() {
		t.Fatal("planted model has no inpainter")
	}
	ctx := context.Background()
	img, err := m.Tail(ctx, headOf(t, m, "layer1", 5))
	if err != nil {
		t.Fatal(err)
	}
	plane := img.H * img.W
	mask := make([]float32, plane)
	for y := 8; y < 20; y++ {
		for x := 4; x < 30; x++ {
			mask[y*img.W+x] = 1
		}
	}
	mask[0] = 0.5
	got, err := m.Inpaint(ctx, img, mask)
	if err != nil {
		t.Fatal(err)
	}
	// The planted inpainter returns its input's RGB times (1 − hole); the input
	// is the image times (1 − mask). Known pixels are kept exactly, the hole
	// becomes 0, and a half-masked pixel blends the two halves.
	for c := 0; c < 3; c++ {
		for p := 0; p < plane; p++ {
			v, orig, a := got.Data[c*plane+p], img.Data[c*plane+p], mask[p]
			want := orig*(1-a) + orig*(1-a)*(1-a)*a
			if math.Abs(float64(v-want)) > 1e-6 {
				t.Fatalf("channel %d pixel %d = %v, want %v", c, p, v, want)
			}
		}
	}
	bad := []struct {
		name string
		imgs *inference.Images
		mask []float32
		want error
	}{
		{"short mask", img, mask[:10], inference.ErrBadShape},
		{"mask NaN", img, append([]float32{float32(math.NaN())}, mask[1:]...), inference.ErrBadMask},
		{"mask above 1", img, append([]float32{2}, mask[1:]...), inference.ErrBadMask},
		{"wrong size", &inference.Images{N: 1, H: 4, W: 4, Data: make([]float32, 48)}, make([]float32, 16), inference.ErrBadShape},
		{"nil images", nil, mask, inference.ErrBadShape},
	}
	for _, b := range bad {
		if _, err := m.Inpaint(ctx, b.imgs, b.mask); !errors.Is(err, b.want) {
			t.Errorf("%s: error = %v, want %v", b.name, err, b.want)
		}
	}
	none := m.Bare("")
	if _, err := none.Inpaint(ctx, img, mask); !errors.Is(err, inference.ErrNoInpainter) || none.HasInpainter() {
		t.Errorf("model without inpainter: error = %v", err)
	}
}

// Close waits for a running request only up to CloseTimeout, and the
// request's sessions are still freed when it ends.
func TestCloseDeadline(t *testing.T) {
	m := loadPlanted(t, inference.Options{Workers: 1, CloseTimeout: 20 * time.Millisecond})
	release, err := m.HoldWorker(context.Background(), true) // a request that does not end
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); !errors.Is(err, inference.ErrCloseTimeout) {
		t.Fatalf("Close with a running request: %v, want ErrCloseTimeout", err)
	}
	if _, err := m.Z(1); err != nil {
		t.Fatalf("Z needs no worker: %v", err)
	}
	if _, err := m.Head(context.Background(), "layer2", make([]float32, m.Manifest().Z.Size), 1); !errors.Is(err, inference.ErrClosed) {
		t.Errorf("Head after Close: %v, want ErrClosed", err)
	}
	release()
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseIdle(t *testing.T) {
	m := loadPlanted(t, inference.Options{Workers: 2})
	if err := m.Close(); err != nil {
		t.Fatalf("Close of an idle model: %v", err)
	}
}
