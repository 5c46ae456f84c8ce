package report

import (
	"image"
	"image/color"
	"strconv"
)

// outlineColor marks the boundary of a unit's region: a yellow that stands
// out on sky, grass and brick alike.
var outlineColor = color.RGBA{255, 214, 0, 255}

// dimOutside is how much of its brightness a pixel outside the region
// keeps, so the region reads at a glance as in the reference's strips.
const dimOutside = 0.35

// boundary marks the region's pixels with a 4-neighbour outside it (the
// image border does not count).
func boundary(region []bool, w, h int) []bool {
	out := make([]bool, len(region))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			out[i] = region[i] && ((x > 0 && !region[i-1]) || (x < w-1 && !region[i+1]) ||
				(y > 0 && !region[i-w]) || (y < h-1 && !region[i+w]))
		}
	}
	return out
}

// drawRegion dims img outside region and draws the region's boundary.
func drawRegion(img *image.RGBA, region []bool) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	edge := boundary(region, w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(img.Rect.Min.X+x, img.Rect.Min.Y+y)
			p := img.Pix[i : i+4 : i+4]
			switch {
			case edge[y*w+x]:
				p[0], p[1], p[2] = outlineColor.R, outlineColor.G, outlineColor.B
			case !region[y*w+x]:
				p[0] = uint8(float64(p[0]) * dimOutside)
				p[1] = uint8(float64(p[1]) * dimOutside)
				p[2] = uint8(float64(p[2]) * dimOutside)
			}
		}
	}
}

// heatStops is a perceptually ordered colour map (dark purple → red →
// yellow, like matplotlib's "inferno") sampled at five points.
var heatStops = [...][3]float64{{0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}}

// heatColor maps t in [0, 1] onto heatStops.
func heatColor(t float64) [3]float64 {
	t = min(max(t, 0), 1) * float64(len(heatStops)-1)
	i := min(int(t), len(heatStops)-2)
	f := t - float64(i)
	a, b := heatStops[i], heatStops[i+1]
	return [3]float64{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1]), a[2] + f*(b[2]-a[2])}
}

// heatAlpha is how strongly the heat map covers the image underneath.
const heatAlpha = 0.7

// drawHeat overlays the upsampled activation up (one value per pixel of img)
// as a heat map scaled so that 0 and below is the map's bottom and top its
// top, over a grey copy of the image, then outlines region.
func drawHeat(img *image.RGBA, up []float32, top float32, region []bool) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if !(top > 0) {
		top = 1
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(img.Rect.Min.X+x, img.Rect.Min.Y+y)
			p := img.Pix[i : i+4 : i+4]
			grey := 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
			c := heatColor(float64(up[y*w+x] / top))
			for k := 0; k < 3; k++ {
				p[k] = uint8(min(255, grey*(1-heatAlpha)+c[k]*heatAlpha+0.5))
			}
		}
	}
	// The outline alone, without dimming: the heat map already shows where
	// the unit is weak.
	for j, e := range boundary(region, w, h) {
		if e {
			i := img.PixOffset(img.Rect.Min.X+j%w, img.Rect.Min.Y+j/w)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2] = outlineColor.R, outlineColor.G, outlineColor.B
		}
	}
}

// segImage paints a segmentation in the class colours (labels without a
// colour are black).
func segImage(seg []uint8, w, h int, colors []color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, c := range seg[:w*h] {
		col := color.RGBA{0, 0, 0, 255}
		if int(c) < len(colors) {
			col = colors[c]
		}
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = col.R, col.G, col.B, 255
	}
	return img
}

// parseHex reads "#rrggbb" (New has checked the form).
func parseHex(s string) color.RGBA {
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil || len(s) != 7 {
		return color.RGBA{158, 158, 158, 255}
	}
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}
}
