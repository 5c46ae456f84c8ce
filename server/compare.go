package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"net/http"
	"time"

	"github.com/ganpaint-go/ganpaint/compare"
	"github.com/ganpaint-go/ganpaint/inpaint"
)

// Comparer is what the compare panel needs besides the Engine: the
// segmenter's mask of a concept (the recogniser that "remove everywhere"
// needs to give the other methods a region) and the methods that fill a
// mask. Implementations must be safe for concurrent use.
type Comparer interface {
	// ConceptMask segments img and returns the concept's pixels, grown as
	// the fills need them (compare.DefaultDilate).
	ConceptMask(ctx context.Context, img *image.RGBA, concept string) (*image.Gray, error)
	// Fill runs every filling method on img and mask, in display order:
	// learned inpainting (compare.ErrUnavailable when the model has none),
	// Navier–Stokes, Telea.
	Fill(ctx context.Context, img *image.RGBA, mask *image.Gray) ([]compare.Fill, error)
}

// CompareResult is the answer of GET /api/compare (docs/protocol.md).
type CompareResult struct {
	ID      int64  `json:"id"`
	Layer   string `json:"layer"`
	Concept string `json:"concept"`
	// Scope is "stroke" (the brushed cells are the mask) or "everywhere"
	// (the segmenter's mask of the concept).
	Scope string `json:"scope"`
	// MaskShare is the share of the image the other methods fill.
	MaskShare float64 `json:"mask_share"`
	// MaskMS is the segmenter's time for an "everywhere" mask.
	MaskMS float64 `json:"mask_ms,omitempty"`
	// Mask and Before are PNG data URLs: the filled region (white) and the
	// image before the removal.
	Mask    string          `json:"mask"`
	Before  string          `json:"before"`
	Methods []CompareMethod `json:"methods"`
}

// CompareMethod is one tile of the panel.
type CompareMethod struct {
	Method    string  `json:"method"`
	Label     string  `json:"label"`
	Available bool    `json:"available"`
	Reason    string  `json:"reason,omitempty"`
	MS        float64 `json:"ms"`
	Image     string  `json:"image,omitempty"`
}

// handleCompare answers GET /api/compare?state=TOKEN: the token's last edit
// must be a removal (a remove stroke or "remove everywhere"); the answer
// shows the image before it and the removal four ways.
func (s *Server) handleCompare(w http.ResponseWriter, r *http.Request) error {
	c, bad := s.choose(r.URL.Query())
	var err error
	switch {
	case bad != nil:
		err = restError(bad)
	case c.p == nil:
		err = httpErr(http.StatusBadRequest, "state is missing: paint something first")
	default:
		err = c.site.handleCompare(w, r, c.p)
	}
	c.site.m.countAnalysis("compare", err)
	return err
}

// handleCompare compares p's last edit on this model.
func (s *site) handleCompare(w http.ResponseWriter, r *http.Request, p *painter) error {
	if s.comparer == nil {
		return httpErr(http.StatusNotFound, "comparison is not available for the model %q (it has no segmenter)", s.info.Name)
	}
	edits := p.edits()
	if len(edits) == 0 || !edits[len(edits)-1].Removes() {
		return httpErr(http.StatusConflict, "the last edit is not a removal: remove something (a stroke in Remove mode, or Remove everywhere) to compare")
	}
	if last := edits[len(edits)-1]; last.Custom != nil && last.Everywhere {
		// "Everywhere" is where the segmenter sees the concept; a custom
		// brush has none.
		return httpErr(http.StatusConflict, "a custom brush removed everywhere has no concept to find: remove with a stroke to compare")
	}
	select {
	case s.compareSlots <- struct{}{}:
		defer func() { <-s.compareSlots }()
	default:
		w.Header().Set("Retry-After", "2")
		return httpErr(http.StatusServiceUnavailable, "busy comparing for others, try again")
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RenderTimeout)
	defer cancel()
	res, err := s.compareState(ctx, p)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *site) compareState(ctx context.Context, p *painter) (*CompareResult, error) {
	edits := p.edits()
	last := edits[len(edits)-1]
	f, err := s.engine.Features(ctx, p.layer.info.Name, p.id)
	if err != nil {
		return nil, err
	}
	before, err := s.engine.Render(ctx, f, p.layer.withRepair(p.repairOn(), edits[:len(edits)-1]))
	if err != nil {
		return nil, err
	}
	// The GAN's time is what a stroke costs: the edits on the cached layer
	// activations and the rest of the generator.
	start := time.Now()
	gan, err := s.engine.Render(ctx, f, p.layer.withRepair(p.repairOn(), edits))
	if err != nil {
		return nil, err
	}
	ganMS := msSince(start)

	res := &CompareResult{ID: p.id, Layer: p.layer.info.Name, Concept: last.Label(), Scope: compare.ScopeStroke}
	var mask *image.Gray
	if last.Everywhere {
		res.Scope = compare.ScopeEverywhere
		start := time.Now()
		if mask, err = s.comparer.ConceptMask(ctx, before, last.Concept); err != nil {
			return nil, err
		}
		res.MaskMS = msSince(start)
	} else {
		g := p.layer.grid
		if mask, err = inpaint.MaskFromCells(last.mask, g.cols, g.rows, g.imageW, g.imageH); err != nil {
			return nil, err
		}
	}
	n := 0
	for _, v := range mask.Pix {
		if v != 0 {
			n++
		}
	}
	res.MaskShare = float64(n) / float64(len(mask.Pix))
	fills, err := s.comparer.Fill(ctx, before, mask)
	if err != nil {
		return nil, err
	}
	if res.Mask, err = dataURL(mask); err != nil {
		return nil, err
	}
	if res.Before, err = dataURL(before); err != nil {
		return nil, err
	}
	ganURL, err := dataURL(gan)
	if err != nil {
		return nil, err
	}
	res.Methods = append(res.Methods, CompareMethod{Method: compare.MethodGAN, Label: compare.Labels[compare.MethodGAN],
		Available: true, MS: ganMS, Image: ganURL})
	for _, fl := range fills {
		m := CompareMethod{Method: fl.Method, Label: compare.Labels[fl.Method]}
		switch {
		case errors.Is(fl.Err, compare.ErrUnavailable):
			m.Reason = compare.ErrUnavailable.Error()
		case errors.Is(fl.Err, inpaint.ErrNothingKnown):
			m.Reason = "the region covers the whole image"
		case fl.Err != nil:
			return nil, fl.Err
		default:
			m.Available = true
			m.MS = float64(fl.Elapsed) / float64(time.Millisecond)
			if m.Image, err = dataURL(fl.Image); err != nil {
				return nil, err
			}
		}
		res.Methods = append(res.Methods, m)
	}
	return res, nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / float64(time.Millisecond) }

// dataURL encodes img as a PNG data URL (the page's CSP allows data: images).
func dataURL(img image.Image) (string, error) {
	var buf bytes.Buffer
	if err := encodePNG(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
