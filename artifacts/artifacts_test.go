package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// Planted colours as bytes, label order: background, sky, tree, door, grass
// (inference/testdata/planted/README.md). Unit k < 4 of layer2 draws class
// k+1; units 4–7 draw nothing.
var plantedColors = [][3]float64{{0x80, 0x80, 0x80}, {0x87, 0xce, 0xeb}, {0x22, 0x8b, 0x22}, {0x8b, 0x45, 0x13}, {0x7c, 0xfc, 0x00}}

func colourMean(c [3]float64) float64 { return ((c[0]+c[1]+c[2])/3)/255*2 - 1 }

func loadPlanted(t *testing.T) *inference.Model {
	t.Helper()
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(testenv.PlantedModel(), inference.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func plantedReference(t *testing.T, m *inference.Model) *fid.Stats {
	t.Helper()
	ids, _ := dissection.SampleIDs(99, 40, m.Manifest().Z.MaxID)
	zs, _ := m.ZBatch(ids)
	img, _, err := m.Generate(context.Background(), zs, len(ids), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, f, err := m.SegmentFeatures(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fid.Compute(f, m.FeatureDim())
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

// The planted discriminator is the mean pixel value, so ablating unit k
// changes it by −share(class k+1)·(mean colour of k+1 − mean of the
// background): dark tree and door units rank first, sky last, and the
// nuisance units 4–7 change nothing at all.
func TestRankPlanted(t *testing.T) {
	m := loadPlanted(t)
	cfg := Config{Layer: "layer2", Samples: 12, Holdout: 10, Ks: []int{1, 2, 50}, RepairK: 2, Batch: 5,
		Reference: plantedReference(t, m)}
	r, err := Rank(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if !r.Discriminator || !r.FIDMeasured || r.Samples != 12 || r.Holdout != 10 || r.Seed != 3 || len(r.Units) != 8 {
		t.Fatalf("result %+v", r)
	}
	// The expected change from the segmentation of the same images.
	ids, _ := dissection.SampleIDs(3, 12, m.Manifest().Z.MaxID)
	zs, _ := m.ZBatch(ids)
	img, _, err := m.Generate(context.Background(), zs, len(ids), nil)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := m.Segment(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	plane := img.H * img.W
	for u := 0; u < 8; u++ {
		want := 0.0
		if u < 4 {
			count := 0
			for _, l := range labels {
				if int(l) == u+1 {
					count++
				}
			}
			share := float64(count) / float64(len(ids)*plane)
			want = share * (colourMean(plantedColors[0]) - colourMean(plantedColors[u+1]))
		}
		if got := r.Units[u].DiscDelta; math.Abs(got-want) > 1e-4 {
			t.Errorf("unit %d: discriminator change %.6f, want %.6f", u, got, want)
		}
		if u >= 4 && (r.Units[u].DiscDelta != 0 || r.Units[u].FIDDelta != 0) {
			t.Errorf("nuisance unit %d changed realism: %+v", u, r.Units[u])
		}
	}
	rk := r.Rankings[ByDiscriminator]
	if !((rk[0] == 1 && rk[1] == 2) || (rk[0] == 2 && rk[1] == 1)) || rk[7] != 0 {
		t.Errorf("discriminator ranking %v, want tree and door first and sky last", rk)
	}
	if len(r.Rankings[ByFID]) != 8 {
		t.Errorf("fid ranking %v", r.Rankings[ByFID])
	}
	fk := r.Rankings[ByFID]
	if top := r.Top(); r.RepairRanking != ByFID || len(top) != 2 || top[0] != fk[0] || top[1] != fk[1] {
		t.Errorf("Top() = %v by %q, want the first 2 of the fid ranking %v", top, r.RepairRanking, fk)
	}
	cfg.RepairRanking = ByDiscriminator
	cfg.Samples, cfg.Holdout = 3, 3
	byDisc, err := Rank(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if top := byDisc.Top(); top[0] != byDisc.Rankings[ByDiscriminator][0] {
		t.Errorf("Top() by discriminator = %v", top)
	}
	// Repair rows: both rankings, k clamped to the 8 units and the toggle's k included.
	if len(r.Repair) != 2*3 {
		t.Fatalf("%d repair rows: %+v", len(r.Repair), r.Repair)
	}
	for _, rp := range r.Repair {
		if rp.Before != r.Repair[0].Before {
			t.Errorf("repair rows disagree on the unedited held-out images")
		}
		if rp.K == 8 && rp.After.Disc == rp.Before.Disc {
			t.Errorf("ablating every unit changed nothing: %+v", rp)
		}
	}
	var out bytes.Buffer
	r.WriteSummary(&out, 3)
	for _, want := range []string{"planted layer2: 8 units ablated one at a time on 12 images", "top units by discriminator", "top units by fid", "| discriminator | 2 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	sheet, err := Sheet(context.Background(), m, r, ids[:2], 3)
	if err != nil {
		t.Fatal(err)
	}
	if b := sheet.Bounds(); b.Dx() != 2*(64+4)-4 || b.Dy() != 4*(32+4)-4 {
		t.Errorf("sheet %v, want 2 pairs by 3 units + repair", b)
	}
}

// Without a reference, the discriminator alone ranks; the file stays valid.
func TestRankDiscriminatorOnly(t *testing.T) {
	m := loadPlanted(t)
	r, err := Rank(context.Background(), m, Config{Layer: "layer2", Samples: 4, Holdout: 4, Ks: []int{1}, RepairK: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.FIDMeasured || r.Rankings[ByFID] != nil || r.Baseline.FID != 0 || r.RepairRanking != ByDiscriminator {
		t.Errorf("FID reported without a reference: %+v", r)
	}
	dir := t.TempDir()
	if err := Save(dir, r); err != nil {
		t.Fatal(err)
	}
	back, err := Load(os.DirFS(dir), "layer2")
	if err != nil {
		t.Fatal(err)
	}
	if back.Rankings[ByDiscriminator][0] != r.Rankings[ByDiscriminator][0] || len(back.Units) != 8 {
		t.Errorf("round trip %+v", back)
	}
	if _, err := Load(os.DirFS(dir), "layer3"); !errors.Is(err, ErrNoRanking) {
		t.Errorf("missing layer: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, dissection.Dir))
	if len(entries) != 1 {
		t.Errorf("%d files in the dissection folder, want only the ranking", len(entries))
	}
}

func TestRankRejects(t *testing.T) {
	m := loadPlanted(t)
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"unknown layer": {Layer: "layer9"},
		"one sample":    {Layer: "layer2", Samples: 1},
		"bad k":         {Layer: "layer2", Ks: []int{0}},
		"bad batch":     {Layer: "layer2", Batch: -1},
		"reference size": {Layer: "layer2", Samples: 2, Holdout: 2,
			Reference: &fid.Stats{N: 2, Mean: []float64{0}, Cov: []float64{1}}},
		"unmeasured repair ranking": {Layer: "layer2", Samples: 2, Holdout: 2, RepairRanking: ByFID},
		"unknown repair ranking":    {Layer: "layer2", Samples: 2, Holdout: 2, RepairRanking: "vibes"},
	} {
		if _, err := Rank(ctx, m, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// No discriminator and no reference: nothing measures realism.
	dir := testenv.CopyDir(t, testenv.PlantedModel())
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	var man map[string]any
	_ = json.Unmarshal(raw, &man)
	delete(man, "discriminator")
	raw, _ = json.Marshal(man)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	nod, err := inference.LoadDir(dir, inference.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer nod.Close()
	if _, err := Rank(ctx, nod, Config{Layer: "layer2", Samples: 2, Holdout: 2}); !errors.Is(err, ErrNothingToMeasure) {
		t.Errorf("no measure: %v", err)
	}
}

func validFile() *Result {
	r := &Result{SchemaVersion: 1, Model: "m", Layer: "layer4", Samples: 4, Holdout: 4, Seed: 3, Discriminator: true,
		RepairK: 2, RepairRanking: ByDiscriminator, Rankings: map[string][]int{ByDiscriminator: {2, 0, 1}},
		Units:  []UnitScore{{Unit: 0, DiscDelta: 0.1}, {Unit: 1}, {Unit: 2, DiscDelta: 0.3}},
		Repair: []RepairScore{{Ranking: ByDiscriminator, K: 2, Units: []int{2, 0}}}}
	return r
}

func TestParseRejects(t *testing.T) {
	good, _ := json.Marshal(validFile())
	if _, err := Parse(good); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	mutate := map[string]func(r *Result){
		"schema":             func(r *Result) { r.SchemaVersion = 2 },
		"layer path":         func(r *Result) { r.Layer = "../x" },
		"no units":           func(r *Result) { r.Units = nil },
		"unit order":         func(r *Result) { r.Units[1].Unit = 5 },
		"nothing measured":   func(r *Result) { r.Discriminator = false },
		"ranking missing":    func(r *Result) { delete(r.Rankings, ByDiscriminator) },
		"ranking unmeasure":  func(r *Result) { r.Rankings[ByFID] = []int{0, 1, 2} },
		"ranking short":      func(r *Result) { r.Rankings[ByDiscriminator] = []int{2, 0} },
		"ranking repeats":    func(r *Result) { r.Rankings[ByDiscriminator] = []int{2, 2, 1} },
		"ranking range":      func(r *Result) { r.Rankings[ByDiscriminator] = []int{2, 0, 7} },
		"unknown ranking":    func(r *Result) { r.Rankings["vibes"] = []int{0, 1, 2} },
		"repair k":           func(r *Result) { r.RepairK = 4 },
		"repair ranking set": func(r *Result) { r.RepairRanking = ByFID },
		"repair row k":       func(r *Result) { r.Repair[0].K = 3 },
		"repair ranking":     func(r *Result) { r.Repair[0].Ranking = ByFID },
	}
	for name, f := range mutate {
		r := validFile()
		f(r)
		data, _ := json.Marshal(r)
		if _, err := Parse(data); !errors.Is(err, ErrBadFile) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	for name, data := range map[string]string{
		"not json": "{", "trailing": string(good) + "{}", "nan": strings.Replace(string(good), `"disc_delta":0.1`, `"disc_delta":1e999`, 1),
	} {
		if _, err := Parse([]byte(data)); !errors.Is(err, ErrBadFile) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	fsys := fstest.MapFS{"dissection/artifacts-layer6.json": {Data: good}}
	if _, err := Load(fsys, "layer6"); !errors.Is(err, ErrBadFile) {
		t.Errorf("file of another layer: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := json.Marshal(validFile())
	f.Add(good)
	f.Add([]byte(`{"schema_version":1,"layer":"l","units":[{"unit":0}],"discriminator":true,"rankings":{"discriminator":[0]},"repair_k":1,"repair_ranking":"discriminator"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if top := r.Top(); len(top) != r.RepairK {
			t.Fatalf("Top() = %v for repair_k %d", top, r.RepairK)
		}
	})
}
