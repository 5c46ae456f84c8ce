package server

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
)

// TestRefRankingsRecipesFromDisk: /api/rankings lists a schema-2
// dissection's learned recipes after the class rankings, as the reference
// lists its "<concept>-ace" rankings, read back from files on disk.
func TestRefRankingsRecipesFromDisk(t *testing.T) {
	res := fakeRefResults()
	l := res.Layers["layer2"]
	l.Recipes["tree-dense"] = &dissection.Recipe{Concept: "tree", Kind: "dense",
		Units: []int{1, 6, 2}, Weights: []float32{0.25, 0.75, 0.5}, Values: []float32{1, 2, 3}}
	dir := t.TempDir()
	if err := dissection.Save(dir, res); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, dissection.Dir, "layer2.json"))
	if err != nil || !strings.Contains(string(raw), `"recipes"`) || !strings.Contains(string(raw), `"schema_version": 2`) {
		t.Fatalf("fixture is not a schema-2 file with recipes (%v)", err)
	}
	loaded, err := dissection.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newFakeRefModel()
	api, err := NewRefAPI(RefAPIConfig{Logger: quietLogger()}, RefAPIDeps{Model: m, Results: loaded, UnitImageURL: unitImg})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)

	a := apiGet(t, ts, "/rankings?project=fake64&layer=layer2")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var env struct {
		Res []refRanking `json:"res"`
	}
	a.decode(t, &env)
	byName := map[string]refRanking{}
	var names []string
	for _, r := range env.Res {
		names = append(names, r.Name)
		byName[r.Name] = r
	}
	if want := []string{"background-iou", "sky-iou", "tree-iou", "tree-ace", "tree-dense"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	for _, tc := range []struct {
		name, metric string
		order        []int // units best first, as a client sorts them
	}{
		{"tree-ace", "ace", []int{5, 3, 0, 1, 2, 4, 6, 7}},
		{"tree-dense", "dense", []int{6, 2, 1, 0, 3, 4, 5, 7}},
		{"tree-iou", "iou", []int{7, 5, 3, 1, 0, 2, 4, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := byName[tc.name]
			if r.Metric != tc.metric || len(r.Scores) != 8 {
				t.Fatalf("%+v", r)
			}
			// A reference client sorts ascending by score (lower first),
			// ties by unit.
			order := []int{0, 1, 2, 3, 4, 5, 6, 7}
			slices.SortStableFunc(order, func(a, b int) int {
				if r.Scores[a] != r.Scores[b] {
					if r.Scores[a] < r.Scores[b] {
						return -1
					}
					return 1
				}
				return 0
			})
			if !slices.Equal(order, tc.order) {
				t.Errorf("scores %v sort to %v, want %v", r.Scores, order, tc.order)
			}
		})
	}
	if s := byName["tree-dense"].Scores; s[6] != -0.75 || s[0] != 0 {
		t.Errorf("tree-dense scores %v: want -|weight| in the recipe, 0 outside", s)
	}
}
