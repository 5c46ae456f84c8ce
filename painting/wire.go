package painting

// Summary is an edit on the JSON wire where a client lists edits rather
// than replays them (the state message's edit_list, docs/protocol.md): what
// it paints, without its geometry.
type Summary struct {
	Concept    string `json:"concept"`
	Mode       string `json:"mode"`
	Units      int    `json:"units"`
	Everywhere bool   `json:"everywhere,omitempty"`
	// Brush and Strength name the edit's brush and step (absent for edits
	// of the IoU ranking at strength 1 from links made before brushes).
	Brush    string `json:"brush,omitempty"`
	Strength string `json:"strength,omitempty"`
}

// Summary describes e for the JSON wire. A custom brush's concept is its
// label and its units how many it switches.
func (e Edit) Summary() Summary {
	units := e.Units
	if e.Custom != nil {
		units = len(e.Custom.Units)
	}
	return Summary{Concept: e.Label(), Mode: e.Mode.String(), Units: units, Everywhere: e.Everywhere, Brush: e.Brush, Strength: e.Step}
}
