package server

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/painting"
)

// Custom brushes: units chosen by hand in the unit editor, painted like a
// concept's brush. The editor opens the painter with the brush in the page
// address (so it works in a new tab and the address can be shared):
//
//	/?custom_layer=layer4&custom_units=3,17,40&custom_mode=add
//
// The page validates it and shows it in the palette; strokes then carry
// {"custom": {"layer", "units"}} instead of a concept (docs/protocol.md),
// and share tokens record it (token.go, flag 8).

// Query parameters of the painter page that carry a custom brush.
const (
	CustomLayerParam = "custom_layer"
	CustomUnitsParam = "custom_units"
	CustomModeParam  = "custom_mode"
)

// maxCustomParam bounds the units parameter before it is parsed: 64 units
// of up to five digits and their commas, with room for larger limits.
const maxCustomParam = 4096

// PageCustom is a validated custom brush for the painter page.
type PageCustom struct {
	Layer  string
	Units  []int // increasing
	Remove bool  // the mode the editor chose; the painter's toggle can change it
	Label  string
	// Brushes is the brush in each mode with its strength steps, as hello
	// lists a concept's brushes, so the painter's step buttons serve it too.
	Brushes HelloBrushes
}

// customBrushes describes a custom brush in each mode like a concept's
// brushes in hello: one brush, named by its label, with its steps.
func customBrushes(cb *painting.CustomBrush) HelloBrushes {
	one := func(remove bool) []HelloBrush {
		steps, def := customSteps(remove)
		hb := HelloBrush{Name: cb.Label(), Kind: "custom", Layer: cb.Layer, Default: def}
		for _, st := range steps {
			hb.Steps = append(hb.Steps, HelloStep{Name: st.Name, Strength: st.Strength})
		}
		return []HelloBrush{hb}
	}
	return HelloBrushes{Add: one(false), Remove: one(true)}
}

// pageCustom reads a custom brush from the painter page's query. It returns
// nil and "" when the address has none, and a message for the user when it
// has one that cannot be used.
func (s *site) pageCustom(q url.Values) (*PageCustom, string) {
	layer, units, mode := q.Get(CustomLayerParam), q.Get(CustomUnitsParam), q.Get(CustomModeParam)
	if !q.Has(CustomLayerParam) && !q.Has(CustomUnitsParam) && !q.Has(CustomModeParam) {
		return nil, ""
	}
	fail := func(msg string) (*PageCustom, string) {
		return nil, "The custom brush in this address cannot be used: " + msg + "."
	}
	if layer == "" || units == "" {
		return fail(fmt.Sprintf("it needs both %s and %s", CustomLayerParam, CustomUnitsParam))
	}
	remove := false
	switch mode {
	case "", "add":
	case "remove":
		remove = true
	default:
		return fail(fmt.Sprintf("%s must be add or remove, not %q", CustomModeParam, truncate(mode, 16)))
	}
	if len(units) > maxCustomParam {
		return fail(fmt.Sprintf("the unit list is %d characters long", len(units)))
	}
	var list []float64
	for _, part := range strings.Split(units, ",") {
		part = strings.TrimSpace(part)
		v, err := strconv.Atoi(part)
		if err != nil || part[0] == '+' {
			return fail(fmt.Sprintf("%q is not a unit number", truncate(part, 16)))
		}
		list = append(list, float64(v))
	}
	cb, err := s.customBrush(layer, list)
	if err != nil {
		return fail(err.Message)
	}
	return &PageCustom{Layer: cb.Layer, Units: cb.Units, Remove: remove, Label: cb.Label(), Brushes: customBrushes(cb)}, ""
}

// customBrush validates a custom brush from a client (the page address or a
// stroke message): a paintable layer and 1..MaxUnits distinct units within
// its channels. The units come back sorted, so one set of units has one
// share token.
func (s *site) customBrush(layer string, units []float64) (*painting.CustomBrush, *protoError) {
	l, ok := s.layers[layer]
	if !ok {
		return nil, perr(codeUnknownLayer, "layer %q cannot be painted (layers: %s)", truncate(layer, 32), strings.Join(s.layerNames(), ", "))
	}
	if len(units) == 0 {
		return nil, perr(codeBadMessage, "a custom brush needs at least one unit")
	}
	if len(units) > s.cfg.MaxUnits {
		return nil, perr(codeTooBig, "%d units, at most %d in one brush", len(units), s.cfg.MaxUnits)
	}
	cb := &painting.CustomBrush{Layer: layer, Units: make([]int, len(units))}
	for i, v := range units {
		if v != math.Trunc(v) || v < 0 || v >= float64(l.info.Channels) {
			return nil, perr(codeOutOfRange, "unit %v is not in 0..%d of %s", v, l.info.Channels-1, layer)
		}
		cb.Units[i] = int(v)
	}
	slices.Sort(cb.Units)
	for i := 1; i < len(cb.Units); i++ {
		if cb.Units[i] == cb.Units[i-1] {
			return nil, perr(codeBadMessage, "unit %d is listed twice", cb.Units[i])
		}
	}
	return cb, nil
}

