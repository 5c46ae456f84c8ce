package efficacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// File is the report's name inside the model directory.
const File = "efficacy.json"

// Markers delimit the table in MODEL.md, so a rerun replaces it.
const (
	BeginMarker = "<!-- efficacy:begin (written by `ganpaint efficacy`; edits inside are replaced) -->"
	EndMarker   = "<!-- efficacy:end -->"
)

func pct(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }

// baseline is the row the painter used before recipes: the IoU ranking at
// strength 1.
func baseline(c ConceptResult) (InsertResult, bool) {
	for _, r := range c.Insert {
		if r.Kind == "iou" && r.Strength == 1 {
			return r, true
		}
	}
	return InsertResult{}, false
}

func baselineRemove(c ConceptResult) (RemoveResult, bool) {
	for _, r := range c.Remove {
		if r.Kind == "iou" && r.Strength == 1 {
			return r, true
		}
	}
	return RemoveResult{}, false
}

func findInsert(c ConceptResult, brush, layer, step string) (InsertResult, bool) {
	for _, r := range c.Insert {
		if r.Brush == brush && r.Layer == layer && r.Step == step {
			return r, true
		}
	}
	return InsertResult{}, false
}

func findRemove(c ConceptResult, brush, layer, step string) (RemoveResult, bool) {
	for _, r := range c.Remove {
		if r.Brush == brush && r.Layer == layer && r.Step == step {
			return r, true
		}
	}
	return RemoveResult{}, false
}

