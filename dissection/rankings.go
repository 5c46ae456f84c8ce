package dissection

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
// class with a ranking (score −IoU), in class order. Views that sort units
// by a ranking (the report, the REST API) take whatever this returns.
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
	return out
}