// layerNames are the paintable layers in generator order.
func (s *site) layerNames() []string {
	var out []string
	for _, l := range s.hello.Layers {
		out = append(out, l.Name)
	}
	return out
}

// customMsg is the "custom" field of stroke and erase_all messages.
type customMsg struct {
	Layer *string   `json:"layer"`
	Units []float64 `json:"units"`
}

// customSteps are a custom brush's strength steps and its default one: the
// uncalibrated steps of an IoU-ranked brush (efficacy.DefaultSteps), since a
// custom brush, like the IoU ranking, switches its units on at their level
// or off. The default is strength 1, what a custom brush did before it had
// steps, and what its share tokens without a step still mean.
func customSteps(remove bool) ([]efficacy.Step, string) {
	return efficacy.DefaultSteps(inference.ModeAdd, remove), efficacy.DefaultStep(inference.ModeAdd, remove)
}

// customStrength is the strength of a custom brush's step ("" = strength 1).
func customStrength(remove bool, step string) (float32, *protoError) {
	if step == "" {
		return 1, nil
	}
	steps, _ := customSteps(remove)
	for _, st := range steps {
		if st.Name == step {
			return st.Strength, nil
		}
	}
	return 0, perr(codeUnknownBrush, "a custom brush has no strength %q (low, medium or high)", truncate(step, 16))
}

// messageCustom validates a message's custom brush and fills in its step
// (the message's strength, or the default one, so a share token records
// it); a custom brush has no concept or brush of its own.
func (s *site) messageCustom(m *clientMsg, se *painting.Edit) *protoError {
	if m.Concept != nil || m.Brush != nil {
		return perr(codeBadMessage, "a custom brush has no concept or brush")
	}
	_, se.Step = customSteps(se.Removes())
	if m.Strength != nil {
		if _, err := customStrength(se.Removes(), *m.Strength); err != nil {
			return err
		}
		se.Step = *m.Strength
	}
	if m.Custom.Layer == nil {
		return perr(codeBadMessage, "custom brush needs layer and units")
	}
	cb, err := s.customBrush(*m.Custom.Layer, m.Custom.Units)
	se.Custom = cb
	return err
}

// checkCustomEdit is checkEdit for an edit of a custom brush at session
// layer l.
func (s *site) checkCustomEdit(l *layerEnv, se painting.Edit) *protoError {
	if se.Concept != "" || se.Brush != "" || se.Units != 0 {
		return perr(codeBadMessage, "a custom brush has no concept or brush")
	}
	if _, err := customStrength(se.Removes(), se.Step); err != nil {
		return err
	}
	units := make([]float64, len(se.Custom.Units))
	for i, u := range se.Custom.Units {
		units[i] = float64(u)
	}
	cb, err := s.customBrush(se.Custom.Layer, units)
	if err != nil {
		return err
	}
	if !slices.Equal(cb.Units, se.Custom.Units) {
		return perr(codeBadMessage, "custom brush units must increase")
	}
	if env := s.layers[cb.Layer]; env.index < l.index {
		return perr(codeUnknownLayer, "the custom brush paints at %s, before this image's layer %s; switch the layer to %s",
			cb.Layer, l.info.Name, cb.Layer)
	}
	return s.checkStroke(l, se)
}

// newCustomEdit is newEdit for a custom brush: its units, on at their
// level or off, at its step's strength, painted at the brush's layer.
func (s *site) newCustomEdit(l *layerEnv, se painting.Edit) (*edit, *protoError) {
	if err := s.checkCustomEdit(l, se); err != nil {
		return nil, err
	}
	env := s.layers[se.Custom.Layer]
	strength, _ := customStrength(se.Removes(), se.Step)
	se.Custom = &painting.CustomBrush{Layer: se.Custom.Layer, Units: slices.Clone(se.Custom.Units)}
	e := &edit{
		Edit:     se,
		unitList: se.Custom.Units,
		mask:     make([]float32, env.grid.cells()),
		strength: strength,
		env:      env,
	}
	e.paint()
	return e, nil
}