// WriteMarkdown writes the summary tables (the painter's default brush per
// concept against the IoU ranking at strength 1) and the table of every
// brush and step.
func (r *Report) WriteMarkdown(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "Measured by `ganpaint efficacy` on %d held-out images (ids from %.0f%% of max_id on, %d dissection ids skipped), "+
		"regions of %d×%d px (a %d×%d tiling). Painting succeeds when the concept covers ≥ %.0f%% of the region after the stroke "+
		"and rose by ≥ %.0f points; regions where it already covered ≥ %.0f%% are not tried. *Plausible* regions follow the rules "+
		"in docs/efficacy.md; *all* weights plausible and other regions by their numbers. Leak: share of labels changed in a %d px "+
		"ring around the region (near) and beyond (far). %d probes in %.0f s%s.\n\n",
		s.Images, 100*s.IDRange[0], s.Excluded, s.RegionPx[0], s.RegionPx[1], s.Side, s.Side, 100*s.SuccessShare,
		100*s.SuccessRise, 100*s.EligibleBelow, s.RingPx, r.Probes, r.Seconds, r.machine())
	fmt.Fprintln(w, "**Painting** (painter's default brush and step; before: IoU ranking, 15 units at strength 1)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| concept | brush | step | success, plausible | success, all | rise | leak near | leak far | before: success, plausible |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var sumAfter, sumBefore float64
	n := 0
	for _, c := range r.Concepts {
		ch, ok := r.Brushes[c.Concept]
		if !ok || ch.Add == nil {
			continue
		}
		row, ok := findInsert(c, ch.Add.Brush, ch.Add.Layer, ch.Add.Default)
		if !ok {
			continue
		}
		before := "–"
		if b, ok := baseline(c); ok {
			before = pct(b.Success)
			sumBefore += b.Success
		}
		sumAfter += row.Success
		n++
		fmt.Fprintf(w, "| %s | %s (%s) | %s %.2g | %s | %s | %.2f | %s | %s | %s |\n", c.Concept, row.Brush, row.Layer, row.Step, row.Strength,
			pct(row.Success), pct(row.SuccessAll), row.Rise, pct(row.LeakNear), pct(row.LeakFar), before)
	}
	if n > 0 {
		fmt.Fprintf(w, "| **mean** | | | **%s** | | | | | %s |\n", pct(sumAfter/float64(n)), pct(sumBefore/float64(n)))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**Erasing** (painter's default; in region: regions the concept covered ≥ half of; everywhere: whole-image stroke on images showing it; before: IoU ranking, 15 units)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| concept | brush | step | in region: drop | regions losing ≥ half | everywhere: drop | images losing ≥ half | other labels changed | before: everywhere drop |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range r.Concepts {
		ch, ok := r.Brushes[c.Concept]
		if !ok || ch.Remove == nil {
			continue
		}
		row, ok := findRemove(c, ch.Remove.Brush, ch.Remove.Layer, ch.Remove.Default)
		if !ok {
			continue
		}
		before := "–"
		if b, ok := baselineRemove(c); ok {
			before = pct(b.Drop)
		}
		region := "–"
		half := "–"
		if c.UsedPresent > 0 {
			region, half = pct(row.RegionDrop), pct(row.RegionHalf)
		}
		fmt.Fprintf(w, "| %s | %s (%s) | %s %.2g | %s | %s | %s | %s | %s | %s |\n", c.Concept, row.Brush, row.Layer, row.Step, row.Strength,
			region, half, pct(row.Drop), pct(row.Half), pct(row.Damage), before)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "<details><summary>Every brush at every step</summary>")
	fmt.Fprintln(w)
	r.WriteAll(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "</details>")
}

func (r *Report) machine() string {
	out := ""
	if r.CPUs > 0 {
		out = fmt.Sprintf(" on %d CPUs", r.CPUs)
	}
	if len(r.Load) == 2 {
		out += fmt.Sprintf(" (load average %.1f at the start, %.1f at the end)", r.Load[0], r.Load[1])
	}
	return out
}

// WriteAll writes one markdown row per brush and step.
func (r *Report) WriteAll(w io.Writer) {
	fmt.Fprintln(w, "| concept | brush | layer | step | strength | success, plausible | success, all | rise | leak near (to other classes) | leak far |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range r.Concepts {
		for _, x := range c.Insert {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.3g | %s | %s | %.2f | %s (%s) | %s |\n", c.Concept, x.Brush, x.Layer, x.Step, x.Strength,
				pct(x.Success), pct(x.SuccessAll), x.Rise, pct(x.LeakNear), pct(x.LeakNearOther), pct(x.LeakFar))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| concept | brush (erase) | layer | step | strength | in region: drop | regions ≥ half | everywhere: drop | images ≥ half | other labels changed |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range r.Concepts {
		for _, x := range c.Remove {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.3g | %s | %s | %s | %s | %s |\n", c.Concept, x.Brush, x.Layer, x.Step, x.Strength,
				pct(x.RegionDrop), pct(x.RegionHalf), pct(x.Drop), pct(x.Half), pct(x.Damage))
		}
	}
}

// Save writes the report to dir/efficacy.json through a temporary file and
// a rename.
func (r *Report) Save(dir string) error {
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return fmt.Errorf("efficacy: encode: %w", err)
	}
	return writeAtomic(filepath.Join(dir, File), append(data, '\n'))
}

// Load parses an efficacy.json of this version.
func Load(data []byte) (*Report, error) {
	var v struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("efficacy: %s: %w", File, err)
	}
	if v.SchemaVersion != ReportVersion {
		return nil, fmt.Errorf("efficacy: %s is version %d, this build reads %d; rerun `ganpaint efficacy`", File, v.SchemaVersion, ReportVersion)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("efficacy: %s: %w", File, err)
	}
	return &r, nil
}

// UpdateModelCard replaces the text between the markers in the model card
// (MODEL.md) with the report's tables, or appends a section holding them.
func (r *Report) UpdateModelCard(path string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("efficacy: %w", err)
	}
	var tbl bytes.Buffer
	r.WriteMarkdown(&tbl)
	block := BeginMarker + "\n" + tbl.String() + EndMarker
	text := string(old)
	i, j := strings.Index(text, BeginMarker), strings.Index(text, EndMarker)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + block + text[j+len(EndMarker):]
	case i >= 0 || j >= 0:
		return fmt.Errorf("efficacy: %s has only one of the efficacy markers; fix it by hand", path)
	default:
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "\n## Brush efficacy\n\n" + block + "\n"
	}
	return writeAtomic(path, []byte(text))
}

func writeAtomic(dst string, data []byte) error {
	if err := atomicfile.WriteBytes(dst, data); err != nil {
		return fmt.Errorf("efficacy: write %s: %w", dst, err)
	}
	return nil
}
