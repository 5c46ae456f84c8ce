package server

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// GrowthMap says, per block of a layer's grid, whether inserting a
// concept's top units there makes the concept appear ("a door grows on a
// wall, not in the sky"). Blocks are the grid's cells, or groups of cells
// when the grid is finer than MaxGrowthSide.
type GrowthMap struct {
	Layer   string `json:"layer"`
	Concept string `json:"concept"`
	// Source is "dissection" (the dissection's location map, measured on a
	// few images per block) or "image" (measured on this image).
	Source string `json:"source"`
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	// Rate is, per block (row-major), the share of tries where the concept
	// covered at least AppearShare of the block after the insertion.
	Rate []float64 `json:"rate"`
	// Present marks blocks where the concept already is (image), or was in
	// every image tried (dissection): there is nothing to grow.
	Present []bool `json:"present"`
	// K units inserted, Images tried per block.
	K           int     `json:"k"`
	Images      int     `json:"images"`
	AppearShare float64 `json:"appear_share"`
	// MS is the measurement's time on the server (image maps).
	MS float64 `json:"ms,omitempty"`
}

// MaxGrowthSide caps a measured map at 8×8 blocks, as the dissection's
// location maps are: 64 generator runs per image.
const MaxGrowthSide = 8

// DefaultGrowthUnits is how many top units an image measurement inserts,
// the dissection's location-map k.
const DefaultGrowthUnits = 20

// DefaultAppearShare: a concept "appears" in a block when it covers this
// share of it (the dissection's default).
const DefaultAppearShare = 0.2

// Growth provides the "where can it grow" overlay. Optional (Deps.Growth).
type Growth interface {
	// GrowthMap returns the dissection's location map of concept at layer,
	// or false when there is none.
	GrowthMap(layer, concept string) (*GrowthMap, bool)
	// MeasureGrowth inserts units in each block of f's grid in turn, on top
	// of edits, and reports where concept then covers at least appear of
	// the block.
	MeasureGrowth(ctx context.Context, f Features, edits []Edit, units []int, concept string, appear float64) (*GrowthMap, error)
}

// handleGrowth answers GET /api/growth?state=TOKEN&concept=C[&image=1].
func (s *Server) handleGrowth(w http.ResponseWriter, r *http.Request) error {
	c, bad := s.choose(r.URL.Query())
	var err error
	if bad != nil {
		err = restError(bad)
	} else {
		p := c.p
		if p == nil {
			p = c.site.defaultPainter()
		}
		err = c.site.handleGrowth(w, r, p)
	}
	c.site.m.countAnalysis("growth", err)
	return err
}

// handleGrowth answers for p's image on this model.
func (s *site) handleGrowth(w http.ResponseWriter, r *http.Request, p *painter) error {
	if s.growth == nil {
		return httpErr(http.StatusNotFound, "growth maps are not available for the model %q (it has no segmenter)", s.info.Name)
	}
	q := r.URL.Query()
	concept := q.Get("concept")
	ranked, bad := s.rankedUnits(p.layer, concept)
	if bad != nil {
		return httpErr(http.StatusBadRequest, "%s", bad.Message)
	}
	dm, hasMap := s.growth.GrowthMap(p.layer.info.Name, concept)
	if q.Get("image") == "" {
		if !hasMap {
			return httpErr(http.StatusNotFound, "the dissection has no location map of %s at %s; measure it on this image instead", truncate(concept, 32), p.layer.info.Name)
		}
		writeJSON(w, http.StatusOK, dm)
		return nil
	}
	select {
	case s.compareSlots <- struct{}{}:
		defer func() { <-s.compareSlots }()
	default:
		w.Header().Set("Retry-After", "2")
		return httpErr(http.StatusServiceUnavailable, "busy measuring for others, try again")
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RenderTimeout)
	defer cancel()
	appear := DefaultAppearShare
	if hasMap && dm.AppearShare > 0 {
		appear = dm.AppearShare
	}
	start := time.Now()
	f, err := s.engine.Features(ctx, p.layer.info.Name, p.id)
	var gm *GrowthMap
	if err == nil {
		units := ranked[:min(DefaultGrowthUnits, len(ranked), s.cfg.MaxUnits)]
		gm, err = s.growth.MeasureGrowth(ctx, f, p.layer.withRepair(p.repair, p.edits()), units, concept, appear)
	}
	if err != nil {
		return fmt.Errorf("growth: %w", err)
	}
	gm.MS = msSince(start)
	writeJSON(w, http.StatusOK, gm)
	return nil
}
