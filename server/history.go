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
	// Cell by cell of from rather than pixel by pixel: a state message
	// summarises every edit, and a pixel loop made this a seventh of a
	// loaded server's CPU.
	out := make([]float32, to.cells())
	for r := 0; r < from.rows; r++ {
		ty0, ty1, ok := coverSpan(r, from.rows, from.imageH, to.rows, to.imageH)
		if !ok {
			continue
		}
		for c := 0; c < from.cols; c++ {
			if mask[r*from.cols+c] == 0 {
				continue
			}
			tx0, tx1, ok := coverSpan(c, from.cols, from.imageW, to.cols, to.imageW)
			if !ok {
				continue
			}
			for ty := ty0; ty <= ty1; ty++ {
				for tx := tx0; tx <= tx1; tx++ {
					out[ty*to.cols+tx] = 1
				}
			}
		}
	}
	return out
}

// coverSpan gives the cells [t0, t1] of a to-grid axis (tn cells over tsize
// pixels) that hold a pixel p < tsize of cell i of a from-grid axis (n cells
// over size pixels, p*n/size == i); ok is false when no such pixel exists.
func coverSpan(i, n, size, tn, tsize int) (t0, t1 int, ok bool) {
	p0 := (i*size + n - 1) / n               // first p with p*n/size >= i
	p1 := min(((i+1)*size+n-1)/n, tsize) - 1 // last p with p*n/size <= i, inside to's pixels
	if p0 > p1 {
		return 0, 0, false
	}
	return p0 * tn / tsize, p1 * tn / tsize, true
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
