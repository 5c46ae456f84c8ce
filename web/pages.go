// Package web renders the GANPaint painter and embed pages (templ components)
// and serves the UI's static files (plain JS and CSS, embedded in the binary,
// at content-hashed URLs). Pages implements server.Pages: the server fills
// server.PageData, and the browser code talks to it over the websocket
// described in docs/protocol.md.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/ganpaint-go/ganpaint/painting"
	"github.com/ganpaint-go/ganpaint/server"
)

// Routes of the server (docs/protocol.md) that the pages link to.
const (
	renderPath  = "/render.png"
	painterPath = "/"
	embedPath   = "/embed"
	defaultWS   = "/ws"
)

// maxStateLen bounds the share token copied into the page. The server has
// already validated it; this only keeps a server bug from bloating the HTML.
// It matches the protocol's token limit.
const maxStateLen = 16384

// maxSamples is how many thumbnails the strip shows, as GANPaint's 16.
const maxSamples = 16

// Strength control: GANPaint's low / medium / high unit counts plus a
// stronger preset, 15 by default as in GANPaint; the slider goes to
// maxUnitsUI or the server's limit, whichever is lower.
const (
	defaultUnits = 15
	maxUnitsUI   = 40
)

func unitPresets() []int { return []int{4, 10, 15, 20} }

// ErrInvalidPageData wraps every validation failure of the data a page is
// rendered from: a server bug, reported instead of a half-working page.
var ErrInvalidPageData = errors.New("web: invalid page data")

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// validate checks what the browser code and the templates rely on.
func validate(d server.PageData) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPageData, fmt.Sprintf(format, args...))
	}
	h := d.Hello
	if h.Image.Width <= 0 || h.Image.Height <= 0 {
		return bad("image size %dx%d", h.Image.Width, h.Image.Height)
	}
	if h.MaxID < 0 {
		return bad("max_id %d", h.MaxID)
	}
	for _, l := range h.Layers {
		if l.Name == "" || l.Height <= 0 || l.Width <= 0 {
			return bad("layer %q with grid %dx%d", l.Name, l.Width, l.Height)
		}
	}
	seen := map[string]bool{}
	for _, c := range h.Concepts {
		if c.Name == "" || seen[c.Name] {
			return bad("concept name %q empty or repeated", c.Name)
		}
		seen[c.Name] = true
		if !colorRE.MatchString(c.Color) {
			return bad("concept %q colour %q is not #rrggbb", c.Name, c.Color)
		}
	}
	for _, id := range h.SampleIDs {
		if id < 0 || (h.MaxID > 0 && id >= h.MaxID) {
			return bad("sample id %d outside [0, %d)", id, h.MaxID)
		}
	}
	if len(d.State) > maxStateLen {
		return bad("state token of %d bytes", len(d.State))
	}
	for name, u := range map[string]string{"BaseURL": d.BaseURL, "PageURL": d.PageURL, "PainterURL": d.PainterURL, "ImageURL": d.ImageURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return bad("%s %q is not an absolute http(s) URL", name, u)
		}
	}
	if d.WSPath != "" && !strings.HasPrefix(d.WSPath, "/") {
		return bad("WSPath %q is not an absolute path", d.WSPath)
	}
	return nil
}

// Pages renders the HTML pages. It is safe for concurrent use.
type Pages struct {
	assets *Assets
	tokens painting.TokenEncoder // the sample thumbnails' share tokens
}

// The server's interfaces, checked by the compiler.
var (
	_ server.Pages       = (*Pages)(nil)
	_ server.ReportPages = (*Report)(nil)
)

// NewPages returns Pages whose asset references point at a's hashed URLs.
func NewPages(a *Assets) (*Pages, error) {
	if a == nil {
		return nil, errors.New("web: NewPages needs assets")
	}
	for _, name := range requiredAssets() {
		if _, err := a.Lookup(name); err != nil {
			return nil, err
		}
	}
	return &Pages{assets: a}, nil
}

// Painter writes the full painter page. It implements server.Pages.
func (p *Pages) Painter(w io.Writer, data server.PageData) error {
	return p.render(w, data, false)
}

// Embed writes the minimal page meant for iframes. It implements server.Pages.
func (p *Pages) Embed(w io.Writer, data server.PageData) error {
	return p.render(w, data, true)
}

// render buffers nothing itself: the server renders into a buffer and only
// sends it when no error occurred.
func (p *Pages) render(w io.Writer, data server.PageData, embed bool) error {
	if err := validate(data); err != nil {
		return err
	}
	v, err := newView(data, p.assets, &p.tokens, embed)
	if err != nil {
		return err
	}
	if embed {
		return embedPage(v).Render(context.Background(), w)
	}
	return painterPage(v).Render(context.Background(), w)
}

