package server

import (
	"context"
	"errors"
	"image"
	"io"
	"net/http"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/painting"
)

// ErrBusy is what an Engine returns (possibly wrapped) when it cannot take
// more work right now. The server keeps the session's state and retries
// after a short backoff instead of failing the user's stroke.
var ErrBusy = errors.New("server: engine busy")

// LayerInfo describes one generator layer: its name and output shape.
type LayerInfo struct {
	Name     string
	Channels int
	Width    int
	Height   int
}

// ModelInfo is the part of a model's manifest the painter shows or checks
// input against.
type ModelInfo struct {
	Name         string
	Title        string
	ImageWidth   int
	ImageHeight  int
	MaxID        int64 // valid ids are 0 ≤ id < MaxID
	SampleIDs    []int64
	DefaultLayer string
	Layers       []LayerInfo // in generator order
}

// Features are an image's cached activations at one layer. The server never
// looks inside; it only hands them back to the Engine that made them and
// reports their size in its session logs.
type Features interface {
	SizeBytes() int
}

// Edit is one intervention as the engine applies it: inference's edit,
// already resolved to units, mode (add, remove, or a recipe's blend),
// strength (0 means 1) and a mask with one alpha per cell of Layer's grid (each 0 or
// 1; masks are shared between renders and must not be modified), and the
// layer it applies at. The session makes them in one place (edit.engine),
// from the painter's painting.Edit.
type Edit struct {
	inference.Edit
	// Layer is the layer the edit applies at ("" = the features' layer; a
	// later layer for brushes trained there). Edits apply layer by layer in
	// generator order, in list order within a layer.
	Layer string
}

// Removes is whether the edit switches its units off.
func (e Edit) Removes() bool { return e.Mode == inference.ModeRemove }

// Engine is what the painter needs from the generator. Implementations must
// be safe for concurrent use and return ErrBusy (wrapped is fine) when
// overloaded.
type Engine interface {
	Model() ModelInfo
	// Features runs the generator from image id's z up to layer.
	Features(ctx context.Context, layer string, id int64) (Features, error)
	// Render applies edits (in order, composed as the reference does) to a
	// copy of f and runs the rest of the generator. It must not modify f's
	// activations, and the same f and edits must always give the same
	// pixels. It may keep state inside f that makes the next Render of the
	// same f cheaper (ModelEngine keeps the last frame and repaints only
	// the region an edit can reach).
	Render(ctx context.Context, f Features, edits []Edit) (*image.RGBA, error)
}

// Concept is one paintable concept as shown in the palette.
type Concept struct {
	Name  string
	Color string // "#rrggbb"
}

// Concepts gives the palette and the dissection's unit rankings.
type Concepts interface {
	// List returns every concept in display order.
	List() []Concept
	// Ranked returns the units of layer that draw concept, best first, or
	// nil when the concept has no units at that layer.
	Ranked(layer, concept string) []int
}

// PageData is what the painter and embed pages are rendered from.
type PageData struct {
	// Hello is the same model description the websocket's hello message
	// carries, so the page can draw its palette before the socket opens.
	Hello Hello
	// State is the share token from the page URL when it is valid, else "".
	State string
	// StateError is a short user-facing message when the URL carried a
	// token that could not be used.
	StateError string
	// ModelError says, for the user, that the link's token or ?model=
	// names a model this server does not have (the page then paints with
	// Hello's model, the default); "" otherwise.
	ModelError string
	// Models is the model picker: every model the server paints with, the
	// page's marked Current; nil when the server has one model.
	Models []ModelChoice
	// WSPath is the websocket path, relative to the site root ("/ws").
	WSPath string
	// BaseURL is the absolute site root without a trailing slash, e.g.
	// "https://paint.example.org".
	BaseURL string
	// PageURL is the absolute URL of this page including ?state= when set.
	PageURL string
	// PainterURL is the absolute URL of the full painter for State (used by
	// the embed page's "open full painter" link).
	PainterURL string
	// ImageURL is the absolute URL of /render.png for State, upscaled for
	// link previews (og:image), and ImageWidth × ImageHeight its size.
	ImageURL    string
	ImageWidth  int
	ImageHeight int
	// Painting is what State shows, for the pages' link-preview title and
	// description; nil when the page has no (usable) State.
	Painting *Painting
	// Embed is true for the /embed variant.
	Embed bool
	// ReportURL is the dissection report's path ("/report/") when the
	// server has one, else "".
	ReportURL string
	// ComparePath is the compare panel's endpoint ("/api/compare"), or ""
	// when the server has no Comparer.
	ComparePath string
	// GrowthPath is the growth overlay's endpoint ("/api/growth"), or ""
	// when the server has no Growth.
	GrowthPath string
	// Custom is the custom brush the page address carries (units chosen in
	// the unit editor), validated; nil when it has none or a bad one.
	Custom *PageCustom
	// CustomError says, for the user, why the address's custom brush
	// cannot be used; "" when it has none or a good one.
	CustomError string
}

// Painting describes a share link's image and edits in words a page can
// use: the image id and, in order, what each edit did.
type Painting struct {
	ID    int64
	Layer string
	Edits []painting.Edit
}

// Pages renders the HTML pages; the web package implements it.
type Pages interface {
	Painter(w io.Writer, data PageData) error
	Embed(w io.Writer, data PageData) error
}

// ModelDeps are one model's collaborators: what the server paints, renders
// and analyses that model with.
type ModelDeps struct {
	Engine   Engine   // required
	Concepts Concepts // required
	// API serves the reference-shaped REST API (a *RefAPI) of this model,
	// mounted at /api next to /api/model (models.go: which model a request
	// reaches). Optional.
	API http.Handler
	// Report serves the dissection report and the unit editor, mounted at
	// /report for the default model and at ModelPrefix(name)+"/report" for
	// every model. Optional.
	Report http.Handler
	// Comparer enables GET /api/compare (the compare panel). Optional: a
	// model without a segmenter has none.
	Comparer Comparer
	// Artifacts enables the "repair artifacts" toggle. Optional.
	Artifacts Artifacts
	// Growth enables GET /api/growth (the "where can it grow" overlay).
	// Optional.
	Growth Growth
}

// Deps are the collaborators a Server is built from: the default model's,
// the other models' and the web UI.
type Deps struct {
	// ModelDeps are the default model's: what a request that names no
	// model paints with.
	ModelDeps
	// Models are further models the server serves besides the default;
	// share tokens and ?model= choose among them (models.go). Their names
	// (Engine.Model().Name) must differ.
	Models []ModelDeps
	Pages  Pages // required
	// Static serves the UI's content-hashed assets; it is mounted at
	// /static/ and receives the full request path. Optional.
	Static http.Handler
}

// Artifacts gives the units the "repair artifacts" toggle switches off at
// a layer, everywhere (artifact units: ablating them makes images more
// realistic), or nil when the layer has no ranking.
type Artifacts interface {
	Repair(layer string) []int
}
