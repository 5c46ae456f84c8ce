package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ganpaint-go/ganpaint/report"
)

// reportAssets are the files the report pages reference.
func reportAssets() []string { return []string{"report.css", "report.js", "editor.js", "icon.svg"} }

// Report renders the dissection report's pages (docs/report.md) from a
// report.Report: the overview, one page per layer and one per unit, and the
// unit editor. The same pages serve the live server and the static report;
// only the Links differ. It is safe for concurrent use and implements
// server.ReportPages.
type Report struct {
	rep    *report.Report
	links  report.Links
	assets *Assets
}

// NewReport returns the pages of rep, linking with links.
func NewReport(rep *report.Report, links report.Links, a *Assets) (*Report, error) {
	if rep == nil || a == nil {
		return nil, errors.New("web: NewReport needs a report and assets")
	}
	for _, name := range reportAssets() {
		if _, err := a.Lookup(name); err != nil {
			return nil, err
		}
	}
	return &Report{rep: rep, links: links, assets: a}, nil
}

// asset is a static file's URL: absolute on the server, relative (static/…)
// in the static report, which copies the files next to its pages.
func (p *Report) asset(name string) string {
	u := p.assets.URL(name)
	if p.links.Static() {
		return strings.TrimPrefix(u, "/")
	}
	return u
}

// pageHead is what every report page's <head> and top bar need.
type pageHead struct {
	Title    string
	Model    string
	CSS, JS  string
	Icon     string
	Index    string
	Painter  string
	Editor   string
	Layers   []navLink
	Current  string // the layer the page is about, for the nav
	Subtitle string
}

type navLink struct {
	Name, URL string
}

func (p *Report) head(title, current string) pageHead {
	h := pageHead{Title: title, Model: p.rep.Title, CSS: p.asset("report.css"), JS: p.asset("report.js"),
		Icon: p.asset("icon.svg"), Index: p.links.Index(), Painter: p.links.Painter(), Editor: p.links.Editor(), Current: current}
	for _, l := range p.rep.Layers {
		h.Layers = append(h.Layers, navLink{Name: l.Layer.Layer, URL: p.links.Layer(l.Layer.Layer)})
	}
	return h
}

// ---- overview ----

type indexView struct {
	Head       pageHead
	Layers     []layerSummary
	Comparison comparisonChart
}

type layerSummary struct {
	Name, URL string
	Sentence  string
	Shape     string
	Method    string
	Samples   int
	Chart     svgChart
}

func summarySentence(l *report.Layer) string {
	return fmt.Sprintf("%d of %d units are interpretable and cover %d concepts", l.Interpretable, len(l.Units), l.Concepts)
}

func (p *Report) conceptData(l *report.Layer) []barDatum {
	out := make([]barDatum, 0, len(l.Counts))
	for _, c := range l.Counts {
		href := ""
		if !p.links.Static() {
			href = p.links.Layer(l.Layer.Layer) + "?concept=" + c.Name
		}
		out = append(out, barDatum{Label: c.Name, Color: c.Color, Value: float64(c.Units),
			Title: fmt.Sprintf("%s: %d interpretable units", c.Name, c.Units), Href: href})
	}
	return out
}

// Index writes the overview: every layer's summary and the layer comparison.
func (p *Report) Index(w io.Writer) error {
	v := indexView{Head: p.head("Dissection · "+p.rep.Title, "")}
	var names []string
	for _, l := range p.rep.Layers {
		name := l.Layer.Layer
		names = append(names, name)
		v.Layers = append(v.Layers, layerSummary{Name: name, URL: p.links.Layer(name), Sentence: summarySentence(l),
			Shape: fmt.Sprintf("%d units, %d×%d", l.Channels, l.Height, l.Width), Method: l.ThresholdMethod, Samples: l.Samples,
			Chart: conceptBars(name+": interpretable units per concept", p.conceptData(l))})
	}
	var concepts []barDatum
	for _, c := range p.rep.AllConcepts() {
		concepts = append(concepts, barDatum{Label: c.Name, Color: c.Color})
	}
	v.Comparison = layerComparison("Interpretable units per concept in every layer", names, concepts,
		func(layer, concept string) int {
			l, _ := p.rep.Layer(layer)
			return l.Count(concept)
		}, p.links.Layer)
	return reportIndexPage(v).Render(context.Background(), w)
}