// view is what the templates read.
type view struct {
	Title       string
	ModelTitle  string
	Description string
	CSS, JS     string
	Icon        string
	OGImage     string // absolute URL or ""
	OGImageW    int    // its size in pixels
	OGImageH    int
	OGURL       string // absolute URL or ""
	ReportURL   string // the dissection report, "" when the server has none
	PainterURL  string // link from the embed page to the full painter
	DownloadURL string
	StateError  string
	// Models is the model picker (painter page, servers with several
	// models); the current model is marked.
	Models    []server.ModelChoice
	Width     int
	Height    int
	MaxID     int64
	Concepts  []server.HelloConcept
	Samples   []sample
	Layers    []server.HelloLayer
	Layer     server.HelloLayer // the default layer
	Radius    int               // default brush radius
	MaxRadius int
	Units     int
	MaxUnits  int
	Presets   []int
	Config    clientConfig
	// Analysis tools of the painter page (compare panel): their styles;
	// their modules are app.js's imports and install where the page has
	// their elements.
	ExtraCSS    []string
	ComparePath string
	GrowthPath  string
	// Repair: some layer has a "repair artifacts" ranking.
	Repair bool
	// Custom is the custom brush of the page address (painter only), and
	// CustomError why the address's brush cannot be used.
	Custom      *server.PageCustom
	CustomError string
}

type sample struct {
	ID    int64
	Thumb string
}

// clientConfig is the JSON handed to app.js; its field names are the browser
// code's contract (web/static/app.js reads them).
type clientConfig struct {
	Page      string                `json:"page"` // "painter" or "embed"
	Model     clientModel           `json:"model"`
	Concepts  []server.HelloConcept `json:"concepts"`
	Samples   []clientSample        `json:"samples"`
	State     string                `json:"state"`
	Units     clientUnits           `json:"units"`
	Paths     clientPaths           `json:"paths"`
	BaseURL   string                `json:"base_url"`
	PartialMS int                   `json:"partial_ms"`
	// ConceptKeys are the concept shortcuts in palette order.
	ConceptKeys string `json:"concept_keys"`
	// StateError is set when the page's ?state= link could not be used
	// (the page then shows the default image and says so).
	StateError bool `json:"state_error,omitempty"`
	// Custom is the page's custom brush (custombrush.js), when it has one.
	Custom *clientCustom `json:"custom,omitempty"`
	// Protocol and Limits are the websocket protocol's numbers (frame
	// header, close codes, message limits) from the server itself, so the
	// page never carries its own copies; hello repeats the limits.
	Protocol server.Wire        `json:"protocol"`
	Limits   server.HelloLimits `json:"limits"`
}

// clientCustom is a custom brush for custombrush.js.
type clientCustom struct {
	Layer string `json:"layer"`
	Units []int  `json:"units"`
	Mode  string `json:"mode"` // "add" or "remove"
	Label string `json:"label"`
	Color string `json:"color"`
	// Brushes are its strength steps in each mode, shaped like hello's
	// brushes of a concept.
	Brushes server.HelloBrushes `json:"brushes"`
}

// customColor marks custom brushes and their edits: the colour app.js
// gives any edit whose name is not a concept.
const customColor = "#ffffff"

type clientModel struct {
	Name         string        `json:"name"`
	Title        string        `json:"title"`
	Width        int           `json:"width"`
	Height       int           `json:"height"`
	Layers       []clientLayer `json:"layers"`
	DefaultLayer string        `json:"default_layer"`
	MaxID        int64         `json:"max_id"`
}

type clientLayer struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Repair is how many artifact units repair.js's toggle switches off.
	Repair int `json:"repair,omitempty"`
}

type clientSample struct {
	ID    int64  `json:"id"`
	Thumb string `json:"thumb"`
}

type clientUnits struct {
	Default int   `json:"default"`
	Max     int   `json:"max"`
	Presets []int `json:"presets"`
}

type clientPaths struct {
	WS      string `json:"ws"`
	Render  string `json:"render"`
	Painter string `json:"painter"`
	Embed   string `json:"embed"`
}

// partialStrokeMS is how often, at most, an unfinished stroke is sent while
// the pointer is down: often enough to feel live, rarely enough that a CPU
// render finishes between parts (the server coalesces the rest).
const partialStrokeMS = 60

