package web

import (
	"fmt"
	"math"
	"strconv"
)

// The report's charts are SVG drawn on the server: the geometry is worked
// out here and the templates only emit the elements, so a chart is plain
// markup that works without JavaScript and in the static report.

// svgBar is one bar with its label.
type svgBar struct {
	X, Y, W, H     string
	Color          string
	Label          string
	Value          string
	LabelX, LabelY string
	ValueX, ValueY string
	Title          string
	Href           string // where clicking the bar leads; "" for none
	Dashed         bool   // drawn as an outline (e.g. "before" bars)
}

// svgTick is one axis tick.
type svgTick struct {
	X1, Y1, X2, Y2 string
	TX, TY         string
	Label          string
}

// svgText is free text in a chart.
type svgText struct {
	X, Y   string
	Text   string
	Anchor string
	Class  string
}

// svgLine is a reference line.
type svgLine struct {
	X1, Y1, X2, Y2 string
	Class          string
}

// svgChart is a whole chart.
type svgChart struct {
	W, H   int
	Title  string // accessible name
	Bars   []svgBar
	Ticks  []svgTick
	Texts  []svgText
	Lines  []svgLine
	Empty  string // shown instead when there is nothing to draw
	Labels string // "rot" for rotated bar labels
}

func (c svgChart) ViewBox() string { return fmt.Sprintf("0 0 %d %d", c.W, c.H) }

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceMax rounds a chart maximum up to 1, 2 or 5 times a power of ten and
// returns the tick step.
func niceMax(v float64) (top, step float64) {
	if !(v > 0) {
		return 1, 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			top = m * p
			break
		}
	}
	step = top / 5
	if top/p == 1 || top/p == 10 {
		step = top / 5
	}
	return top, step
}

