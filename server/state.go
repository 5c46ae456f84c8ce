package server

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/painting"
)

// Error codes of error frames (docs/protocol.md).
const (
	codeBadJSON        = "bad_json"
	codeBadMessage     = "bad_message"
	codeBadSeq         = "bad_seq"
	codeUnknownConcept = "unknown_concept"
	codeUnknownBrush   = "unknown_brush"
	codeUnknownLayer   = "unknown_layer"
	codeOutOfRange     = "out_of_range"
	codeTooBig         = "too_big"
	codeRateLimited    = "rate_limited"
	codeNothingUndo    = "nothing_to_undo"
	codeNothingRedo    = "nothing_to_redo"
	codeBadState       = "bad_state"
	codeBusy           = "busy"
	codeInternal       = "internal"
)

// protoError is a rejected client request: a protocol error code plus a
// short message that is safe to show to the user.
type protoError struct {
	Code    string
	Message string
}

func (e *protoError) Error() string { return e.Code + ": " + e.Message }

func perr(code, format string, args ...any) *protoError {
	return &protoError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// edit is one applied edit. Edits are immutable once made: snapshots of the
// history share them, and the renderer reads them without locks.
type edit struct {
	// Edit is the edit as the client made it, and what share tokens hold.
	painting.Edit
	strokeID uint32
	unitList []int
	mask     []float32
	// strength, weights and values are what the brush and step resolve to.
	strength        float32
	weights, values []float32
	// env is the layer the edit paints at: the session's, or the layer its
	// brush was trained at. mask is on env's grid.
	env *layerEnv
}

// layerEnv is what validating edits at one layer needs.
type layerEnv struct {
	info LayerInfo
	grid grid
	// index is the layer's place in generator order: an edit can paint at
	// the session's layer or a later one.
	index int
	// repair is the "repair artifacts" edit (nil without an artifact
	// ranking): the artifact units switched off everywhere.
	repair []int
	full   []float32 // a whole-grid mask
}

// setRepair installs the layer's artifact units after checking them.
func (l *layerEnv) setRepair(units []int) error {
	seen := map[int]bool{}
	for _, u := range units {
		if u < 0 || (l.info.Channels > 0 && u >= l.info.Channels) || seen[u] {
			return fmt.Errorf("server: artifact unit %d of layer %q is out of range or repeated", u, l.info.Name)
		}
		seen[u] = true
	}
	l.repair = append([]int(nil), units...)
	l.full = make([]float32, l.grid.cells())
	for i := range l.full {
		l.full[i] = 1
	}
	return nil
}

// withRepair is edits for the Engine, after the repair edit when it is on:
// the repair comes first so the user's strokes still paint over it.
func (l *layerEnv) withRepair(repair bool, edits []*edit) []Edit {
	out := engineEdits(edits)
	if !repair || len(l.repair) == 0 {
		return out
	}
	re := Edit{Edit: inference.Edit{Units: l.repair, Mode: inference.ModeRemove, Mask: l.grid.mask(l.full)}}
	return append([]Edit{re}, out...)
}

// clientMsg is every field any client message may carry. Numbers are
// float64 pointers so that missing, fractional and out-of-range values are
// told apart and reported with the right code instead of a decoder error.
type clientMsg struct {
	T       string      `json:"t"`
	Seq     *float64    `json:"seq"`
	ID      *float64    `json:"id"`
	Layer   *string     `json:"layer"`
	Concept *string     `json:"concept"`
	Mode    *string     `json:"mode"`
	Units   *float64    `json:"units"`
	Radius  *float64    `json:"radius"`
	Points  [][]float64 `json:"points"`
	Stroke  *float64    `json:"stroke"`
	Format  *string     `json:"format"`
	State   *string     `json:"state"`
	Edit    *float64    `json:"edit"`
	// Brush and Strength (a step name) are optional: the concept's default
	// brush and that brush's default step.
	Brush    *string `json:"brush"`
	Strength *string `json:"strength"`
	On       *bool   `json:"on"`
	// Custom replaces Concept in stroke and erase_all: a custom brush.
	Custom *customMsg `json:"custom"`
}

// brushNames reads the optional brush and strength of a message and fills
// in the defaults.
func (p *painter) brushNames(m *clientMsg, concept string, remove bool) (string, string) {
	var name, step string
	if m.Brush != nil {
		name = *m.Brush
	}
	if m.Strength != nil {
		step = *m.Strength
	}
	return p.srv.defaultNames(p.layer.info.Name, concept, remove, name, step)
}

// parseMessage decodes one text frame. The seq it returns is best effort
// (0 when unreadable) so that error frames can name the message.
func parseMessage(data []byte) (*clientMsg, uint32, *protoError) {
	if !json.Valid(data) {
		return nil, 0, perr(codeBadJSON, "message is not valid JSON")
	}
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	if i == len(data) || data[i] != '{' {
		return nil, 0, perr(codeBadJSON, "message is not a JSON object")
	}
	var m clientMsg
	if err := json.Unmarshal(data, &m); err != nil {
		// Salvage the seq so the client can tell which message failed.
		var s struct {
			Seq float64 `json:"seq"`
		}
		_ = json.Unmarshal(data, &s)
		seq, _ := seqValue(&s.Seq)
		return nil, seq, perr(codeBadMessage, "a field has the wrong type")
	}
	seq, _ := seqValue(m.Seq)
	return &m, seq, nil
}

func seqValue(v *float64) (uint32, bool) {
	if v == nil || *v != math.Trunc(*v) || *v < 1 || *v > maxSeq {
		return 0, false
	}
	return uint32(*v), true
}

// intField reads an integer-valued number within [lo, hi].
func intField(name string, v *float64, lo, hi int64) (int64, *protoError) {
	if v == nil {
		return 0, perr(codeBadMessage, "%s is missing", name)
	}
	if *v != math.Trunc(*v) {
		return 0, perr(codeBadMessage, "%s must be an integer", name)
	}
	if *v < float64(lo) || *v > float64(hi) {
		return 0, perr(codeOutOfRange, "%s %v is not in %d..%d", name, *v, lo, hi)
	}
	return int64(*v), nil
}

// roundedField reads a number rounded to the nearest integer within [lo, hi].
func roundedField(name string, v *float64, lo, hi int) (int, *protoError) {
	if v == nil {
		return 0, perr(codeBadMessage, "%s is missing", name)
	}
	r := math.Round(*v)
	if r < float64(lo) || r > float64(hi) {
		return 0, perr(codeOutOfRange, "%s %v is not in %d..%d", name, *v, lo, hi)
	}
	return int(r), nil
}

// painter is one session's painting state and history. It is not safe for
// concurrent use; the websocket session guards it with a mutex.
type painter struct {
	srv *site
	// layer and id are those of history[cur], kept in fields because every
	// edit is validated against them.
	layer *layerEnv
	id    int64
	// history[cur] is the current state; entries before it are undo steps,
	// entries after it redo steps. A step holds its image as well as its
	// edits, so changing the image is undoable like a stroke.
	history    []step
	cur        int
	lastStroke uint32 // stroke id of the last applied message, 0 if it was no stroke part
	seq        uint32 // last applied seq
	seenSeq    uint32 // highest seq received
	// repair is the "repair artifacts" toggle: a view setting, not an undo
	// step, kept across images and in share tokens. It acts at layers with
	// an artifact ranking (repairOn).
	repair bool
}

// repairOn is whether the repair applies to the current state.
func (p *painter) repairOn() bool { return p.repair && len(p.layer.repair) > 0 }

// step is one state of the history: an image at a layer and its edits.
type step struct {
	layer *layerEnv
	id    int64
	edits []*edit
}

func newPainter(s *site, l *layerEnv, id int64, edits []*edit) *painter {
	return &painter{srv: s, layer: l, id: id, history: []step{{layer: l, id: id, edits: edits}}}
}

func (p *painter) edits() []*edit { return p.history[p.cur].edits }

func (p *painter) canUndo() bool { return p.cur > 0 }
func (p *painter) canRedo() bool { return p.cur < len(p.history)-1 }

// goTo makes history[i] the current state.
func (p *painter) goTo(i int) {
	p.cur = i
	p.layer, p.id = p.history[i].layer, p.history[i].id
}

// push makes edits of the current image the new current state.
func (p *painter) push(edits []*edit) {
	p.pushStep(step{layer: p.layer, id: p.id, edits: edits})
}

// pushStep makes st the new current state, dropping redo steps and the
// oldest undo steps beyond MaxHistory.
func (p *painter) pushStep(st step) {
	p.history = append(p.history[:p.cur+1], st)
	if over := len(p.history) - 1 - p.srv.cfg.MaxHistory; over > 0 {
		// Copy down so the dropped snapshots can be collected.
		n := copy(p.history, p.history[over:])
		clear(p.history[n:])
		p.history = p.history[:n]
	}
	p.goTo(len(p.history) - 1)
}

// apply validates m and applies it. It returns whether the state changed (a
// render is needed) and the error to report.
func (p *painter) apply(m *clientMsg) (changed bool, e *protoError) {
	switch m.T {
	case "format":
		return false, perr(codeBadMessage, "format is handled by the session")
	case "load", "open", "stroke", "erase_all", "delete", "undo", "redo", "reset", "repair":
	case "":
		return false, perr(codeBadMessage, "message has no type")
	default:
		return false, perr(codeBadMessage, "unknown message type %q", truncate(m.T, 32))
	}
	seq, ok := seqValue(m.Seq)
	if !ok {
		return false, perr(codeBadSeq, "seq must be an integer in 1..4294967295")
	}
	if seq <= p.seenSeq {
		return false, perr(codeBadSeq, "seq %d is not greater than %d", seq, p.seenSeq)
	}
	p.seenSeq = seq
	var err *protoError
	switch m.T {
	case "load":
		err = p.load(m)
	case "open":
		err = p.open(m)
	case "delete":
		err = p.deleteEdit(m)
	case "stroke":
		err = p.stroke(m)
	case "erase_all":
		err = p.eraseAll(m)
	case "undo":
		if !p.canUndo() {
			err = perr(codeNothingUndo, "nothing to undo")
		} else {
			p.goTo(p.cur - 1)
		}
	case "redo":
		if !p.canRedo() {
			err = perr(codeNothingRedo, "nothing to redo")
		} else {
			p.goTo(p.cur + 1)
		}
	case "reset":
		p.push(nil)
	case "repair":
		err = p.setRepair(m)
	}
	if err != nil {
		return false, err
	}
	if m.T != "stroke" {
		p.lastStroke = 0
	}
	p.seq = seq
	return true, nil
}

func (p *painter) load(m *clientMsg) *protoError {
	id, err := intField("id", m.ID, 0, p.srv.info.MaxID-1)
	if err != nil {
		return err
	}
	layer := p.layer
	if m.Layer != nil {
		l, ok := p.srv.layers[*m.Layer]
		if !ok {
			return perr(codeUnknownLayer, "layer %q cannot be painted", truncate(*m.Layer, 32))
		}
		layer = l
	}
	if layer == p.layer && id == p.id && len(p.edits()) == 0 {
		return nil // already showing it; no undo step that changes nothing
	}
	p.pushStep(step{layer: layer, id: id})
	return nil
}

func (p *painter) setRepair(m *clientMsg) *protoError {
	if m.On == nil {
		return perr(codeBadMessage, "repair needs \"on\": true or false")
	}
	if *m.On && len(p.layer.repair) == 0 {
		return perr(codeBadMessage, "layer %s has no artifact ranking to repair with", p.layer.info.Name)
	}
	p.repair = *m.On
	return nil
}

func (p *painter) eraseAll(m *clientMsg) *protoError {
	if m.Concept == nil && m.Custom == nil {
		return perr(codeBadMessage, "concept is missing")
	}
	if len(p.edits()) >= p.srv.cfg.MaxEdits {
		return perr(codeTooBig, "at most %d edits; undo or reset first", p.srv.cfg.MaxEdits)
	}
	se := painting.Edit{Mode: painting.Remove, Everywhere: true}
	if err := p.brushOf(m, &se); err != nil {
		return err
	}
	e, err := p.srv.newEdit(p.layer, se)
	if err != nil {
		return err
	}
	next := appendEdit(p.edits(), e)
	if err := p.shareable(next); err != nil {
		return err
	}
	p.push(next)
	return nil
}

// brushOf fills what an edit paints with from a stroke or erase_all
// message: a custom brush, or a concept with its units, brush and step.
// se.Mode must be set.
func (p *painter) brushOf(m *clientMsg, se *painting.Edit) *protoError {
	if m.Custom != nil {
		return p.srv.messageCustom(m, se)
	}
	ranked, err := p.srv.rankedUnits(p.layer, *m.Concept)
	if err != nil {
		return err
	}
	units, err := intField("units", m.Units, 1, int64(min(len(ranked), p.srv.cfg.MaxUnits)))
	if err != nil {
		return err
	}
	se.Concept, se.Units = *m.Concept, int(units)
	se.Brush, se.Step = p.brushNames(m, *m.Concept, se.Mode == painting.Remove)
	return nil
}

// shareable rejects a state whose share token would be too long, so the
// client's latest image can always be shared and reloaded.
func (p *painter) shareable(edits []*edit) *protoError {
	body, err := painting.Body(shareOf(p.srv.info.Name, p.layer, p.id, edits, p.repairOn()))
	if err != nil || len(body) > painting.MaxShareBody {
		return perr(codeTooBig, "this image holds too much brush data to share; undo or reset first")
	}
	return nil
}

func (p *painter) stroke(m *clientMsg) *protoError {
	if (m.Concept == nil && m.Custom == nil) || m.Mode == nil {
		return perr(codeBadMessage, "stroke needs concept and mode")
	}
	mode, merr := painting.ParseMode(*m.Mode)
	if merr != nil {
		return perr(codeBadMessage, "mode must be \"add\" or \"remove\"")
	}
	// A stroke paints with a concept's brush or with a custom one.
	want := painting.Edit{Mode: mode}
	if err := p.brushOf(m, &want); err != nil {
		return err
	}
	radius, err := roundedField("radius", m.Radius, 1, p.srv.cfg.MaxRadius)
	if err != nil {
		return err
	}
	var strokeID uint32
	if m.Stroke != nil {
		v, err := intField("stroke", m.Stroke, 1, maxSeq)
		if err != nil {
			return err
		}
		strokeID = uint32(v)
	}
	if len(m.Points) == 0 {
		return perr(codeBadMessage, "stroke has no points")
	}
	if len(m.Points) > p.srv.cfg.MaxPoints {
		return perr(codeTooBig, "%d points in one message, at most %d", len(m.Points), p.srv.cfg.MaxPoints)
	}
	pts, err := p.srv.points(p.layer, m.Points)
	if err != nil {
		return err
	}
	want.Radius, want.Points = radius, pts
	cur := p.edits()
	if strokeID != 0 && strokeID == p.lastStroke && len(cur) > 0 && cur[len(cur)-1].strokeID == strokeID {
		last := cur[len(cur)-1]
		if !sameBrush(last.Edit, want) {
			return perr(codeBadMessage, "a continued stroke must keep its concept, mode, units, radius, brush and strength")
		}
		if len(last.Points)+len(pts) > p.srv.cfg.MaxStrokePoints {
			return perr(codeTooBig, "a stroke has at most %d points; start a new one", p.srv.cfg.MaxStrokePoints)
		}
		ext := *last
		ext.Points = append(append(make([]painting.Point, 0, len(last.Points)+len(pts)), last.Points...), pts...)
		ext.mask = append([]float32(nil), last.mask...)
		// The joining segment from the previous last point is part of the
		// polyline, so the mask stays equal to a from-scratch rasterisation.
		last.env.grid.paintPolyline(ext.mask, ext.Points[len(last.Points)-1:], radius)
		next := append(append(make([]*edit, 0, len(cur)), cur[:len(cur)-1]...), &ext)
		if err := p.shareable(next); err != nil {
			return err
		}
		// Continuing replaces the current snapshot rather than adding an
		// undo step: the whole drag is one step.
		p.history[p.cur].edits = next
		p.history = p.history[:p.cur+1]
		return nil
	}
	if len(cur) >= p.srv.cfg.MaxEdits {
		return perr(codeTooBig, "at most %d edits; undo or reset first", p.srv.cfg.MaxEdits)
	}
	e, err := p.srv.newEdit(p.layer, want)
	if err != nil {
		return err
	}
	e.strokeID = strokeID
	next := appendEdit(cur, e)
	if err := p.shareable(next); err != nil {
		return err
	}
	p.push(next)
	p.lastStroke = strokeID
	return nil
}

// sameBrush is whether b may continue stroke a: everything but the points
// must match.
func sameBrush(a, b painting.Edit) bool {
	return a.Concept == b.Concept && a.Mode == b.Mode && a.Units == b.Units && a.Radius == b.Radius &&
		a.Brush == b.Brush && a.Step == b.Step && a.Custom.Equal(b.Custom)
}

// appendEdit returns a new slice: snapshots in the history share their
// elements and must never see each other's appends.
func appendEdit(cur []*edit, e *edit) []*edit {
	return append(append(make([]*edit, 0, len(cur)+1), cur...), e)
}

// rankedUnits resolves a concept name at a layer.
func (s *site) rankedUnits(l *layerEnv, concept string) ([]int, *protoError) {
	ranked := s.concepts.Ranked(l.info.Name, concept)
	if len(ranked) == 0 {
		return nil, perr(codeUnknownConcept, "unknown concept %q", truncate(concept, 32))
	}
	return ranked, nil
}

// points rounds and range-checks client coordinates.
func (s *site) points(l *layerEnv, raw [][]float64) ([]painting.Point, *protoError) {
	pts := make([]painting.Point, len(raw))
	for i, xy := range raw {
		if len(xy) != 2 {
			return nil, perr(codeBadMessage, "point %d must be [x, y]", i)
		}
		x, y := math.Round(xy[0]), math.Round(xy[1])
		if x < 0 || x >= float64(l.grid.imageW) || y < 0 || y >= float64(l.grid.imageH) {
			return nil, perr(codeOutOfRange, "point (%v, %v) is outside the %d×%d image", xy[0], xy[1], l.grid.imageW, l.grid.imageH)
		}
		pts[i] = painting.Point{X: int(x), Y: int(y)}
	}
	return pts, nil
}

// newEdit validates one edit at layer l and builds its mask. Live messages
// and share tokens both go through here, so a token can only describe
// states a client could have painted.
func (s *site) newEdit(l *layerEnv, se painting.Edit) (*edit, *protoError) {
	if se.Custom != nil {
		return s.newCustomEdit(l, se)
	}
	ranked, err := s.checkEdit(l, se)
	if err != nil {
		return nil, err
	}
	b, st, env, err := s.brushEnv(l, se)
	if err != nil {
		return nil, err
	}
	e := &edit{
		Edit:     se,
		unitList: append([]int(nil), ranked[:se.Units]...),
		mask:     make([]float32, env.grid.cells()),
		strength: st.Strength,
		env:      env,
	}
	if !b.Ranked {
		e.unitList, e.weights, e.values = b.Units, b.Weights, b.Values
	}
	e.paint()
	return e, nil
}

// paint fills the mask of a new edit: the whole grid, or the stroke.
func (e *edit) paint() {
	if e.Everywhere {
		for i := range e.mask {
			e.mask[i] = 1
		}
		return
	}
	e.env.grid.paintPolyline(e.mask, e.Points, e.Radius)
}

// brushEnv resolves an edit's brush and step, and the layer it paints at:
// a recipe trained at a later layer paints there.
func (s *site) brushEnv(l *layerEnv, se painting.Edit) (Brush, Step, *layerEnv, *protoError) {
	b, st, err := s.resolveBrush(l.info.Name, se.Concept, se.Mode == painting.Remove, se.Brush, se.Step)
	if err != nil {
		return Brush{}, Step{}, nil, err
	}
	env := l
	if b.Layer != "" && b.Layer != l.info.Name {
		if env = s.layers[b.Layer]; env == nil {
			return Brush{}, Step{}, nil, perr(codeUnknownBrush, "brush %q paints at layer %s, which cannot be painted", truncate(b.Name, 48), b.Layer)
		}
	}
	return b, st, env, nil
}

// checkEdit is every check of newEdit that does not rasterise; it returns
// the concept's ranked units.
func (s *site) checkEdit(l *layerEnv, se painting.Edit) ([]int, *protoError) {
	if se.Custom != nil {
		return se.Custom.Units, s.checkCustomEdit(l, se)
	}
	ranked, err := s.rankedUnits(l, se.Concept)
	if err != nil {
		return nil, err
	}
	if se.Units < 1 || se.Units > min(len(ranked), s.cfg.MaxUnits) {
		return nil, perr(codeOutOfRange, "units %d is not in 1..%d", se.Units, min(len(ranked), s.cfg.MaxUnits))
	}
	if err := s.checkStroke(l, se); err != nil {
		return nil, err
	}
	if se.Everywhere {
		return ranked, nil
	}
	if _, _, _, err := s.brushEnv(l, se); err != nil {
		return nil, err
	}
	return ranked, nil
}

// checkStroke checks where an edit paints: everywhere (removal only) or a
// stroke of 1..MaxStrokePoints points in the image.
func (s *site) checkStroke(l *layerEnv, se painting.Edit) *protoError {
	if se.Everywhere {
		if se.Mode != painting.Remove {
			return perr(codeBadMessage, "only removal can apply everywhere")
		}
		return nil
	}
	if se.Radius < 1 || se.Radius > s.cfg.MaxRadius {
		return perr(codeOutOfRange, "radius %d is not in 1..%d", se.Radius, s.cfg.MaxRadius)
	}
	if len(se.Points) == 0 || len(se.Points) > s.cfg.MaxStrokePoints {
		return perr(codeTooBig, "a stroke has 1..%d points", s.cfg.MaxStrokePoints)
	}
	for _, pt := range se.Points {
		if pt.X < 0 || pt.X >= l.grid.imageW || pt.Y < 0 || pt.Y >= l.grid.imageH {
			return perr(codeOutOfRange, "point (%d, %d) is outside the %d×%d image", pt.X, pt.Y, l.grid.imageW, l.grid.imageH)
		}
	}
	return nil
}

// painterFromShare validates a decoded share state against the model.
func (s *site) painterFromShare(st painting.State) (*painter, *protoError) {
	if st.Model != s.info.Name {
		if _, ok := s.sites[st.Model]; ok {
			// A session paints with one model for its whole life.
			return nil, perr(codeBadState, "the link is for the model %q and this page paints with %q: open the link in a new page", truncate(st.Model, 32), s.info.Name)
		}
		return nil, perr(codeUnknownModel, "this link was made with the model %q, which this server does not have (it has %s)", truncate(st.Model, 32), s.modelNames())
	}
	l, ok := s.layers[st.Layer]
	if !ok {
		return nil, perr(codeBadState, "layer %q cannot be painted", truncate(st.Layer, 32))
	}
	if st.ID < 0 || st.ID >= s.info.MaxID {
		return nil, perr(codeBadState, "image id %d is out of range", st.ID)
	}
	if len(st.Edits) > s.cfg.MaxEdits {
		return nil, perr(codeBadState, "%d edits, at most %d", len(st.Edits), s.cfg.MaxEdits)
	}
	// Everything is checked before the first stroke is rasterised, so a
	// token that will be rejected costs no brush work.
	if body, err := painting.Body(st); err != nil || len(body) > painting.MaxShareBody {
		return nil, perr(codeBadState, "the link holds more brush data than this server accepts")
	}
	for _, se := range st.Edits {
		if _, err := s.checkEdit(l, se); err != nil {
			return nil, perr(codeBadState, "%s", err.Message)
		}
	}
	edits := make([]*edit, 0, len(st.Edits))
	for _, se := range st.Edits {
		e, err := s.newEdit(l, se)
		if err != nil {
			return nil, perr(codeBadState, "%s", err.Message)
		}
		edits = append(edits, e)
	}
	if st.Repair && len(l.repair) == 0 {
		return nil, perr(codeBadState, "the link repairs artifacts, but layer %s has no artifact ranking here", l.info.Name)
	}
	p := newPainter(s, l, st.ID, edits)
	p.repair = st.Repair
	return p, nil
}

// defaultPainter starts at the default layer and first sample image.
func (s *site) defaultPainter() *painter {
	return newPainter(s, s.layers[s.defaultLayer], s.defaultID, nil)
}

// share describes the current state as a share state.
func shareOf(model string, l *layerEnv, id int64, edits []*edit, repair bool) painting.State {
	st := painting.State{Model: model, Layer: l.info.Name, ID: id, Repair: repair}
	for _, e := range edits {
		st.Edits = append(st.Edits, e.Edit)
	}
	return st
}

// engineEdits converts edits for the Engine.
func engineEdits(edits []*edit) []Edit {
	out := make([]Edit, len(edits))
	for i, e := range edits {
		out[i] = e.engine()
	}
	return out
}

// engine is the edit as the Engine applies it: the one conversion from a
// resolved painter edit to the engine's.
func (e *edit) engine() Edit {
	mode := inference.ModeAdd
	switch {
	case e.weights != nil:
		mode = inference.ModeBlend
	case e.Removes():
		mode = inference.ModeRemove
	}
	return Edit{Layer: e.env.info.Name, Edit: inference.Edit{Units: e.unitList, Mode: mode, Strength: e.strength,
		Weights: e.weights, Values: e.values, Mask: e.env.grid.mask(e.mask)}}
}

// truncate shortens client-supplied text before it is echoed in an error.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
