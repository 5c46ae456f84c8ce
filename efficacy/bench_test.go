package efficacy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"

	"github.com/ganpaint-go/ganpaint/internal/splitmix"
)

func TestHeldOutIDs(t *testing.T) {
	ids, err := HeldOutIDs(100, 0.9, 1, 5, []int64{91, 93, 7})
	if err != nil || !slices.Equal(ids, []int64{90, 92, 94, 95, 96}) {
		t.Fatalf("ids %v %v", ids, err)
	}
	if _, err := HeldOutIDs(100, 0.9, 1, 10, []int64{95}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("too few ids: %v", err)
	}
	// The three ranges never overlap.
	tr, _ := HeldOutIDs(1000, TrainRange[0], TrainRange[1], 100, nil)
	ca, _ := HeldOutIDs(1000, CalibRange[0], CalibRange[1], 100, nil)
	ev, _ := HeldOutIDs(1000, EvalRange[0], EvalRange[1], 100, nil)
	for _, id := range ev {
		if slices.Contains(tr, id) || slices.Contains(ca, id) {
			t.Fatalf("id %d in two ranges", id)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	for _, c := range []Config{{Images: -1}, {Side: -2}, {IDFrom: 0.5, IDTo: 0.4}, {IDFrom: 0.5, IDTo: 1.5}, {MinImageShare: 2}, {Batch: -1}} {
		if _, err := c.withDefaults(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestDrawIsDeterministicSubset(t *testing.T) {
	xs := []int{10, 11, 12, 13, 14, 15, 16, 17}
	a := draw(splitmix.New(3), xs, 3)
	b := draw(splitmix.New(3), xs, 3)
	if !slices.Equal(a, b) || len(a) != 3 || !slices.IsSorted(a) {
		t.Fatalf("draw %v %v", a, b)
	}
	if got := draw(splitmix.New(3), xs, 20); !slices.Equal(got, xs) {
		t.Fatalf("draw all %v", got)
	}
}

// The planted model (inference/testdata/planted) paints class k+1 exactly
// where unit k of layer2 is on, with no spatial mixing after layer2, so a
// recipe that switches on the tree unit and off the others turns the brushed
// region into tree and nothing else; removing the tree unit everywhere
// turns every tree pixel into background and nothing else.
func plantedModel(t *testing.T) *inference.Model {
	t.Helper()
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(testenv.PlantedModel(), inference.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func plantedBrushes() []Brush {
	return []Brush{
		{Name: "tree-exact", Concept: "tree", Kind: "test", Layer: "layer2", Mode: inference.ModeBlend,
			Units: []int{0, 1, 2, 3}, Weights: []float32{1, 1, 1, 1}, Values: []float32{0, 1.5, 0, 0},
			Steps: []Step{{"low", 0.25}, {"full", 1}}},
		{Name: "tree-off", Concept: "tree", Kind: "test", Layer: "layer2", Remove: true, Mode: inference.ModeRemove,
			Units: []int{1}, Steps: []Step{{"full", 1}}},
	}
}

func TestRunPlanted(t *testing.T) {
	m := plantedModel(t)
	rep, err := Run(context.Background(), m, plantedBrushes(), Config{Images: 12, Plausible: 20, Other: 20, Present: 10, Everywhere: 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Concepts) != 1 || rep.Concepts[0].Concept != "tree" {
		t.Fatalf("concepts %+v", rep.Concepts)
	}
	c := rep.Concepts[0]
	if c.UsedPlausible+c.UsedOther == 0 || c.UsedPresent == 0 || c.UsedImages == 0 {
		t.Fatalf("nothing probed: %+v", c)
	}
	if len(c.Insert) != 2 || len(c.Remove) != 1 {
		t.Fatalf("rows %+v", c)
	}
	full := c.Insert[1]
	if full.Step != "full" || full.Success != 1 && c.UsedPlausible > 0 || full.SuccessAll != 1 || full.LeakNear != 0 || full.LeakFar != 0 {
		t.Errorf("exact recipe: %+v", full)
	}
	if full.RiseAll <= 0.5 {
		t.Errorf("rise %v", full.RiseAll)
	}
	er := c.Remove[0]
	if er.RegionDrop != 1 || er.RegionHalf != 1 || er.Drop != 1 || er.Half != 1 || er.Damage != 0 || er.LeakNear != 0 || er.LeakFar != 0 {
		t.Errorf("exact removal: %+v", er)
	}
	if rep.Probes != 2*(c.UsedPlausible+c.UsedOther)+c.UsedPresent+c.UsedImages {
		t.Errorf("probes %d for %+v", rep.Probes, c)
	}
	// Same config, same numbers.
	again, err := Run(context.Background(), m, plantedBrushes(), Config{Images: 12, Plausible: 20, Other: 20, Present: 10, Everywhere: 6})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Concepts[0].Insert, c.Insert) {
		t.Errorf("rerun differs: %+v vs %+v", again.Concepts[0].Insert, c.Insert)
	}

	ch := Choose(rep)
	if got := ch["tree"]; got.Add == nil || got.Add.Brush != "tree-exact" || got.Add.Default != "full" || len(got.Add.Steps) != 2 ||
		got.Remove == nil || got.Remove.Brush != "tree-off" {
		t.Errorf("choice %+v", got)
	}
}

// With explicit ids and every region tried, the tile map of the exact recipe
// is full: success wherever tree was not already there.
func TestRunTilesAndIDs(t *testing.T) {
	m := plantedModel(t)
	rep, err := Run(context.Background(), m, plantedBrushes()[:1], Config{IDs: []int64{5, 9}, Plausible: 1 << 20, Other: 1 << 20, Tiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.IDs, []int64{5, 9}) {
		t.Fatalf("ids %v", rep.IDs)
	}
	c := rep.Concepts[0]
	full := c.Insert[1]
	if len(full.Tiles) != 16 {
		t.Fatalf("tiles %+v", full.Tiles)
	}
	tried := 0
	for i, tl := range full.Tiles {
		if tl.Success != tl.Tried || tl.Tried > 2 {
			t.Errorf("tile %d: %+v", i, tl)
		}
		tried += tl.Tried
	}
	if tried != c.PoolPlausible+c.PoolOther || tried == 0 {
		t.Errorf("%d tiles tried, pool %d+%d", tried, c.PoolPlausible, c.PoolOther)
	}
}

func TestRunRejects(t *testing.T) {
	m := plantedModel(t)
	bad := plantedBrushes()
	bad[0].Weights = bad[0].Weights[:2]
	noSteps := plantedBrushes()
	noSteps[1].Steps = nil
	layer := plantedBrushes()
	layer[0].Layer = "layer9"
	concept := plantedBrushes()
	concept[0].Concept = "dragon"
	for name, b := range map[string][]Brush{"weights": bad, "steps": noSteps, "layer": layer, "concept": concept} {
		if _, err := Run(context.Background(), m, b, Config{Images: 2}); !errors.Is(err, ErrBadBrush) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, m, plantedBrushes(), Config{Images: 4}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestCalibratePlanted(t *testing.T) {
	m := plantedModel(t)
	cal, rep, err := Calibrate(context.Background(), m, plantedBrushes(), Config{Images: 8, Plausible: 12, Other: 12, Present: 6, Everywhere: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settings.IDRange != CalibRange {
		t.Errorf("calibration ids from %v", rep.Settings.IDRange)
	}
	b := plantedBrushes()
	steps, def, ok := CalibratedSteps(cal, b[0])
	if !ok || len(steps) != 3 || !(steps[0].Strength < steps[1].Strength && steps[1].Strength < steps[2].Strength) {
		t.Fatalf("steps %+v %q %v", steps, def, ok)
	}
	// The exact recipe saturates: the default is the weakest strength with
	// the best effect measured in the sweep.
	best, weakest := 0.0, float32(0)
	for _, r := range rep.Concepts[0].Insert {
		if r.Brush == "tree-exact" && r.SuccessAll > best {
			best, weakest = r.SuccessAll, r.Strength
		}
	}
	for _, s := range steps {
		if s.Name == def && s.Strength != weakest {
			t.Errorf("default %q at %v, want %v (%+v)", def, s.Strength, weakest, steps)
		}
	}
	// A changed recipe does not reuse the calibration.
	b[0].Values = []float32{0, 1.4, 0, 0}
	if _, _, ok := CalibratedSteps(cal, b[0]); ok {
		t.Error("calibration reused for another recipe")
	}
}

func TestChooseSteps(t *testing.T) {
	yes := []bool{true, true, true, true, true, true}
	cases := []struct {
		name            string
		effect          []float64
		ok              []bool
		lo, mid, hi, df int
	}{
		// low: the strongest below the default with at most half of the best effect.
		{"rising", []float64{0.1, 0.3, 0.5, 0.7, 0.8, 0.9}, yes, 1, 4, 5, 5},
		// high: the weakest with the best effect, and room is kept for two below it.
		{"saturates", []float64{0.1, 0.4, 0.9, 0.9, 0.9, 0.9}, yes, 0, 1, 2, 2},
		{"saturates late", []float64{0.1, 0.2, 0.3, 0.9, 0.9, 0.9}, yes, 1, 2, 3, 3},
		{"leaky top", []float64{0.1, 0.3, 0.5, 0.7, 0.8, 0.9}, []bool{true, true, true, false, false, false}, 1, 2, 5, 2},
		{"nothing works", []float64{0, 0, 0, 0}, []bool{true, true, true, true}, 0, 1, 2, 0},
		{"none acceptable", []float64{0.2, 0.5, 0.4}, []bool{false, false, false}, 0, 1, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lo, mid, hi, df := chooseSteps(c.effect, c.ok)
			if lo != c.lo || mid != c.mid || hi != c.hi || df != c.df {
				t.Fatalf("got %d %d %d default %d, want %d %d %d default %d", lo, mid, hi, df, c.lo, c.mid, c.hi, c.df)
			}
			if !(lo < mid && mid < hi) {
				t.Fatal("steps must be strictly ordered")
			}
		})
	}
}

func TestChoosePrefersAcceptableLeak(t *testing.T) {
	rep := &Report{Concepts: []ConceptResult{{Concept: "tree", Insert: []InsertResult{
		{Row: Row{Brush: "tree-iou", Layer: "l", Step: "medium", Strength: 1}, Success: 0.3, LeakFar: 0.01},
		{Row: Row{Brush: "tree-dense", Layer: "l", Step: "high", Strength: 1}, Success: 0.9, LeakFar: 0.2},
		{Row: Row{Brush: "tree-dense", Layer: "l", Step: "low", Strength: 0.5}, Success: 0.6, LeakFar: 0.02},
	}}, {Concept: "door", Insert: []InsertResult{
		{Row: Row{Brush: "door-iou", Layer: "l", Step: "medium"}, LeakFar: 0.5},
		{Row: Row{Brush: "door-iou", Layer: "l", Step: "low"}, LeakFar: 0.4},
	}}}}
	ch := Choose(rep)
	if a := ch["tree"].Add; a.Brush != "tree-dense" || a.Default != "low" || len(a.Steps) != 2 {
		t.Errorf("tree %+v", a)
	}
	if a := ch["door"].Add; a.Default != "low" {
		t.Errorf("door falls back to the least leaky step: %+v", a)
	}
}

// With calibrated effects the choice follows the calibration ids, even where
// the evaluation ids would rank another brush or step first; one brush
// without its effect sends the concept back to the evaluation's rule.
func TestChooseFollowsCalibration(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	rows := []RemoveResult{
		{Row: Row{Brush: "tree-erase", Layer: "l", Step: "low", Strength: 0.5}, Drop: 0.2, Damage: 0.1},
		{Row: Row{Brush: "tree-erase", Layer: "l", Step: "medium", Strength: 1.5}, Drop: 0.6, Damage: 0.36},
		{Row: Row{Brush: "tree-iou", Layer: "l", Step: "high", Strength: 1}, Drop: 0.3, Damage: 0.1},
	}
	ins := []InsertResult{
		{Row: Row{Brush: "tree-dense", Layer: "l", Step: "high", Strength: 1}, Success: 0.9},
		{Row: Row{Brush: "tree-ace", Layer: "l", Step: "high", Strength: 1}, Success: 0.5},
		{Row: Row{Brush: "tree-ace", Layer: "l", Step: "medium", Strength: 0.75}, Success: 0.4},
	}
	cal := map[string]Calibrated{
		"tree-erase:remove": {Default: "medium", Effect: f(0.5), Acceptable: true},
		"tree-iou:remove":   {Default: "high", Effect: f(0.2), Acceptable: true},
		"tree-dense:add":    {Default: "high", Effect: f(0.95), Acceptable: false},
		"tree-ace:add":      {Default: "medium", Effect: f(0.45), Acceptable: true},
	}
	rep := &Report{Calibration: cal, Concepts: []ConceptResult{{Concept: "tree", Insert: ins, Remove: rows}}}
	ch := Choose(rep)["tree"]
	if ch.Remove == nil || ch.Remove.Brush != "tree-erase" || ch.Remove.Default != "medium" {
		t.Errorf("remove %+v: want the calibrated tree-erase medium although its evaluation damage is over the limit", ch.Remove)
	}
	if ch.Add == nil || ch.Add.Brush != "tree-ace" || ch.Add.Default != "medium" || len(ch.Add.Steps) != 2 {
		t.Errorf("add %+v: want tree-ace medium, the best acceptable calibrated brush", ch.Add)
	}
	if at := ChooseAt(rep, "l")["tree"]; at.Remove == nil || at.Remove.Default != "medium" {
		t.Errorf("ChooseAt ignores the calibration: %+v", at.Remove)
	}

	delete(cal, "tree-iou:remove")
	ch = Choose(rep)["tree"]
	if ch.Remove == nil || ch.Remove.Brush != "tree-iou" {
		t.Errorf("without every calibration the evaluation rule applies: %+v", ch.Remove)
	}
	cal["tree-iou:remove"] = Calibrated{Default: "medium", Effect: f(0.9), Acceptable: true}
	if ch = Choose(rep)["tree"]; ch.Remove == nil || ch.Remove.Brush != "tree-iou" || ch.Remove.Default != "high" {
		t.Errorf("a calibrated step the evaluation did not measure falls back: %+v", ch.Remove)
	}
}

func TestReportFiles(t *testing.T) {
	rep := &Report{SchemaVersion: ReportVersion, Model: "m", Settings: Settings{Images: 3, Side: 4, RegionPx: [2]int{32, 32}},
		Concepts: []ConceptResult{{Concept: "tree", Insert: []InsertResult{
			{Row: Row{Brush: "tree-iou", Kind: "iou", Layer: "l", Step: "medium", Strength: 1}, Success: 0.25},
			{Row: Row{Brush: "tree-ace", Kind: "ace", Layer: "l", Step: "high", Strength: 1}, Success: 0.75}}}}}
	rep.Brushes = Choose(rep)
	dir := t.TempDir()
	if err := rep.Save(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(data)
	if err != nil || back.Brushes["tree"].Add.Brush != "tree-ace" {
		t.Fatalf("load %+v %v", back, err)
	}
	if _, err := Load([]byte(`{"schema_version": 99}`)); err == nil || !strings.Contains(err.Error(), "rerun") {
		t.Errorf("version: %v", err)
	}
	if _, err := Load([]byte(`{`)); err == nil {
		t.Error("bad json accepted")
	}

	card := filepath.Join(dir, "MODEL.md")
	os.WriteFile(card, []byte("# m\n\nintro\n"), 0o644)
	if err := rep.UpdateModelCard(card); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(card)
	if !strings.HasPrefix(string(first), "# m\n\nintro\n") || !strings.Contains(string(first), "| tree | tree-ace (l) | high 1 | 75% |") ||
		!strings.Contains(string(first), "| 25% |") {
		t.Fatalf("card:\n%s", first)
	}
	rep.Concepts[0].Insert[1].Success = 0.5
	os.WriteFile(card, append(first, []byte("\n## After\n")...), 0o644)
	if err := rep.UpdateModelCard(card); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(card)
	if strings.Count(string(second), BeginMarker) != 1 || !strings.Contains(string(second), "| 50% |") ||
		strings.Contains(string(second), "| 75% |") || !strings.HasSuffix(string(second), "\n## After\n") {
		t.Fatalf("rerun did not replace the table:\n%s", second)
	}
	os.WriteFile(card, []byte("x "+BeginMarker+" y"), 0o644)
	if err := rep.UpdateModelCard(card); err == nil {
		t.Error("one marker accepted")
	}
}
