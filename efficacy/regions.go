package efficacy

import ()

// Rect is a pixel rectangle x0 ≤ x < x1, y0 ≤ y < y1.
type Rect struct{ X0, Y0, X1, Y1 int }

// Empty reports whether the rectangle holds no pixel.
func (r Rect) Empty() bool { return r.X1 <= r.X0 || r.Y1 <= r.Y0 }

// Area is the number of pixels.
func (r Rect) Area() int {
	if r.Empty() {
		return 0
	}
	return (r.X1 - r.X0) * (r.Y1 - r.Y0)
}

func (r Rect) clip(w, h int) Rect {
	return Rect{max(r.X0, 0), max(r.Y0, 0), min(r.X1, w), min(r.Y1, h)}
}

func (r Rect) contains(x, y int) bool { return x >= r.X0 && x < r.X1 && y >= r.Y0 && y < r.Y1 }

// Tiling cuts a w×h image into a side×side grid of equal regions: the
// brushed squares of the benchmark. With the default side 4 a region of a
// 128 px image is 32×32 px, 2×2 cells of an 8×8 paint layer.
func Tiling(w, h, side int) []Rect {
	var out []Rect
	for r := 0; r < side; r++ {
		for c := 0; c < side; c++ {
			out = append(out, Rect{c * w / side, r * h / side, (c + 1) * w / side, (r + 1) * h / side})
		}
	}
	return out
}

// Seg is one segmented image: a label per pixel, row-major.
type Seg struct {
	W, H   int
	Labels []uint8
}

// counts returns the per-class pixel counts inside r (clipped) and its area.
func (s Seg) counts(r Rect, classes int) ([]int, int) {
	r = r.clip(s.W, s.H)
	n := make([]int, classes)
	if r.Empty() {
		return n, 0
	}
	for y := r.Y0; y < r.Y1; y++ {
		for _, v := range s.Labels[y*s.W+r.X0 : y*s.W+r.X1] {
			if int(v) < classes {
				n[v]++
			}
		}
	}
	return n, r.Area()
}

// Share is the fraction of pixels of class inside r (0 for an empty r).
func (s Seg) Share(r Rect, class int) float64 {
	r = r.clip(s.W, s.H)
	if r.Empty() {
		return 0
	}
	hit := 0
	for y := r.Y0; y < r.Y1; y++ {
		for _, v := range s.Labels[y*s.W+r.X0 : y*s.W+r.X1] {
			if int(v) == class {
				hit++
			}
		}
	}
	return float64(hit) / float64(r.Area())
}

// Band names the strips around and inside a region that the plausibility
// rules look at. Each strip is half a region thick (one cell of an 8×8
// layer at the default tiling).
type Band int

const (
	BandRegion Band = iota // the region itself
	BandTop                // the region's upper half
	BandBottom             // the region's lower half
	BandAbove              // the strip just above the region
	BandBelow              // the strip just below the region
	BandLeft               // the strip left of the region
	BandRight              // the strip right of the region
	numBands
)

// Context is what the rules know about a region of an unedited image: the
// share of every class in each band. A band that falls outside the image
// is marked Outside (its shares are all 0).
type Context struct {
	Share   [numBands][]float64
	Outside [numBands]bool
}

// NewContext measures region r of seg for a model with the given number of
// classes.
func NewContext(seg Seg, r Rect, classes int) Context {
	t := max((r.Y1-r.Y0)/2, 1)
	bands := [numBands]Rect{
		BandRegion: r,
		BandTop:    {r.X0, r.Y0, r.X1, r.Y0 + t},
		BandBottom: {r.X0, r.Y1 - t, r.X1, r.Y1},
		BandAbove:  {r.X0, r.Y0 - t, r.X1, r.Y0},
		BandBelow:  {r.X0, r.Y1, r.X1, r.Y1 + t},
		BandLeft:   {r.X0 - t, r.Y0, r.X0, r.Y1},
		BandRight:  {r.X1, r.Y0, r.X1 + t, r.Y1},
	}
	var c Context
	for b, br := range bands {
		n, area := seg.counts(br, classes)
		c.Share[b] = make([]float64, classes)
		if area == 0 {
			c.Outside[b] = true
			continue
		}
		for k, v := range n {
			c.Share[b][k] = float64(v) / float64(area)
		}
	}
	return c
}

// Classes resolves class names to label indices; names the model does not
// have resolve to nothing, so a rule about them simply never fires.
type Classes map[string]int

// NewClasses indexes class names in label order.
func NewClasses(names []string) Classes {
	c := make(Classes, len(names))
	for i, n := range names {
		c[n] = i
	}
	return c
}

// sum is the summed share of the named classes in band b.
func (c Context) sum(cls Classes, b Band, names ...string) float64 {
	s := 0.0
	for _, n := range names {
		if i, ok := cls[n]; ok && i < len(c.Share[b]) {
			s += c.Share[b][i]
		}
	}
	return s
}

// Class groups the rules use.
var (
	groundClasses    = []string{"grass", "road"}
	wallClasses      = []string{"building", "brick"}
	skyClasses       = []string{"sky", "cloud"}
	structureClasses = []string{"building", "brick", "roof", "dome", "door", "window"}
)

// Rule decides from an unedited image's segmentation whether a concept
// plausibly belongs in a region ("a door grows on a wall, not in the sky").
type Rule struct {
	Concept string
	// Text is the rule in words, for reports and documentation.
	Text string
	fn   func(c Context, cls Classes) bool
}

