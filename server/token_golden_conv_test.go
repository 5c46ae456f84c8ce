package server

import "github.com/ganpaint-go/ganpaint/painting"

// goldenStateOf describes a decoded state in golden terms. It is the only
// part of the golden test that follows the state's Go types.
func goldenStateOf(st painting.State) goldenState {
	gs := goldenState{Model: st.Model, Layer: st.Layer, ID: st.ID, Repair: st.Repair, Edits: []goldenEdit{}}
	for _, e := range st.Edits {
		g := goldenEdit{Concept: e.Concept, Mode: e.Mode.String(), Everywhere: e.Everywhere, Units: e.Units, Radius: e.Radius, Brush: e.Brush, Step: e.Step}
		for _, p := range e.Points {
			g.Points = append(g.Points, [2]int{p.X, p.Y})
		}
		gs.Edits = append(gs.Edits, g)
	}
	return gs
}
