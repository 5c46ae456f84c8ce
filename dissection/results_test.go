package dissection

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func fakeResults(t *testing.T) *Results {
	t.Helper()
	res, err := Dissect(context.Background(), newFakeGen(), Config{Layers: []string{"a", "b"}, Samples: 50,
		Causal: CausalConfig{Samples: 4, Ks: []int{1}, LocationImages: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	res := fakeResults(t)
	if err := Save(dir, res); err != nil {
		t.Fatal(err)
	}
	got, err := Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "fake" || len(got.Layers) != 2 {
		t.Fatalf("loaded %+v", got)
	}
	for name, l := range res.Layers {
		if !reflect.DeepEqual(got.Layers[name], l) {
			t.Errorf("layer %s changed in the round trip", name)
		}
	}
	r, err := got.Ranking("a", "sky")
	if err != nil || r[0] != 0 {
		t.Errorf("ranking %v %v", r, err)
	}
	lv, err := got.Levels("a")
	if err != nil || len(lv) != 3 || lv[0] != res.Layers["a"].Units[0].Level {
		t.Errorf("levels %v %v", lv, err)
	}
	if _, err := got.Ranking("a", "dragon"); !errors.Is(err, ErrUnknownConcept) {
		t.Errorf("unknown concept: %v", err)
	}
	if _, err := got.Levels("layer9"); !errors.Is(err, ErrUnknownLayer) {
		t.Errorf("unknown layer: %v", err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Join(dir, Dir))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left over %s", e.Name())
		}
	}
	// Saving one layer again keeps the other in the index.
	one := &Results{Model: "fake", Layers: map[string]*Layer{"b": res.Layers["b"]}}
	if err := Save(dir, one); err != nil {
		t.Fatal(err)
	}
	again, err := Load(os.DirFS(dir))
	if err != nil || len(again.Layers) != 2 {
		t.Fatalf("after partial save: %v, %d layers", err, len(again.Layers))
	}
}

func TestLoadErrors(t *testing.T) {
	good := fakeResults(t)
	dir := t.TempDir()
	if err := Save(dir, good); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	index, layerA, layerB := read(IndexFile), read("a.json"), read("b.json")
	fsWith := func(files map[string]string) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range files {
			m[Dir+"/"+k] = &fstest.MapFile{Data: []byte(v)}
		}
		return m
	}
	old := strings.Replace(layerA, `"schema_version": 2`, `"schema_version": 0`, 1)
	newer := strings.Replace(index, `"schema_version": 2`, `"schema_version": 7`, 1)
	recipeLayer := func(recipes string) string {
		return `{"schema_version":2,"layer":"a","channels":2,"class_names":["sky","tree"],` +
			`"units":[{"unit":0,"class_iou":[0,0]},{"unit":1,"class_iou":[0,0]}],"rankings":{"sky":[0,1]},"recipes":` + recipes + `}`
	}
	oneLayer := `{"schema_version":2,"layers":{"a":"a.json"}}`
	cases := []struct {
		name  string
		files map[string]string
		want  error
		text  string
	}{
		{"missing", map[string]string{}, ErrNoResults, "ganpaint dissect"},
		{"older layer", map[string]string{IndexFile: index, "a.json": old, "b.json": layerB}, ErrSchemaVersion, "older"},
		{"newer index", map[string]string{IndexFile: newer, "a.json": layerA, "b.json": layerB}, ErrSchemaVersion, "newer"},
		{"no version", map[string]string{IndexFile: `{"model":"x","layers":{}}`}, ErrSchemaVersion, "schema_version"},
		{"not json", map[string]string{IndexFile: `{"schema_version":1,`}, ErrBadResults, ""},
		{"missing layer file", map[string]string{IndexFile: index, "a.json": layerA}, ErrBadResults, "b.json"},
		{"path escape", map[string]string{IndexFile: `{"schema_version":1,"layers":{"a":"../x.json"}}`}, ErrBadResults, "bad file name"},
		{"wrong layer", map[string]string{IndexFile: `{"schema_version":1,"layers":{"b":"a.json"}}`, "a.json": layerA}, ErrBadResults, "index says"},
		{"truncated units", map[string]string{IndexFile: `{"schema_version":1,"layers":{"a":"a.json"}}`,
			"a.json": `{"schema_version":1,"layer":"a","channels":3,"units":[]}`}, ErrBadResults, "unit records"},
		{"bad ranking", map[string]string{IndexFile: `{"schema_version":1,"layers":{"a":"a.json"}}`,
			"a.json": `{"schema_version":1,"layer":"a","channels":1,"class_names":["sky"],"units":[{"unit":0,"class_iou":[0]}],"rankings":{"sky":[0,0]}}`}, ErrBadResults, "repeated"},
		{"short class iou", map[string]string{IndexFile: `{"schema_version":1,"layers":{"a":"a.json"}}`,
			"a.json": `{"schema_version":1,"layer":"a","channels":1,"class_names":["sky","tree"],"units":[{"unit":0,"class_iou":[0]}]}`}, ErrBadResults, "class IoUs"},
		{"recipe of unknown class", map[string]string{IndexFile: oneLayer,
			"a.json": recipeLayer(`{"dragon-ace":{"concept":"dragon","units":[0],"weights":[1],"values":[2]}}`)}, ErrBadResults, "unknown class"},
		{"recipe weight zero", map[string]string{IndexFile: oneLayer,
			"a.json": recipeLayer(`{"tree-ace":{"concept":"tree","units":[0],"weights":[0],"values":[2]}}`)}, ErrBadResults, "outside (0, 1]"},
		{"recipe short values", map[string]string{IndexFile: oneLayer,
			"a.json": recipeLayer(`{"tree-ace":{"concept":"tree","units":[0,1],"weights":[1,1],"values":[2]}}`)}, ErrBadResults, "2 units"},
		{"recipe unit out of range", map[string]string{IndexFile: oneLayer,
			"a.json": recipeLayer(`{"tree-ace":{"concept":"tree","units":[2],"weights":[1],"values":[2]}}`)}, ErrBadResults, "bad or repeated unit 2"},
		{"recipe named like a class", map[string]string{IndexFile: oneLayer,
			"a.json": recipeLayer(`{"sky":{"concept":"sky","units":[0],"weights":[1],"values":[2]}}`)}, ErrBadResults, "name of a class ranking"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(fsWith(c.files))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.text)
			}
		})
	}
}