func newView(d server.PageData, a *Assets, tokens *painting.TokenEncoder, embed bool) (view, error) {
	h := d.Hello
	v := view{
		ModelTitle: h.Model.Title,
		CSS:        a.URL("app.css"),
		JS:         a.URL("app.js"),
		Icon:       a.URL("icon.svg"),
		OGImage:    d.ImageURL,
		OGImageW:   d.ImageWidth,
		OGImageH:   d.ImageHeight,
		OGURL:      d.PainterURL,
		ReportURL:  d.ReportURL,
		StateError: friendlyStateError(d.StateError, d.ModelError),
		Width:      h.Image.Width,
		Height:     h.Image.Height,
		MaxID:      h.MaxID,
		Concepts:   h.Concepts,
		Layers:     h.Layers,
		Units:      defaultUnits,
		Presets:    unitPresets(),
	}
	if v.ModelTitle == "" {
		v.ModelTitle = h.Model.Name
	}
	v.Title = "GANPaint"
	if v.ModelTitle != "" {
		v.Title += " · " + v.ModelTitle
	}
	v.Description = describe(h.Concepts)
	if d.Painting != nil {
		v.Title = paintedTitle(d.Painting, v.ModelTitle)
		v.Description = paintedDescription(d.Painting, v.ModelTitle)
	}
	if v.OGImageW <= 0 || v.OGImageH <= 0 {
		v.OGImageW, v.OGImageH = v.Width, v.Height
	}
	q := stateQuery(d.State)
	v.PainterURL = painterPath + q
	v.DownloadURL = renderPath + q
	for _, l := range h.Layers {
		if l.Name == h.DefaultLayer {
			v.Layer = l
		}
	}
	if v.Layer.Name == "" && len(h.Layers) > 0 {
		v.Layer = h.Layers[0]
	}
	v.MaxRadius = server.DefaultMaxRadius(h.Image.Width, h.Image.Height)
	if h.Limits.MaxRadius > 0 {
		v.MaxRadius = min(v.MaxRadius, h.Limits.MaxRadius)
	}
	// Half a cell of the layer grid: a click then covers about one unit
	// cell, like GANPaint's fixed brush.
	v.Radius = max(1, h.Image.Width/16)
	if v.Layer.Width > 0 {
		v.Radius = max(1, h.Image.Width/v.Layer.Width/2)
	}
	v.Radius = min(v.Radius, v.MaxRadius)
	v.MaxUnits = maxUnitsUI
	if h.Limits.MaxUnits > 0 {
		v.MaxUnits = min(v.MaxUnits, h.Limits.MaxUnits)
	}
	v.Units = min(v.Units, v.MaxUnits)
	presets := v.Presets[:0]
	for _, p := range v.Presets {
		if p <= v.MaxUnits {
			presets = append(presets, p)
		}
	}
	v.Presets = presets

	for i, id := range h.SampleIDs {
		if i == maxSamples {
			break
		}
		s := sample{ID: id}
		if h.Model.Name != "" && v.Layer.Name != "" {
			tok, err := tokens.Encode(painting.State{Model: h.Model.Name, Layer: v.Layer.Name, ID: id})
			if err != nil {
				return view{}, fmt.Errorf("%w: sample %d: %v", ErrInvalidPageData, id, err)
			}
			s.Thumb = renderPath + stateQuery(tok)
		}
		v.Samples = append(v.Samples, s)
	}

	page := "painter"
	if embed {
		page = "embed"
	} else {
		for _, l := range h.Layers {
			v.Repair = v.Repair || l.Repair > 0
		}
		v.ComparePath, v.GrowthPath = d.ComparePath, d.GrowthPath
		if v.ComparePath != "" || v.GrowthPath != "" || v.Repair {
			v.ExtraCSS = append(v.ExtraCSS, a.URL("analysis.css"))
		}
		v.Custom, v.CustomError = d.Custom, d.CustomError
		v.Models = d.Models
	}
	wsPath := d.WSPath
	if wsPath == "" {
		wsPath = defaultWS
	}
	cfg := clientConfig{
		Page:        page,
		Concepts:    h.Concepts,
		State:       d.State,
		BaseURL:     strings.TrimSuffix(d.BaseURL, "/"),
		PartialMS:   partialStrokeMS,
		StateError:  d.StateError != "" || d.ModelError != "",
		ConceptKeys: conceptKeys,
		Protocol:    server.WireProtocol(),
		Limits:      h.Limits,
		Model: clientModel{
			Name: h.Model.Name, Title: v.ModelTitle,
			Width: h.Image.Width, Height: h.Image.Height,
			DefaultLayer: v.Layer.Name, MaxID: h.MaxID,
			Layers: []clientLayer{},
		},
		Units:   clientUnits{Default: v.Units, Max: v.MaxUnits, Presets: v.Presets},
		Paths:   clientPaths{WS: wsPath, Render: renderPath, Painter: painterPath, Embed: embedPath},
		Samples: []clientSample{},
	}
	if cfg.Concepts == nil {
		cfg.Concepts = []server.HelloConcept{}
	}
	for _, l := range h.Layers {
		cfg.Model.Layers = append(cfg.Model.Layers, clientLayer{Name: l.Name, Width: l.Width, Height: l.Height, Repair: l.Repair})
	}
	for _, s := range v.Samples {
		cfg.Samples = append(cfg.Samples, clientSample{ID: s.ID, Thumb: s.Thumb})
	}
	if c := v.Custom; c != nil {
		mode := "add"
		if c.Remove {
			mode = "remove"
		}
		cfg.Custom = &clientCustom{Layer: c.Layer, Units: c.Units, Mode: mode, Label: c.Label, Color: customColor, Brushes: c.Brushes}
	}
	v.Config = cfg
	return v, nil
}

