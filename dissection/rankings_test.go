package dissection

import (
	"slices"
	"testing"
)

func TestNamedRankingsRecipes(t *testing.T) {
	l := &Layer{Layer: "layer4", Channels: 6, ClassNames: []string{"sky", "tree"},
		Rankings: map[string][]int{"tree": {1, 0, 2, 3, 4, 5}}}
	for u := 0; u < 6; u++ {
		l.Units = append(l.Units, Unit{Unit: u, ClassIoU: []float64{0, float64(6-u) / 10}})
	}
	// Units listed out of weight order, one weight tie (units 4 and 2):
	// the ranking must not depend on the file's order.
	l.Recipes = map[string]*Recipe{
		"tree-dense": {Concept: "tree", Kind: "dense", Units: []int{4, 5, 2}, Weights: []float32{0.25, 0.9, 0.25}, Values: []float32{1, 1, 1}},
		"tree-ace":   {Concept: "tree", Kind: "ace", Units: []int{3}, Weights: []float32{1}, Values: []float32{2}},
		"sky-erase":  {Concept: "sky", Units: []int{0}, Weights: []float32{0.5}, Values: []float32{0}, Remove: true},
	}
	rs := l.NamedRankings()
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if want := []string{"tree-iou", "sky-erase", "tree-ace", "tree-dense"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	for _, tc := range []struct {
		i       int
		metric  string
		concept string
		units   []int
		scores  []float64
	}{
		{1, "recipe", "sky", []int{0, 1, 2, 3, 4, 5}, []float64{-0.5, 0, 0, 0, 0, 0}},
		{2, "ace", "tree", []int{3, 0, 1, 2, 4, 5}, []float64{0, 0, 0, -1, 0, 0}},
		{3, "dense", "tree", []int{5, 2, 4, 0, 1, 3}, []float64{0, 0, -0.25, 0, -0.25, -0.8999999761581421}},
	} {
		t.Run(rs[tc.i].Name, func(t *testing.T) {
			r := rs[tc.i]
			if r.Metric != tc.metric || r.Concept != tc.concept || !slices.Equal(r.Units, tc.units) || !slices.Equal(r.Scores, tc.scores) {
				t.Errorf("got %+v, want metric %s concept %s units %v scores %v", r, tc.metric, tc.concept, tc.units, tc.scores)
			}
			// Lower scores rank first: sorting by score gives Units.
			order := []int{0, 1, 2, 3, 4, 5}
			slices.SortStableFunc(order, func(a, b int) int {
				switch {
				case r.Scores[a] < r.Scores[b]:
					return -1
				case r.Scores[a] > r.Scores[b]:
					return 1
				}
				return 0
			})
			if !slices.Equal(order, r.Units) {
				t.Errorf("scores sort to %v, units %v", order, r.Units)
			}
		})
	}
}