// Plausible applies the rule.
func (r Rule) Plausible(c Context, cls Classes) bool { return r.fn(c, cls) }

// Thresholds of the rules: a band "has" a group when the group covers at
// least this share of it.
const (
	touchShare = 0.3
	mostShare  = 0.5
	fewShare   = 0.25
)

// touchesGround: ground (grass, road) in the region's lower half or in the
// strip below it: the region stands on the ground.
func touchesGround(c Context, cls Classes) bool {
	return c.sum(cls, BandBottom, groundClasses...) >= touchShare || c.sum(cls, BandBelow, groundClasses...) >= touchShare
}

// besideWall: a wall in the strip left or right of a region that is not
// itself mostly wall.
func besideWall(c Context, cls Classes) bool {
	return c.sum(cls, BandRegion, wallClasses...) < mostShare &&
		(c.sum(cls, BandLeft, wallClasses...) >= touchShare || c.sum(cls, BandRight, wallClasses...) >= touchShare)
}

func besideClass(c Context, cls Classes, name string) bool {
	for _, b := range []Band{BandLeft, BandRight, BandAbove, BandBelow} {
		if c.sum(cls, b, name) >= touchShare {
			return true
		}
	}
	return false
}

// onRoofline: a structure under the region (its lower half or the strip
// below) and sky in its upper half: the top edge of a building.
func onRoofline(c Context, cls Classes) bool {
	under := c.sum(cls, BandBottom, structureClasses...) >= touchShare || c.sum(cls, BandBelow, structureClasses...) >= touchShare
	return under && c.sum(cls, BandTop, skyClasses...) >= touchShare
}

func wallStanding(c Context, cls Classes) bool {
	return touchesGround(c, cls) || besideWall(c, cls) || c.sum(cls, BandBelow, wallClasses...) >= touchShare
}

// Rules lists the plausibility rule of each concept the rules know; other
// concepts are plausible everywhere (RuleFor).
var Rules = []Rule{
	{"sky", "no ground (grass, road) covering ≥ 25% of the region, and the strip above is sky/cloud (≥ 50%) or the image edge",
		func(c Context, cls Classes) bool {
			return c.sum(cls, BandRegion, groundClasses...) < fewShare &&
				(c.Outside[BandAbove] || c.sum(cls, BandAbove, skyClasses...) >= mostShare)
		}},
	{"cloud", "sky/cloud covers ≥ 50% of the region",
		func(c Context, cls Classes) bool { return c.sum(cls, BandRegion, skyClasses...) >= mostShare }},
	{"tree", "stands on the ground (grass/road ≥ 30% of its lower half or of the strip below), or beside a wall (building/brick ≥ 30% of the strip left or right, < 50% of the region), or next to a tree (≥ 30% of a neighbouring strip)",
		func(c Context, cls Classes) bool {
			return touchesGround(c, cls) || besideWall(c, cls) || besideClass(c, cls, "tree")
		}},
	{"grass", "at ground level: sky/cloud < 25% of the region, and grass/road in the region or the strip below (≥ 30%) or the region is at the bottom edge",
		func(c Context, cls Classes) bool {
			return c.sum(cls, BandRegion, skyClasses...) < fewShare &&
				(touchesGround(c, cls) || c.sum(cls, BandRegion, groundClasses...) >= touchShare || c.Outside[BandBelow])
		}},
	{"road", "same as grass: at ground level",
		func(c Context, cls Classes) bool {
			return c.sum(cls, BandRegion, skyClasses...) < fewShare &&
				(touchesGround(c, cls) || c.sum(cls, BandRegion, groundClasses...) >= touchShare || c.Outside[BandBelow])
		}},
	{"building", "a wall stands there: on the ground, beside a wall (as for tree), or on top of a wall (building/brick ≥ 30% of the strip below)",
		wallStanding},
	{"brick", "as building, or the region is already plaster wall (building ≥ 30%) to re-texture",
		func(c Context, cls Classes) bool {
			return wallStanding(c, cls) || c.sum(cls, BandRegion, "building") >= touchShare
		}},
	{"door", "on a wall (building/brick ≥ 30% of the region) that stands on the ground",
		func(c Context, cls Classes) bool {
			return c.sum(cls, BandRegion, wallClasses...) >= touchShare && touchesGround(c, cls)
		}},
	{"window", "on a wall: building/brick/window cover ≥ 50% of the region",
		func(c Context, cls Classes) bool {
			return c.sum(cls, BandRegion, append([]string{"window"}, wallClasses...)...) >= mostShare
		}},
	{"dome", "on a roofline: a structure (building, brick, roof, dome, door, window) ≥ 30% of the lower half or the strip below, and sky/cloud ≥ 30% of the upper half",
		onRoofline},
	{"roof", "on a roofline, as dome",
		onRoofline},
	{"mountain", "on the horizon: sky/cloud ≥ 30% of the region's upper half, and grass/road/tree/mountain ≥ 30% of its lower half or of the strip below",
		func(c Context, cls Classes) bool {
			low := []string{"grass", "road", "tree", "mountain"}
			return c.sum(cls, BandTop, skyClasses...) >= touchShare &&
				(c.sum(cls, BandBottom, low...) >= touchShare || c.sum(cls, BandBelow, low...) >= touchShare)
		}},
}

// RuleFor returns the concept's rule; a concept without one is plausible
// everywhere.
func RuleFor(concept string) Rule {
	for _, r := range Rules {
		if r.Concept == concept {
			return r
		}
	}
	return Rule{Concept: concept, Text: "no rule: every region", fn: func(Context, Classes) bool { return true }}
}