// friendlyStateError is what a page opened from an unusable share link says.
// The server's reason ("not base64url", "image id out of range") means
// nothing to the person who clicked the link; it stays in the server's log.
//
// A link for a model the server does not have says so: the server's
// message names that model and the ones it has, which helps the person
// who clicked it, and it never shows another model's picture as that link.
func friendlyStateError(reason, modelReason string) string {
	if modelReason != "" {
		return strings.ToUpper(modelReason[:1]) + modelReason[1:] + ", so the default image was loaded instead."
	}
	if reason == "" {
		return ""
	}
	return "This link could not be opened (it may be incomplete or made for another model), so the default image was loaded instead."
}

// describe is the meta/og description of a page.
func describe(concepts []server.HelloConcept) string {
	names := make([]string, 0, len(concepts))
	for _, c := range concepts {
		names = append(names, c.Name)
	}
	what := "objects"
	switch n := len(names); {
	case n > 5:
		what = strings.Join(names[:5], ", ") + " and more"
	case n > 1:
		what = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	case n == 1:
		what = names[0]
	}
	return "Paint " + what + " into images generated by a GAN, by switching on and off the generator units that draw them."
}

// conceptKeys are the keyboard shortcuts of the concept buttons, in palette
// order: the number row first, then letters that no other shortcut uses
// (d draw, r remove, g grid, o original, z/y with Ctrl). app.js reads the
// same string from the page config.
const conceptKeys = "1234567890-=qwetyuipasfhjklxcvbnm"

// conceptKey is the keyboard shortcut of the i-th concept button, "" when
// the palette has more concepts than keys.
func conceptKey(i int) string {
	if i < len(conceptKeys) {
		return conceptKeys[i : i+1]
	}
	return ""
}

// keyLabel is how a key is printed on the page.
func keyLabel(k string) string { return strings.ToUpper(k) }

func conceptLabel(i int, name string) string {
	if k := conceptKey(i); k != "" {
		return name + " (" + keyLabel(k) + ")"
	}
	return name
}

// conceptKeyList is "1 tree, 2 sky, …" for screen readers.
func conceptKeyList(v view) string {
	var parts []string
	for i, c := range v.Concepts {
		if k := conceptKey(i); k != "" {
			parts = append(parts, keyLabel(k)+" "+c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

func firstConcept(v view) string {
	if len(v.Concepts) == 0 {
		return "concept"
	}
	return v.Concepts[0].Name
}

func stateQuery(state string) string {
	if state == "" {
		return ""
	}
	return "?state=" + url.QueryEscape(state)
}

func layerLabel(l server.HelloLayer) string {
	return l.Name + " · " + itoa(l.Width) + "×" + itoa(l.Height)
}

func boolString(b bool) string { return strconv.FormatBool(b) }

func itoa(i int) string { return strconv.Itoa(i) }

func i64toa(i int64) string { return strconv.FormatInt(i, 10) }

// statusKind styles the status line; a page opened with an unusable share
// link starts with that error showing.
func statusKind(v view) string {
	if v.StateError != "" || v.CustomError != "" {
		return "error"
	}
	return "info"
}

// customTitle lists a custom brush's units for its tooltip.
func customTitle(c *server.PageCustom) string {
	parts := make([]string, len(c.Units))
	for i, u := range c.Units {
		parts[i] = strconv.Itoa(u)
	}
	return "Units " + strings.Join(parts, ", ") + " of " + c.Layer + ", chosen in the unit editor"
}

// statusText is what the status line says when the page opens: why its
// link or its custom brush could not be used.
func statusText(v view) string {
	return strings.TrimSpace(v.StateError + " " + v.CustomError)
}
