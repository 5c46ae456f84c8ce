package dissection

import (
	"cmp"
	"math"
	"slices"
)

// NamedRanking is one way of ordering a layer's units, named as the
// reference names its rankings ("tree-iou"): Units best first, and Scores
// per unit (unit order) where lower ranks first.
type NamedRanking struct {
	Name   string
	Metric string
	// Concept is the class the ranking is about.
	Concept string
	Units   []int
	Scores  []float64
}

// NamedRankings lists every ranking of the layer: one "<class>-iou" per
// class with a ranking (score −IoU), in class order, then one per learned
// recipe (schema 2), by recipe name. Views that sort units by a ranking
// (the report, the REST API) take whatever this returns.
//
// A recipe ranks its units by |weight|, largest first, as the reference
// ranks units by their learned coefficient ("tree-ace"): the score is
// −|weight|, so units outside the recipe (score 0) come after all of its
// units, in unit order. Its metric is the recipe's kind ("ace", "dense").
func (l *Layer) NamedRankings() []NamedRanking {
	var out []NamedRanking
	for c, name := range l.ClassNames {
		order, ok := l.Rankings[name]
		if !ok {
			continue
		}
		scores := make([]float64, len(l.Units))
		for u, rec := range l.Units {
			if c < len(rec.ClassIoU) {
				scores[u] = -rec.ClassIoU[c]
			}
		}
		out = append(out, NamedRanking{Name: name + "-iou", Metric: "iou", Concept: name,
			Units: append([]int(nil), order...), Scores: scores})
	}
	names := make([]string, 0, len(l.Recipes))
	for name := range l.Recipes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		out = append(out, l.recipeRanking(name, l.Recipes[name]))
	}
	return out
}

// recipeRanking orders every unit of the layer by the recipe's |weight|.
func (l *Layer) recipeRanking(name string, rc *Recipe) NamedRanking {
	n := max(l.Channels, len(l.Units))
	scores := make([]float64, n)
	for i, u := range rc.Units {
		if u >= 0 && u < n && i < len(rc.Weights) {
			scores[u] = -math.Abs(float64(rc.Weights[i]))
		}
	}
	units := make([]int, n)
	for u := range units {
		units[u] = u
	}
	// Stable by unit number among equal weights, so the order is the same
	// on every load whatever the file's order of equal-weight units.
	slices.SortStableFunc(units, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	metric := rc.Kind
	if metric == "" {
		metric = "recipe"
	}
	return NamedRanking{Name: name, Metric: metric, Concept: rc.Concept, Units: units, Scores: scores}
}