// conceptBars is the layer page's chart: interpretable units per concept,
// one vertical bar each, coloured by concept, labels under the bars rotated
// as in the seed's figures.
func conceptBars(title string, counts []barDatum) svgChart {
	const (
		left, top, plotH = 40.0, 16.0, 150.0
		barW, gap        = 18.0, 8.0
		labelRoom        = 78.0
	)
	c := svgChart{Title: title, Labels: "rot"}
	if len(counts) == 0 {
		c.W, c.H, c.Empty = 320, 60, "No unit is interpretable at this layer."
		return c
	}
	maxV := 0.0
	for _, d := range counts {
		maxV = max(maxV, d.Value)
	}
	ymax, step := niceMax(maxV)
	if ymax < 5 && maxV <= 5 {
		ymax, step = 5, 1
	}
	scale := plotH / ymax
	c.W = int(left + float64(len(counts))*(barW+gap) + gap + 8)
	c.H = int(top + plotH + labelRoom)
	base := top + plotH
	for v := 0.0; v <= ymax+1e-9; v += step {
		y := base - v*scale
		c.Ticks = append(c.Ticks, svgTick{X1: f1(left - 4), Y1: f1(y), X2: f1(float64(c.W) - 4), Y2: f1(y),
			TX: f1(left - 7), TY: f1(y + 4), Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	c.Texts = append(c.Texts, svgText{X: "11", Y: f1(top + plotH/2), Text: "units", Anchor: "middle", Class: "axis-title"})
	for i, d := range counts {
		x := left + gap + float64(i)*(barW+gap)
		h := d.Value * scale
		c.Bars = append(c.Bars, svgBar{X: f1(x), Y: f1(base - h), W: f1(barW), H: f1(h), Color: d.Color,
			Label: d.Label, Value: strconv.FormatFloat(d.Value, 'f', -1, 64),
			LabelX: f1(x + barW/2 + 4), LabelY: f1(base + 8), ValueX: f1(x + barW/2), ValueY: f1(base - h - 3),
			Title: d.Title, Href: d.Href})
	}
	return c
}

// barDatum is one value of a bar chart.
type barDatum struct {
	Label, Color, Title, Href string
	Value                     float64
	Dashed                    bool
}

// hBars draws horizontal bars (label left, value right) scaled to xmax,
// with an optional dashed reference line at ref (0 for none).
func hBars(title string, data []barDatum, xmax, ref float64, refLabel string, format func(float64) string) svgChart {
	const (
		labelW, plotW, rowH, barH, top = 96.0, 240.0, 18.0, 12.0, 8.0
	)
	c := svgChart{Title: title, W: int(labelW + plotW + 56), H: int(top + float64(len(data))*rowH + 22)}
	if !(xmax > 0) {
		xmax = 1
	}
	for i, d := range data {
		y := top + float64(i)*rowH
		w := plotW * min(max(d.Value, 0)/xmax, 1)
		c.Bars = append(c.Bars, svgBar{X: f1(labelW), Y: f1(y), W: f1(w), H: f1(barH), Color: d.Color,
			Label: d.Label, Value: format(d.Value), LabelX: f1(labelW - 6), LabelY: f1(y + barH - 2),
			ValueX: f1(labelW + w + 4), ValueY: f1(y + barH - 2), Title: d.Title, Href: d.Href, Dashed: d.Dashed})
	}
	bottom := top + float64(len(data))*rowH
	c.Lines = append(c.Lines, svgLine{X1: f1(labelW), Y1: f1(top - 2), X2: f1(labelW), Y2: f1(bottom), Class: "axis"})
	if ref > 0 && ref <= xmax {
		x := labelW + plotW*ref/xmax
		c.Lines = append(c.Lines, svgLine{X1: f1(x), Y1: f1(top - 2), X2: f1(x), Y2: f1(bottom), Class: "ref"})
		c.Texts = append(c.Texts, svgText{X: f1(x), Y: f1(bottom + 14), Text: refLabel, Anchor: "middle", Class: "ref-label"})
	}
	return c
}

// comparisonChart shows, for every concept (rows) and dissected layer
// (columns), how many interpretable units carry the concept, each column
// scaled to the largest count overall so layers compare directly.
type comparisonChart struct {
	W, H    int
	Title   string
	Columns []svgText
	Rows    []comparisonRow
	Empty   string
}

type comparisonRow struct {
	Label svgText
	Cells []svgBar
}

func (c comparisonChart) ViewBox() string { return fmt.Sprintf("0 0 %d %d", c.W, c.H) }

func layerComparison(title string, layers []string, concepts []barDatum, counts func(layer, concept string) int,
	href func(layer string) string) comparisonChart {
	const (
		labelW, colW, rowH, barH, head = 96.0, 150.0, 18.0, 12.0, 22.0
	)
	c := comparisonChart{Title: title, W: int(labelW + float64(len(layers))*colW + 8), H: int(head + float64(len(concepts))*rowH + 6)}
	if len(concepts) == 0 {
		c.Empty = "No unit of any layer is interpretable."
		return c
	}
	maxV := 1
	for _, l := range layers {
		for _, d := range concepts {
			maxV = max(maxV, counts(l, d.Label))
		}
	}
	for j, l := range layers {
		c.Columns = append(c.Columns, svgText{X: f1(labelW + float64(j)*colW + 2), Y: "14", Text: l, Anchor: "start", Class: "col-head"})
	}
	for i, d := range concepts {
		y := head + float64(i)*rowH
		row := comparisonRow{Label: svgText{X: f1(labelW - 6), Y: f1(y + barH - 2), Text: d.Label, Anchor: "end", Class: "row-label"}}
		for j, l := range layers {
			n := counts(l, d.Label)
			x := labelW + float64(j)*colW + 2
			w := (colW - 40) * float64(n) / float64(maxV)
			row.Cells = append(row.Cells, svgBar{X: f1(x), Y: f1(y), W: f1(w), H: f1(barH), Color: d.Color,
				Value: strconv.Itoa(n), ValueX: f1(x + w + 4), ValueY: f1(y + barH - 2),
				Title: fmt.Sprintf("%s: %d %s units", l, n, d.Label), Href: href(l)})
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// gridCell is one cell of a location map.
type gridCell struct {
	X, Y, Size string
	X2, Y2     string // the far corner, for the cross of an unmeasured cell
	Opacity    string
	Unknown    bool // no eligible image: nothing measured
	Title      string
}

// locationGrid draws a location map: one square per cell, filled with the
// concept's colour at the rate's opacity.
type locationGrid struct {
	W, H  int
	Color string
	Cells []gridCell
	Title string
}

func (g locationGrid) ViewBox() string { return fmt.Sprintf("0 0 %d %d", g.W, g.H) }

func newLocationGrid(title, color string, rows, cols int, rate []float64, eligible []int) locationGrid {
	const side = 112.0
	cell := side / float64(max(rows, cols, 1))
	g := locationGrid{W: int(cell * float64(cols)), H: int(cell * float64(rows)), Color: color, Title: title}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			i := r*cols + c
			gc := gridCell{X: f1(float64(c) * cell), Y: f1(float64(r) * cell), Size: f1(cell - 1),
				X2: f1(float64(c+1)*cell - 1), Y2: f1(float64(r+1)*cell - 1)}
			if i >= len(rate) || i >= len(eligible) || eligible[i] == 0 {
				gc.Unknown = true
				gc.Title = fmt.Sprintf("row %d, column %d: no image to try", r, c)
			} else {
				gc.Opacity = strconv.FormatFloat(math.Round(rate[i]*100)/100, 'f', -1, 64)
				gc.Title = fmt.Sprintf("row %d, column %d: appeared in %.0f%% of %d images", r, c, 100*rate[i], eligible[i])
			}
			g.Cells = append(g.Cells, gc)
		}
	}
	return g
}