// ---- layer page ----

type layerView struct {
	Head      pageHead
	Name      string
	Sentence  string
	Details   string
	Chart     svgChart
	Cards     []unitCard
	Sorts     []option
	Filters   []option
	Causal    []causalView
	GridData  gridData
	StripW    int
	StripH    int
	Interp    int
	Total     int
	EditorURL string
}

type option struct {
	Value, Label string
}

type unitCard struct {
	Unit          int
	Label         string
	Color         string
	IoU           string
	IoUValue      string
	Interpretable bool
	Strip         string
	Detail        string
	Alt           string
}

// gridData is the JSON report.js sorts and filters the grid with: for
// every ranking, the units in ranking order.
type gridData struct {
	Layer    string           `json:"layer"`
	Rankings map[string][]int `json:"rankings"`
}

func iouText(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// Layer writes a layer's page: summary, bar chart, causal effects and the
// unit grid.
func (p *Report) Layer(w io.Writer, name string) error {
	l, err := p.rep.Layer(name)
	if err != nil {
		return err
	}
	v := layerView{Head: p.head(name+" · Dissection · "+p.rep.Title, name), Name: name, Sentence: summarySentence(l),
		Details: fmt.Sprintf("%d units at %d×%d · %d images · %s thresholds · interpretable: IoU > %g",
			l.Channels, l.Height, l.Width, l.Samples, l.ThresholdMethod, l.IoUThreshold),
		Chart:    conceptBars(name+": interpretable units per concept", p.conceptData(l)),
		GridData: gridData{Layer: name, Rankings: map[string][]int{}},
		StripW:   0, StripH: p.rep.ImageH, Interp: l.Interpretable, Total: len(l.Units), EditorURL: p.links.Editor(),
	}
	if n := min(report.StripLen, maxTop(l)); n > 0 {
		v.StripW = n*p.rep.ImageW + (n-1)*2
	} else {
		v.StripW = p.rep.ImageW
	}
	v.Sorts = []option{{"unit", "unit number"}, {"label", "label"}, {"iou", "IoU (best first)"}}
	for _, r := range l.Rankings {
		v.Sorts = append(v.Sorts, option{"rank:" + r.Name, r.Name})
		v.GridData.Rankings[r.Name] = r.Units
	}
	v.Filters = []option{{"", "all concepts"}}
	for _, c := range l.Counts {
		v.Filters = append(v.Filters, option{c.Name, fmt.Sprintf("%s (%d)", c.Name, c.Units)})
	}
	for u, rec := range l.Units {
		col := p.rep.Class(rec.Label).Color
		v.Cards = append(v.Cards, unitCard{Unit: u, Label: rec.Label, Color: col, IoU: iouText(rec.IoU),
			IoUValue: strconv.FormatFloat(rec.IoU, 'g', 8, 64), Interpretable: rec.Interpretable,
			Strip: p.links.Image(report.StripKey(name, u)), Detail: p.links.Unit(name, u),
			Alt: fmt.Sprintf("Top images of %s unit %d with its region outlined", name, u)})
	}
	v.Causal = p.causalViews(l, "")
	return reportLayerPage(v).Render(context.Background(), w)
}

func maxTop(l *report.Layer) int {
	n := 0
	for _, u := range l.Units {
		n = max(n, len(u.TopIDs))
	}
	return n
}

// ---- causal effects ----

type causalView struct {
	Concept  string
	Color    string
	Samples  int
	Ablation svgChart
	Insert   svgChart
	Location *locationGrid
	// Note explains how the layer's causal effects were measured.
	Note string
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }

// causalViews draws the causal measurements of every measured class, or of
// only one class when only != "".
func (p *Report) causalViews(l *report.Layer, only string) []causalView {
	cz := l.Causal
	if cz == nil {
		return nil
	}
	var out []causalView
	for _, name := range l.ClassNames {
		if only != "" && name != only {
			continue
		}
		rows, ok := cz.Effects[name]
		if !ok || len(rows) == 0 {
			continue
		}
		col := p.rep.Class(name).Color
		cv := causalView{Concept: name, Color: col, Samples: cz.Samples}
		abl := []barDatum{{Label: "unedited", Color: col, Value: rows[0].ShareBefore, Dashed: true,
			Title: "share of " + name + " pixels before any edit"}}
		ins := []barDatum{{Label: "unedited", Color: col, Value: rows[0].RegionShare, Dashed: true,
			Title: "share of " + name + " inside the square before any edit"}}
		top := max(rows[0].ShareBefore, rows[0].RegionShare)
		for _, r := range rows {
			abl = append(abl, barDatum{Label: fmt.Sprintf("−%d units", r.K), Color: col, Value: r.ShareAfter,
				Title: fmt.Sprintf("after removing the top %d units everywhere: %s (drop %s)", r.K, pct(r.ShareAfter), pct(r.Drop))})
			ins = append(ins, barDatum{Label: fmt.Sprintf("+%d units", r.K), Color: col, Value: r.RegionAfter,
				Title: fmt.Sprintf("after inserting the top %d units in the square: %s (rise %s)", r.K, pct(r.RegionAfter), pct(r.Rise))})
			top = max(top, r.ShareAfter, r.RegionAfter)
		}
		xmax, _ := niceMax(top)
		cv.Ablation = hBars("Share of "+name+" after removing its top units everywhere", abl, xmax, 0, "", pct)
		cv.Insert = hBars("Share of "+name+" inside a square after inserting its top units there", ins, xmax, 0, "", pct)
		cv.Note = fmt.Sprintf("Edits on %d held-out images; a dashed bar is the unedited image.", cz.Samples)
		if lm, ok := cz.Locations[name]; ok && lm.Rows > 0 && lm.Cols > 0 {
			g := newLocationGrid("Where inserting "+name+" makes it appear", col, lm.Rows, lm.Cols, lm.Rate, lm.Eligible)
			cv.Location = &g
			cv.Note += fmt.Sprintf(" Location maps: the top %d units inserted in one cell at a time on %d images per cell; a cell's colour is the share of images where the concept then covers at least %.0f%% of the cell (crossed: the concept was there already in every image).",
				lm.K, lm.Images, 100*cz.AppearShare)
		}
		out = append(out, cv)
	}
	return out
}

// ---- unit page ----

type unitView struct {
	Head       pageHead
	Layer      string
	LayerURL   string
	Unit       int
	Label      string
	Color      string
	Facts      []fact
	ID         int64
	Image      string
	Seg        string
	Heat       string
	Mask       string
	ImageW     int
	ImageH     int
	Tops       []topThumb
	IoUChart   svgChart
	Causal     []causalView
	Prev, Next string
	Ranks      []fact
	EditorURL  string
	Static     bool
}

type fact struct {
	Name, Value string
}

type topThumb struct {
	ID     int64
	Img    string
	Link   string
	Active bool
	Act    string
}

// Unit writes a unit's detail page for image id (id < 0: its top image).
func (p *Report) Unit(w io.Writer, layer string, unit int, id int64) error {
	l, err := p.rep.Layer(layer)
	if err != nil {
		return err
	}
	rec, err := l.Unit(unit)
	if err != nil {
		return err
	}
	if id >= p.rep.MaxID {
		return fmt.Errorf("%w: image id %d (ids are below %d)", report.ErrNotFound, id, p.rep.MaxID)
	}
	if id < 0 {
		id = 0
		if len(rec.TopIDs) > 0 {
			id = rec.TopIDs[0]
		}
	}
	cls := p.rep.Class(rec.Label)
	v := unitView{Head: p.head(fmt.Sprintf("%s unit %d · Dissection · %s", layer, unit, p.rep.Title), layer),
		Layer: layer, LayerURL: p.links.Layer(layer), Unit: unit, Label: rec.Label, Color: cls.Color, ID: id,
		Image: p.links.Image(report.ImageKey(id)), Seg: p.links.Image(report.SegKey(id)),
		Heat: p.links.Image(report.HeatKey(layer, unit, id)), Mask: p.links.Image(report.MaskKey(layer, unit, id)),
		ImageW: p.rep.ImageW, ImageH: p.rep.ImageH, EditorURL: p.links.Editor(), Static: p.links.Static()}
	if !p.rep.Segmented {
		v.Seg = ""
	}
	interp := "no"
	if rec.Interpretable {
		interp = "yes"
	}
	v.Facts = []fact{
		{"label", rec.Label}, {"IoU", iouText(rec.IoU)}, {"IQR", iouText(rec.IQR)}, {"interpretable", interp},
		{"threshold", fmt.Sprintf("%.4g (quantile %.4g)", rec.Threshold, rec.ThresholdQuantile)},
		{"level", fmt.Sprintf("%.4g (quantile %g)", rec.Level, l.LevelQuantile)},
	}
	for i, tid := range rec.TopIDs {
		act := ""
		if i < len(rec.TopActs) {
			act = fmt.Sprintf("%.3g", rec.TopActs[i])
		}
		v.Tops = append(v.Tops, topThumb{ID: tid, Img: p.links.Image(report.MaskKey(layer, unit, tid)),
			Link: p.links.UnitAt(layer, unit, tid), Active: tid == id, Act: act})
	}
	if p.links.Static() && len(v.Tops) > staticTops {
		v.Tops = v.Tops[:staticTops]
	}
	// IoU with every class, best first; classes the unit never overlaps
	// are left out.
	var data []barDatum
	top := 0.0
	for ci, name := range l.ClassNames {
		if ci >= len(rec.ClassIoU) || rec.ClassIoU[ci] <= 0 {
			continue
		}
		data = append(data, barDatum{Label: name, Color: p.rep.Class(name).Color, Value: rec.ClassIoU[ci],
			Title: fmt.Sprintf("IoU with %s: %s", name, iouText(rec.ClassIoU[ci]))})
		top = max(top, rec.ClassIoU[ci])
	}
	slices.SortStableFunc(data, func(a, b barDatum) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return 0
	})
	xmax, _ := niceMax(max(top, l.IoUThreshold*1.2))
	v.IoUChart = hBars(fmt.Sprintf("IoU of %s unit %d with every class", layer, unit), data, xmax, l.IoUThreshold,
		fmt.Sprintf("interpretable above %g", l.IoUThreshold), iouText)
	if len(data) == 0 {
		v.IoUChart.Empty = "The unit's region never overlaps a class."
	}
	// Where the unit ranks: in its label's ranking and in every ranking
	// that puts it in the top 20.
	for _, r := range l.Rankings {
		pos := slices.Index(r.Units, unit)
		if pos < 0 {
			continue
		}
		if r.Concept == rec.Label || pos < 20 {
			v.Ranks = append(v.Ranks, fact{r.Name, fmt.Sprintf("#%d of %d", pos+1, len(r.Units))})
		}
	}
	v.Causal = p.causalViews(l, rec.Label)
	if unit > 0 {
		v.Prev = p.links.Unit(layer, unit-1)
	}
	if unit+1 < len(l.Units) {
		v.Next = p.links.Unit(layer, unit+1)
	}
	return reportUnitPage(v).Render(context.Background(), w)
}

// staticTops is how many top images a unit page of the static report shows
// (the live page shows all): it bounds the images the static report renders.
const staticTops = 6

// UnitImageKeys lists the image keys a unit's page shows (with its default
// image), for the static report.
func (p *Report) UnitImageKeys(layer string, unit int) ([]string, error) {
	l, err := p.rep.Layer(layer)
	if err != nil {
		return nil, err
	}
	rec, err := l.Unit(unit)
	if err != nil {
		return nil, err
	}
	id := int64(0)
	if len(rec.TopIDs) > 0 {
		id = rec.TopIDs[0]
	}
	keys := []string{report.StripKey(layer, unit), report.ImageKey(id),
		report.HeatKey(layer, unit, id), report.MaskKey(layer, unit, id)}
	if p.rep.Segmented {
		keys = append(keys, report.SegKey(id))
	}
	for i, tid := range rec.TopIDs {
		if i == staticTops {
			break
		}
		keys = append(keys, report.MaskKey(layer, unit, tid))
	}
	return keys, nil
}
