package server

import (
	"encoding/hex"

	"github.com/ganpaint-go/ganpaint/painting"
)

// open makes the state of a share token current, as one undo step, so a
// client can go back to an earlier painting (the browser's Back button, an
// image it painted before) without a new connection.
func (p *painter) open(m *clientMsg) *protoError {
	if m.State == nil || *m.State == "" {
		return perr(codeBadMessage, "state is missing")
	}
	q, err := p.srv.decodeShare(*m.State)
	if err != nil {
		return err
	}
	p.pushStep(q.history[q.cur])
	p.repair = q.repair
	return nil
}

// deleteEdit removes one edit from the current list, as one undo step.
func (p *painter) deleteEdit(m *clientMsg) *protoError {
	cur := p.edits()
	if len(cur) == 0 {
		return perr(codeOutOfRange, "there is no edit to delete")
	}
	i, err := intField("edit", m.Edit, 0, int64(len(cur)-1))
	if err != nil {
		return err
	}
	next := make([]*edit, 0, len(cur)-1)
	next = append(append(next, cur[:i]...), cur[i+1:]...)
	p.push(next)
	return nil
}

// editSummary is one entry of a state message's edit_list: what a client
// needs to list an edit and outline the layer-grid cells it changes.
type editSummary struct {
	painting.Summary
	// Cells is the edit's mask as hex digits, four cells per digit in
	// row-major order, the first cell of each four in the digit's highest
	// bit (docs/protocol.md).
	Cells string `json:"cells"`
}

// summarize describes edits; cells are always on grid (the session's
// layer), so an edit made at a finer layer is shown by the cells it touches.
func summarize(edits []*edit, g grid) []editSummary {
	out := make([]editSummary, len(edits))
	for i, e := range edits {
		out[i] = editSummary{Summary: e.Summary(),
			Cells: cellHex(onGrid(e.mask, e.env.grid, g))}
	}
	return out
}

// onGrid re-expresses a mask of grid from on grid to: a cell of to is set
// when any pixel it covers lies in a set cell of from.
func onGrid(mask []float32, from, to grid) []float32 {
	if from.cols == to.cols && from.rows == to.rows {
		return mask
	}
	out := make([]float32, to.cells())
	for y := 0; y < to.imageH; y++ {
		for x := 0; x < to.imageW; x++ {
			if mask[(y*from.rows/from.imageH)*from.cols+x*from.cols/from.imageW] != 0 {
				out[(y*to.rows/to.imageH)*to.cols+x*to.cols/to.imageW] = 1
			}
		}
	}
	return out
}

// cellHex packs a 0/1 mask into hex digits, four cells each.
func cellHex(mask []float32) string {
	nibbles := make([]byte, (len(mask)+3)/4)
	for i, v := range mask {
		if v != 0 {
			nibbles[i/4] |= 8 >> (i % 4)
		}
	}
	// Two nibbles a byte for hex.EncodeToString, then drop the padding.
	packed := make([]byte, (len(nibbles)+1)/2)
	for i, n := range nibbles {
		packed[i/2] |= n << (4 * (1 - i%2))
	}
	return hex.EncodeToString(packed)[:len(nibbles)]
}