// Version 1 files (no recipes) still load; a version 2 file's recipe is a
// ranking of its own.
func TestLoadVersionsAndRecipes(t *testing.T) {
	v1 := fstest.MapFS{
		Dir + "/" + IndexFile: {Data: []byte(`{"schema_version":1,"model":"m","layers":{"a":"a.json"}}`)},
		Dir + "/a.json": {Data: []byte(`{"schema_version":1,"layer":"a","channels":2,"class_names":["sky","tree"],` +
			`"units":[{"unit":0,"class_iou":[0,0]},{"unit":1,"class_iou":[0,0]}],"rankings":{"tree":[1,0]}}`)},
	}
	res, err := Load(v1)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := res.Ranking("a", "tree"); err != nil || !slices.Equal(r, []int{1, 0}) {
		t.Fatalf("v1 ranking %v %v", r, err)
	}
	if _, err := res.Recipe("a", "tree-ace"); !errors.Is(err, ErrUnknownConcept) {
		t.Fatalf("v1 has no recipes, got %v", err)
	}

	dir := t.TempDir()
	good := fakeResults(t)
	good.Layers["a"].Recipes = map[string]*Recipe{"tree-ace": {Concept: "tree", Kind: "ace", Units: []int{2, 0},
		Weights: []float32{1, 0.25}, Values: []float32{1.5, -0.5}, Training: map[string]any{"steps": 3.0}}}
	if err := Save(dir, good); err != nil {
		t.Fatal(err)
	}
	got, err := Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := got.Recipe("a", "tree-ace")
	if err != nil || !reflect.DeepEqual(rc, good.Layers["a"].Recipes["tree-ace"]) {
		t.Fatalf("recipe %+v %v", rc, err)
	}
	// Dissecting again keeps the recipes trained on the model.
	if err := Save(dir, fakeResults(t)); err != nil {
		t.Fatal(err)
	}
	if again, err := Load(os.DirFS(dir)); err != nil || again.Layers["a"].Recipes["tree-ace"] == nil {
		t.Fatalf("recipes lost on re-dissection: %v", err)
	}
	if r, err := got.Ranking("a", "tree-ace"); err != nil || !slices.Equal(r, []int{2, 0}) {
		t.Fatalf("recipe ranking %v %v", r, err)
	}
}

func TestSaveRejectsBadLayerName(t *testing.T) {
	r := &Results{Model: "m", Layers: map[string]*Layer{"../x": {Layer: "../x"}}}
	if err := Save(t.TempDir(), r); err == nil {
		t.Fatal("path-escaping layer name accepted")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"model":"m","layers":{"a":"a.json"}}`),
		[]byte(`{"schema_version":1,"layer":"a","channels":1,"class_names":["sky"],"units":[{"unit":0,"label":"sky","level":1,"class_iou":[0.5]}],"rankings":{"sky":[0]}}`))
	f.Add([]byte(`{"schema_version":0}`), []byte(``))
	f.Add([]byte(`{"schema_version":1,"layers":{"a":"a.json"}}`), []byte(`{"schema_version":1,"layer":"a","channels":-1}`))
	f.Fuzz(func(t *testing.T, index, layer []byte) {
		fsys := fstest.MapFS{
			Dir + "/" + IndexFile: &fstest.MapFile{Data: index},
			Dir + "/a.json":       &fstest.MapFile{Data: layer},
		}
		res, err := Load(fsys)
		if err != nil {
			if !errors.Is(err, ErrBadResults) && !errors.Is(err, ErrSchemaVersion) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Whatever loads must be safe to use.
		for name, l := range res.Layers {
			lv, err := res.Levels(name)
			if err != nil || len(lv) != l.Channels {
				t.Fatalf("levels of a loaded layer: %v", err)
			}
			for c := range l.Rankings {
				r, err := res.Ranking(name, c)
				if err != nil || slices.ContainsFunc(r, func(u int) bool { return u < 0 || u >= l.Channels }) {
					t.Fatalf("ranking %v %v", r, err)
				}
			}
			l.Summary()
			l.WriteSummary(io.Discard)
		}
	})
}
