package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Links are the URLs the report pages point at: the live server's
// (/report/…) or the static report's (relative file names in one folder).
type Links struct {
	static  bool
	base    string
	version string
	// painter and api are the painter page and the REST API of the
	// report's model ("" = "/" and "/api", the default model's).
	painter, api string
}

// ForModel returns l pointing at a model's own painter page and REST API:
// a server with several models serves each model's report under its own
// prefix (server.ModelPrefix).
func (l Links) ForModel(painter, api string) Links {
	l.painter, l.api = painter, api
	return l
}

// API is the REST API the unit editor calls.
func (l Links) API() string {
	if l.api != "" {
		return l.api
	}
	return "/api"
}

// ServerLinks are the live server's URLs under base (e.g. "/report");
// image URLs carry version so they can be cached for good.
func ServerLinks(base, version string) Links {
	return Links{base: strings.TrimSuffix(base, "/"), version: version}
}

// StaticLinks are the static report's relative file names.
func StaticLinks() Links { return Links{static: true} }

// Static reports whether these are the static report's links.
func (l Links) Static() bool { return l.static }

// Index is the report's first page.
func (l Links) Index() string {
	if l.static {
		return "index.html"
	}
	return l.base + "/"
}

// Layer is a layer's page.
func (l Links) Layer(layer string) string {
	if l.static {
		return layer + ".html"
	}
	return l.base + "/" + layer
}

// Unit is a unit's detail page.
func (l Links) Unit(layer string, unit int) string {
	if l.static {
		return layer + "-unit" + strconv.Itoa(unit) + ".html"
	}
	return l.base + "/" + layer + "/unit/" + strconv.Itoa(unit)
}

// UnitAt is a unit's detail page showing image id; the static report has
// one page per unit, for its top image.
func (l Links) UnitAt(layer string, unit int, id int64) string {
	if l.static {
		return l.Unit(layer, unit)
	}
	return l.Unit(layer, unit) + "?id=" + strconv.FormatInt(id, 10)
}

// Image is the URL of an image key (see ParseKey).
func (l Links) Image(key string) string {
	if l.static {
		return "img/" + key
	}
	return l.base + "/img/" + l.version + "/" + key
}

// Editor is the unit editor's page; "" in the static report, which has no
// server to run edits.
func (l Links) Editor() string {
	if l.static {
		return ""
	}
	return l.base + "/edit"
}

// Painter is the painter's page; "" in the static report.
func (l Links) Painter() string {
	if l.static {
		return ""
	}
	if l.painter != "" {
		return l.painter
	}
	return "/"
}

// Image kinds, the first part of a key.
const (
	KindStrip = "strip" // strip/<layer>/<unit>.jpg: top images, region outlined
	KindImage = "image" // image/<id>.jpg: a generated image
	KindSeg   = "seg"   // seg/<id>.png: its segmentation in class colours
	KindHeat  = "heat"  // heat/<layer>/<unit>/<id>.jpg: the unit's activation as a heat map
	KindMask  = "mask"  // mask/<layer>/<unit>/<id>.jpg: the image, the unit's region outlined
)

// Key is a parsed image key.
type Key struct {
	Kind  string
	Layer string
	Unit  int
	ID    int64
}

// String is the canonical key.
func (k Key) String() string {
	switch k.Kind {
	case KindStrip:
		return fmt.Sprintf("strip/%s/%d.jpg", k.Layer, k.Unit)
	case KindImage:
		return fmt.Sprintf("image/%d.jpg", k.ID)
	case KindSeg:
		return fmt.Sprintf("seg/%d.png", k.ID)
	case KindHeat, KindMask:
		return fmt.Sprintf("%s/%s/%d/%d.jpg", k.Kind, k.Layer, k.Unit, k.ID)
	}
	return ""
}

// StripKey is the key of a unit's top-image strip.
func StripKey(layer string, unit int) string {
	return Key{Kind: KindStrip, Layer: layer, Unit: unit}.String()
}

// ImageKey is the key of a generated image.
func ImageKey(id int64) string { return Key{Kind: KindImage, ID: id}.String() }

// SegKey is the key of an image's segmentation.
func SegKey(id int64) string { return Key{Kind: KindSeg, ID: id}.String() }

// HeatKey is the key of a unit's heat map over an image.
func HeatKey(layer string, unit int, id int64) string {
	return Key{Kind: KindHeat, Layer: layer, Unit: unit, ID: id}.String()
}

// MaskKey is the key of an image with a unit's region outlined.
func MaskKey(layer string, unit int, id int64) string {
	return Key{Kind: KindMask, Layer: layer, Unit: unit, ID: id}.String()
}

// ParseKey reads a key; only canonical keys parse (no leading zeros, signs
// or other spellings), so each image has exactly one URL and one cache entry.
func ParseKey(s string) (Key, error) {
	bad := func() (Key, error) { return Key{}, fmt.Errorf("%w: image %q", ErrNotFound, truncate(s, 80)) }
	parts := strings.Split(s, "/")
	num := func(p, ext string) (int64, bool) {
		p, ok := strings.CutSuffix(p, ext)
		if !ok && ext != "" {
			return 0, false
		}
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 || strconv.FormatInt(v, 10) != p {
			return 0, false
		}
		return v, true
	}
	var k Key
	switch {
	case len(parts) == 3 && parts[0] == KindStrip:
		u, ok := num(parts[2], ".jpg")
		if !ok || u > 1<<30 {
			return bad()
		}
		k = Key{Kind: KindStrip, Layer: parts[1], Unit: int(u)}
	case len(parts) == 2 && (parts[0] == KindImage || parts[0] == KindSeg):
		ext := ".jpg"
		if parts[0] == KindSeg {
			ext = ".png"
		}
		id, ok := num(parts[1], ext)
		if !ok {
			return bad()
		}
		k = Key{Kind: parts[0], ID: id}
	case len(parts) == 4 && (parts[0] == KindHeat || parts[0] == KindMask):
		u, ok1 := num(parts[2], "")
		id, ok2 := num(parts[3], ".jpg")
		if !ok1 || !ok2 || u > 1<<30 {
			return bad()
		}
		k = Key{Kind: parts[0], Layer: parts[1], Unit: int(u), ID: id}
	default:
		return bad()
	}
	if k.Layer != "" && !safeName.MatchString(k.Layer) {
		return bad()
	}
	return k, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
