package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/inference"
)

// RefModel is what the reference-shaped REST API needs from the generator;
// *inference.Model is one.
type RefModel interface {
	Manifest() inference.Manifest
	Layers() []inference.LayerInfo
	ZBatch(ids []int64) ([]float32, error)
	Head(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error)
	Tail(ctx context.Context, f *inference.Features) (*inference.Images, error)
	Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
	// Levels are the per-unit values "value": "level" inserts.
	Levels(ctx context.Context, layer string) ([]float32, error)
	ImageRange() [2]float32
}

// RefAPIConfig tunes the reference-shaped REST API (docs/api.md). The zero
// value of every field means its documented default.
type RefAPIConfig struct {
	// MaxIDs bounds the ids (or zs) of one request. Default 64.
	MaxIDs int
	// MaxInterventions bounds the interventions of one request. Default 64.
	MaxInterventions int
	// MaxAblations bounds the ablations of one request, summed over its
	// interventions. Default 8192.
	MaxAblations int
	// MaxMaskSide bounds each side of a mask. Default 2048.
	MaxMaskSide int
	// MaxMaskPixels bounds the mask pixels of one request, summed over its
	// masks. Default 16 Mi.
	MaxMaskPixels int
	// MaxQuantiles bounds the quantiles of /api/levels. Default 101.
	MaxQuantiles int
	// MaxBodyBytes bounds a request body. Default 8 MiB.
	MaxBodyBytes int64
	// MaxRunning is how many model-running requests are served at once; more
	// get 503 with Retry-After. Default 4.
	MaxRunning int
	// Batch is how many images go into one model call. Default 16.
	Batch int
	// JPEGQuality of generated images. Default 99, as the reference.
	JPEGQuality int
	// Timeout bounds one request. Default 60 s.
	Timeout time.Duration
	// CORSOrigins are the browser origins allowed to call the API from other
	// sites ("*" for any). Default none: no CORS headers at all.
	CORSOrigins []string
	// Logger receives the API's error logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of RefAPIConfig.
const (
	DefaultRefMaxIDs           = 64
	DefaultRefMaxInterventions = 64
	DefaultRefMaxAblations     = 8192
	DefaultRefMaxMaskSide      = 2048
	DefaultRefMaxMaskPixels    = 16 << 20
	DefaultRefMaxQuantiles     = 101
	DefaultRefMaxBodyBytes     = 8 << 20
	DefaultRefMaxRunning       = 4
	DefaultRefBatch            = 16
	DefaultRefJPEGQuality      = 99
	DefaultRefTimeout          = 60 * time.Second
)

func (c RefAPIConfig) withDefaults() (RefAPIConfig, error) {
	set := func(v *int, d int) error {
		if *v < 0 {
			return fmt.Errorf("%w: API limits must not be negative", ErrConfig)
		}
		if *v == 0 {
			*v = d
		}
		return nil
	}
	for _, f := range []struct {
		v *int
		d int
	}{
		{&c.MaxIDs, DefaultRefMaxIDs}, {&c.MaxInterventions, DefaultRefMaxInterventions},
		{&c.MaxAblations, DefaultRefMaxAblations}, {&c.MaxMaskSide, DefaultRefMaxMaskSide},
		{&c.MaxMaskPixels, DefaultRefMaxMaskPixels}, {&c.MaxQuantiles, DefaultRefMaxQuantiles},
		{&c.MaxRunning, DefaultRefMaxRunning}, {&c.Batch, DefaultRefBatch}, {&c.JPEGQuality, DefaultRefJPEGQuality},
	} {
		if err := set(f.v, f.d); err != nil {
			return c, err
		}
	}
	if c.MaxBodyBytes < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("%w: API body limit and timeout must not be negative", ErrConfig)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultRefMaxBodyBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultRefTimeout
	}
	if c.JPEGQuality > 100 {
		return c, fmt.Errorf("%w: API JPEG quality %d is not in 1..100", ErrConfig, c.JPEGQuality)
	}
	if c.Batch > inference.MaxBatch {
		c.Batch = inference.MaxBatch
	}
	for _, o := range c.CORSOrigins {
		if err := checkOriginSyntax(o); err != nil {
			return c, fmt.Errorf("%w: API CORS origin: %v", ErrConfig, err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// RefAPIDeps are what the API is built from.
type RefAPIDeps struct {
	Model   RefModel            // required
	Results *dissection.Results // required: units, labels, rankings, quantiles
	// UnitImageURL gives the URL of a unit's top-image strip for
	// /api/units ("img"); nil leaves "img" empty.
	UnitImageURL func(layer string, unit int) string
}

// RefAPI serves the JSON API of the reference GAN Dissection server
// (docs/api.md) so that its clients and scripts work against this model.
// Mount it at /api. It is safe for concurrent use.
type RefAPI struct {
	cfg      RefAPIConfig
	errs     errorPath
	model    RefModel
	res      *dissection.Results
	unitURL  func(layer string, unit int) string
	man      inference.Manifest
	project  string
	layers   map[string]inference.LayerInfo
	order    []string // dissected layers in generator order
	origins  map[string]bool
	anyOrig  bool
	running  chan struct{}
	router   chi.Router
	imgRange [2]float32
}

// NewRefAPI checks the dependencies and builds the API.
func NewRefAPI(cfg RefAPIConfig, deps RefAPIDeps) (*RefAPI, error) {
	if deps.Model == nil || deps.Results == nil {
		return nil, fmt.Errorf("%w: the API needs a model and dissection results", ErrConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &RefAPI{
		cfg: cfg, errs: errorPath{log: cfg.Logger, json: true}, model: deps.Model, res: deps.Results, unitURL: deps.UnitImageURL,
		man: deps.Model.Manifest(), layers: map[string]inference.LayerInfo{}, origins: map[string]bool{},
		running: make(chan struct{}, cfg.MaxRunning), imgRange: deps.Model.ImageRange(),
	}
	a.project = a.man.Name
	for _, li := range deps.Model.Layers() {
		a.layers[li.Name] = li
		if l, ok := deps.Results.Layers[li.Name]; ok {
			if l.Channels != li.Channels {
				return nil, fmt.Errorf("server: dissection of %s has %d units, the model %d", li.Name, l.Channels, li.Channels)
			}
			a.order = append(a.order, li.Name)
		}
	}
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			a.anyOrig = true
		}
		a.origins[normalizeOrigin(o)] = true
	}
	r := chi.NewRouter()
	r.Use(a.cors)
	r.Get("/all_projects", a.errs.handle(a.handleAllProjects))
	r.Get("/layers", a.errs.handle(a.handleLayers))
	r.Get("/units", a.errs.handle(a.handleUnits))
	r.Get("/rankings", a.errs.handle(a.handleRankings))
	r.Get("/levels", a.errs.handle(a.handleLevels))
	r.Get("/channels", a.errs.handle(a.handleChannels))
	r.Get("/recipes", a.errs.handle(a.handleRecipes))
	r.Post("/generate", a.errs.handle(a.handleGenerate))
	r.Post("/features", a.errs.handle(a.handleFeatures))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.errs.write(w, r, httpErr(http.StatusNotFound, "no API endpoint %s (see docs/api.md)", truncate(r.URL.Path, 64)))
	})
	r.MethodNotAllowed(a.errs.methodNotAllowed(func(r *http.Request) string {
		if strings.HasSuffix(r.URL.Path, "/generate") || strings.HasSuffix(r.URL.Path, "/features") {
			return "POST"
		}
		return "GET"
	}))
	a.router = r
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *RefAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// maxBodyBytes is the body limit, for the server that routes POSTs to
// several models' APIs by the project in their body.
func (a *RefAPI) maxBodyBytes() int64 { return a.cfg.MaxBodyBytes }

// Project is the project name the API answers to (the model's name).
func (a *RefAPI) Project() string { return a.project }

// refEnvelope is every answer but all_projects: the request and the result.
type refEnvelope struct {
	Request any `json:"request"`
	Res     any `json:"res"`
}

func (a *RefAPI) ok(w http.ResponseWriter, req, res any) {
	writeJSON(w, http.StatusOK, refEnvelope{Request: req, Res: res})
}

// corsDoneKey marks a request whose CORS headers are set: the server's
// /api routes set them before choosing a model (so that their own errors
// carry them too), and the chosen model's API then adds none twice.
type corsDoneKey struct{}

// cors answers preflights and sets Access-Control-Allow-Origin for allowed
// origins. With no configured origins it adds nothing, so browsers keep the
// same-origin policy.
func (a *RefAPI) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(corsDoneKey{}) != nil {
			next.ServeHTTP(w, r)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), corsDoneKey{}, true))
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (a.anyOrig || a.origins[normalizeOrigin(origin)])
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		} else if len(a.origins) > 0 {
			w.Header().Add("Vary", "Origin")
		}
		next.ServeHTTP(w, r)
	})
}

// ---- GET endpoints ----

type refProject struct {
	Project string         `json:"project"`
	Info    refProjectInfo `json:"info"`
}

type refProjectInfo struct {
	Layers []string `json:"layers"`
}

// handleAllProjects answers a bare list, not an envelope: the reference
// server does, and its clients read the list directly.
// On a server with several models the list is every model's (models.go
// puts it in the request's context).
func (a *RefAPI) handleAllProjects(w http.ResponseWriter, r *http.Request) error {
	if all, ok := r.Context().Value(allProjectsKey{}).([]refProject); ok {
		writeJSON(w, http.StatusOK, all)
		return nil
	}
	writeJSON(w, http.StatusOK, []refProject{a.projectEntry()})
	return nil
}

// projectEntry is this API's entry of /api/all_projects.
func (a *RefAPI) projectEntry() refProject {
	return refProject{Project: a.project, Info: refProjectInfo{Layers: a.layerNames()}}
}

func (a *RefAPI) layerNames() []string {
	return append([]string{}, a.order...)
}

// query reads the project (and, when wantLayer, the dissected layer) of a
// GET request.
func (a *RefAPI) query(r *http.Request, wantLayer bool) (map[string]any, *dissection.Layer, *httpError) {
	q := r.URL.Query()
	req := map[string]any{}
	project := q.Get("project")
	req["project"] = project
	if e := a.checkProject(project); e != nil {
		return req, nil, e
	}
	if !wantLayer {
		return req, nil, nil
	}
	name := q.Get("layer")
	req["layer"] = name
	if name == "" {
		return req, nil, httpErr(http.StatusBadRequest, "missing query parameter layer (one of %s)", strings.Join(a.order, ", "))
	}
	l, ok := a.res.Layers[name]
	if !ok {
		if _, exists := a.layers[name]; exists {
			return req, nil, httpErr(http.StatusNotFound, "layer %q was not dissected (dissected: %s)", truncate(name, 32), strings.Join(a.order, ", "))
		}
		return req, nil, httpErr(http.StatusNotFound, "unknown layer %q (dissected: %s)", truncate(name, 32), strings.Join(a.order, ", "))
	}
	return req, l, nil
}

func (a *RefAPI) checkProject(project string) *httpError {
	if project == "" {
		return httpErr(http.StatusBadRequest, "missing project (this server has %q)", a.project)
	}
	if project != a.project {
		return httpErr(http.StatusNotFound, "unknown project %q (this server has %q)", truncate(project, 64), a.project)
	}
	return nil
}

type refLayer struct {
	Layer    string `json:"layer"`
	Channels int    `json:"channels"`
	Shape    [2]int `json:"shape"`
}

func (a *RefAPI) handleLayers(w http.ResponseWriter, r *http.Request) error {
	req, _, e := a.query(r, false)
	if e != nil {
		return e
	}
	out := []refLayer{}
	for _, name := range a.order {
		li := a.layers[name]
		out = append(out, refLayer{Layer: name, Channels: li.Channels, Shape: [2]int{li.Height, li.Width}})
	}
	a.ok(w, req, out)
	return nil
}

type refUnit struct {
	Unit          int     `json:"unit"`
	Img           string  `json:"img"`
	Label         string  `json:"label"`
	IoU           float64 `json:"iou"`
	Interpretable bool    `json:"interpretable"`
}

func (a *RefAPI) handleUnits(w http.ResponseWriter, r *http.Request) error {
	req, l, e := a.query(r, true)
	if e != nil {
		return e
	}
	out := make([]refUnit, len(l.Units))
	for i, u := range l.Units {
		out[i] = refUnit{Unit: i, Label: u.Label, IoU: u.IoU, Interpretable: u.Interpretable}
		if a.unitURL != nil {
			out[i].Img = a.unitURL(l.Layer, i)
		}
	}
	a.ok(w, req, out)
	return nil
}

type refRanking struct {
	Name   string    `json:"name"`
	Metric string    `json:"metric"`
	Scores []float64 `json:"scores"`
}

func (a *RefAPI) handleRankings(w http.ResponseWriter, r *http.Request) error {
	req, l, e := a.query(r, true)
	if e != nil {
		return e
	}
	rs := l.NamedRankings()
	out := make([]refRanking, len(rs))
	for i, rk := range rs {
		out[i] = refRanking{Name: rk.Name, Metric: rk.Metric, Scores: rk.Scores}
	}
	a.ok(w, req, out)
	return nil
}

// parseQuantiles reads quantiles=0.99 (repeatable, or a comma list).
func (a *RefAPI) parseQuantiles(r *http.Request) ([]float64, *httpError) {
	var qs []float64
	for _, v := range r.URL.Query()["quantiles"] {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			q, err := strconv.ParseFloat(p, 64)
			if err != nil || !(q >= 0 && q <= 1) {
				return nil, httpErr(http.StatusBadRequest, "quantile %q is not a number in [0, 1]", truncate(p, 32))
			}
			if len(qs) == a.cfg.MaxQuantiles {
				return nil, httpErr(http.StatusBadRequest, "more than %d quantiles", a.cfg.MaxQuantiles)
			}
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return nil, httpErr(http.StatusBadRequest, "missing query parameter quantiles (e.g. quantiles=0.99)")
	}
	return qs, nil
}

func (a *RefAPI) handleLevels(w http.ResponseWriter, r *http.Request) error {
	req, l, e := a.query(r, true)
	if e != nil {
		return e
	}
	qs, e := a.parseQuantiles(r)
	req["quantiles"] = qs
	if e != nil {
		return e
	}
	out := make([][]float32, len(l.Units))
	for u := range out {
		out[u] = make([]float32, len(qs))
	}
	for i, q := range qs {
		switch {
		case l.Quantiles != nil:
			for u := range out {
				out[u][i] = l.Quantiles.Level(u, q)
			}
		case q == l.LevelQuantile:
			for u := range out {
				out[u][i] = l.Units[u].Level
			}
		default:
			return httpErr(http.StatusNotFound, "the dissection of %s has no quantile table, only levels at %v; rerun `ganpaint dissect`", l.Layer, l.LevelQuantile)
		}
	}
	a.ok(w, req, out)
	return nil
}

type refChannel struct {
	ID int    `json:"id"`
	D  string `json:"d"`
}

// handleChannels answers the reference client's ablation-channel shape:
// one entry per unit with its image, and no current ablation.
func (a *RefAPI) handleChannels(w http.ResponseWriter, r *http.Request) error {
	req, l, e := a.query(r, true)
	if e != nil {
		return e
	}
	chans := make([]refChannel, len(l.Units))
	for i := range chans {
		chans[i].ID = i
		if a.unitURL != nil {
			chans[i].D = a.unitURL(l.Layer, i)
		}
	}
	a.ok(w, req, map[string]any{"channels": chans, "ablation": nil})
	return nil
}

// RefRecipe is the reference's recipe record: a named set of units with
// weights at one layer.
type RefRecipe struct {
	Layer string          `json:"layer"`
	Name  string          `json:"name"`
	Unit  []RefRecipeUnit `json:"unit"`
}

// RefRecipeUnit is one unit of a recipe.
type RefRecipeUnit struct {
	Unit  int     `json:"unit"`
	Alpha float64 `json:"alpha"`
	Value float64 `json:"value"`
}

func (a *RefAPI) handleRecipes(w http.ResponseWriter, r *http.Request) error {
	req, _, e := a.query(r, false)
	if e != nil {
		return e
	}
	// Learned recipes (dissection schema 2) in layer order, then by name;
	// results of schema 1 hold none, so the list is empty.
	out := []RefRecipe{}
	for _, layer := range a.order {
		l := a.res.Layers[layer]
		names := make([]string, 0, len(l.Recipes))
		for name := range l.Recipes {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			rc := l.Recipes[name]
			units := make([]RefRecipeUnit, len(rc.Units))
			for i, u := range rc.Units {
				units[i] = RefRecipeUnit{Unit: u, Alpha: float64(rc.Weights[i]), Value: float64(rc.Values[i])}
			}
			out = append(out, RefRecipe{Layer: layer, Name: name, Unit: units})
		}
	}
	a.ok(w, req, out)
	return nil
}

// ---- POST bodies ----

// decodeBody reads a JSON object body into v and returns the raw body for
// the envelope's echo.
func (a *RefAPI) decodeBody(w http.ResponseWriter, r *http.Request, v any) (json.RawMessage, *httpError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain") {
			return nil, httpErr(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type application/json), not %q", truncate(ct, 64))
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpErr(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", a.cfg.MaxBodyBytes)
		}
		return nil, httpErr(http.StatusBadRequest, "reading the body: %v", err)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, httpErr(http.StatusBadRequest, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		return nil, httpErr(http.StatusBadRequest, "%s", jsonProblem(err))
	}
	if dec.More() {
		return nil, httpErr(http.StatusBadRequest, "unexpected data after the JSON object")
	}
	return json.RawMessage(trimmed), nil
}

// jsonProblem words a decoding error for the client.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Sprintf("field %s: got a JSON %s, want %s", field, te.Value, jsonKind(te.Type.String()))
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: the body ends early"
	}
	return "malformed JSON: " + err.Error()
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool":
		return "true or false"
	}
	return "an object"
}

// flexBool reads the reference clients' booleans, which are sometimes 0/1.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", "1":
		*b = true
	case "false", "0", "null":
		*b = false
	default:
		return fmt.Errorf("want true, false, 0 or 1, got %s", truncate(string(data), 16))
	}
	return nil
}

// refValue is an ablation's value: a number, null (0, as the reference), or
// "level" (the unit's level, the value the painter's "add" uses).
type refValue struct {
	level bool
	v     float64
}

func (rv *refValue) UnmarshalJSON(data []byte) error {
	s := string(data)
	switch s {
	case "null":
		*rv = refValue{}
		return nil
	case `"level"`:
		*rv = refValue{level: true}
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return fmt.Errorf("value must be a number, null or \"level\", got %s", truncate(s, 16))
	}
	*rv = refValue{v: v}
	return nil
}

type refAblation struct {
	Layer string    `json:"layer"`
	Unit  *int      `json:"unit"`
	Alpha *float64  `json:"alpha"`
	Value *refValue `json:"value"`
}

type refInterventionBody struct {
	Ablations   []refAblation `json:"ablations"`
	Mask        *refMask      `json:"mask"`
	MaskPooling string        `json:"maskpooling"`
}

type refGenerateBody struct {
	Project       string                `json:"project"`
	IDs           []int64               `json:"ids"`
	Zs            [][]float64           `json:"zs"`
	WantZ         flexBool              `json:"wantz"`
	Interventions []refInterventionBody `json:"interventions"`
	// Ablations at the top level are an intervention without a mask,
	// applied before the others (the reference accepts and ignores them).
	Ablations []refAblation `json:"ablations"`
	// ReturnURLs is accepted and ignored: images always come inline.
	ReturnURLs flexBool `json:"return_urls"`
}

// latents resolves ids or zs into one flat z array.
func (a *RefAPI) latents(ids []int64, zs [][]float64) ([]float32, int, *httpError) {
	zsize := a.man.Z.Size
	switch {
	case ids != nil && zs != nil:
		return nil, 0, httpErr(http.StatusBadRequest, "give ids or zs, not both")
	case ids != nil:
		if len(ids) == 0 {
			return nil, 0, httpErr(http.StatusBadRequest, "ids is empty")
		}
		if len(ids) > a.cfg.MaxIDs {
			return nil, 0, httpErr(http.StatusRequestEntityTooLarge, "%d ids; at most %d per request", len(ids), a.cfg.MaxIDs)
		}
		for _, id := range ids {
			if id < 0 || id >= a.man.Z.MaxID {
				return nil, 0, httpErr(http.StatusBadRequest, "id %d is not in 0..%d", id, a.man.Z.MaxID-1)
			}
		}
		z, err := a.model.ZBatch(ids)
		if err != nil {
			return nil, 0, httpErr(http.StatusBadRequest, "ids: %v", err)
		}
		return z, len(ids), nil
	case zs != nil:
		if len(zs) == 0 {
			return nil, 0, httpErr(http.StatusBadRequest, "zs is empty")
		}
		if len(zs) > a.cfg.MaxIDs {
			return nil, 0, httpErr(http.StatusRequestEntityTooLarge, "%d zs; at most %d per request", len(zs), a.cfg.MaxIDs)
		}
		flat := make([]float32, 0, len(zs)*zsize)
		for i, z := range zs {
			if len(z) != zsize {
				return nil, 0, httpErr(http.StatusBadRequest, "zs[%d] has %d numbers; this model's z has %d", i, len(z), zsize)
			}
			for _, v := range z {
				if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
					return nil, 0, httpErr(http.StatusBadRequest, "zs[%d] holds %v; z values must be finite", i, v)
				}
				flat = append(flat, float32(v))
			}
		}
		return flat, len(zs), nil
	}
	return nil, 0, httpErr(http.StatusBadRequest, "give ids (image numbers) or zs (latent vectors)")
}

// refPlan is a request's interventions resolved to edits at one layer.
type refPlan struct {
	layer inference.LayerInfo
	edits []inference.Edit
}

// plan turns interventions into edits. Every ablation must be at the same
// layer: the model is run up to it, edited and finished, as the painter is.
// A level that must be computed runs the generator, so ctx bounds it.
func (a *RefAPI) plan(ctx context.Context, interventions []refInterventionBody) (*refPlan, error) {
	if len(interventions) > a.cfg.MaxInterventions {
		return nil, httpErr(http.StatusRequestEntityTooLarge, "%d interventions; at most %d per request", len(interventions), a.cfg.MaxInterventions)
	}
	total, maskPixels := 0, 0
	layer := ""
	for i, iv := range interventions {
		total += len(iv.Ablations)
		if total > a.cfg.MaxAblations {
			return nil, httpErr(http.StatusRequestEntityTooLarge, "more than %d ablations in one request", a.cfg.MaxAblations)
		}
		for j, ab := range iv.Ablations {
			if ab.Layer == "" {
				return nil, httpErr(http.StatusBadRequest, "interventions[%d].ablations[%d]: missing layer", i, j)
			}
			if _, ok := a.layers[ab.Layer]; !ok {
				return nil, httpErr(http.StatusBadRequest, "interventions[%d].ablations[%d]: unknown layer %q", i, j, truncate(ab.Layer, 32))
			}
			if layer != "" && ab.Layer != layer {
				return nil, httpErr(http.StatusBadRequest, "ablations at layers %s and %s: one request may edit one layer", layer, truncate(ab.Layer, 32))
			}
			layer = ab.Layer
		}
	}
	if layer == "" {
		return nil, nil
	}
	li := a.layers[layer]
	plan := &refPlan{layer: li}
	var levels []float32
	for i, iv := range interventions {
		if len(iv.Ablations) == 0 {
			continue
		}
		pooling := iv.MaskPooling
		if pooling != "" && pooling != "max" && pooling != "mean" {
			return nil, httpErr(http.StatusBadRequest, "interventions[%d].maskpooling %q: use \"max\" or \"mean\"", i, truncate(pooling, 16))
		}
		cells := make([]float32, li.Width*li.Height)
		if iv.Mask == nil {
			for c := range cells {
				cells[c] = 1
			}
		} else {
			m, err := decodeRefMask(*iv.Mask, a.man.Image.Width, a.man.Image.Height, a.cfg.MaxMaskSide)
			if err != nil {
				return nil, httpErr(http.StatusBadRequest, "interventions[%d].mask: %v", i, err)
			}
			if maskPixels += m.W * m.H; maskPixels > a.cfg.MaxMaskPixels {
				return nil, httpErr(http.StatusRequestEntityTooLarge, "the masks of one request may hold %d pixels in all", a.cfg.MaxMaskPixels)
			}
			adaptivePool(cells, m, li.Width, li.Height, pooling == "mean")
		}
		// Within one intervention a unit has one (alpha, value): the last
		// ablation naming it wins, as in the reference's per-layer planes.
		last := map[int]int{}
		for j, ab := range iv.Ablations {
			if ab.Unit == nil {
				return nil, httpErr(http.StatusBadRequest, "interventions[%d].ablations[%d]: missing unit", i, j)
			}
			if *ab.Unit < 0 || *ab.Unit >= li.Channels {
				return nil, httpErr(http.StatusBadRequest, "interventions[%d].ablations[%d]: unit %d is not in 0..%d of %s", i, j, *ab.Unit, li.Channels-1, layer)
			}
			alpha := 1.0
			if ab.Alpha != nil {
				alpha = *ab.Alpha
			}
			if !(alpha >= 0 && alpha <= 1) {
				return nil, httpErr(http.StatusBadRequest, "interventions[%d].ablations[%d]: alpha %v is not in [0, 1]", i, j, alpha)
			}
			last[*ab.Unit] = j
		}
		for j, ab := range iv.Ablations {
			u := *ab.Unit
			if last[u] != j {
				continue
			}
			alpha := 1.0
			if ab.Alpha != nil {
				alpha = *ab.Alpha
			}
			value := float32(0)
			if ab.Value != nil {
				if ab.Value.level {
					if levels == nil {
						var err error
						if levels, err = a.model.Levels(ctx, layer); err != nil {
							return nil, fmt.Errorf("levels of %s: %w", layer, err)
						}
					}
					value = levels[u]
				} else {
					value = float32(ab.Value.v)
				}
			}
			if alpha == 0 {
				continue
			}
			plan.edits = append(plan.edits, inference.Edit{Units: []int{u}, Mode: inference.ModeSet, Value: value,
				Strength: float32(alpha), Mask: inference.Mask{Width: li.Width, Height: li.Height, Alpha: cells}})
		}
	}
	if len(plan.edits) == 0 {
		return nil, nil
	}
	return plan, nil
}

// adaptivePool pools m onto a gw×gh grid the way PyTorch's adaptive pooling
// does (cell i covers rows ⌊i·H/gh⌋ … ⌈(i+1)·H/gh⌉−1), so it also works when
// the mask is coarser than the grid.
func adaptivePool(dst []float32, m bitMask, gw, gh int, mean bool) {
	for cy := 0; cy < gh; cy++ {
		y0, y1 := cy*m.H/gh, ceilDivInt((cy+1)*m.H, gh)
		for cx := 0; cx < gw; cx++ {
			x0, x1 := cx*m.W/gw, ceilDivInt((cx+1)*m.W, gw)
			var acc float32
			for y := y0; y < y1; y++ {
				for _, v := range m.Bits[y*m.W+x0 : y*m.W+x1] {
					if mean {
						acc += v
					} else {
						acc = max(acc, v)
					}
				}
			}
			if mean {
				acc /= float32((y1 - y0) * (x1 - x0))
			}
			dst[cy*gw+cx] = acc
		}
	}
}

func ceilDivInt(a, b int) int { return (a + b - 1) / b }

type refGenerated struct {
	ID *int64    `json:"id,omitempty"`
	D  string    `json:"d"`
	Z  []float32 `json:"z,omitempty"`
}

// acquire takes one of the MaxRunning slots or answers busy.
func (a *RefAPI) acquire() (func(), *httpError) {
	select {
	case a.running <- struct{}{}:
		return func() { <-a.running }, nil
	default:
		return nil, httpErr(http.StatusServiceUnavailable, "the server is busy (%d requests running), try again", a.cfg.MaxRunning)
	}
}

func (a *RefAPI) handleGenerate(w http.ResponseWriter, r *http.Request) error {
	var body refGenerateBody
	raw, e := a.decodeBody(w, r, &body)
	if e != nil {
		return e
	}
	if e := a.checkProject(body.Project); e != nil {
		return e
	}
	zs, n, e := a.latents(body.IDs, body.Zs)
	if e != nil {
		return e
	}
	ivs := body.Interventions
	if len(body.Ablations) > 0 {
		ivs = append([]refInterventionBody{{Ablations: body.Ablations}}, ivs...)
	}
	plan, err := a.plan(r.Context(), ivs)
	if err != nil {
		return err
	}
	release, e := a.acquire()
	if e != nil {
		return e
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	out := make([]refGenerated, 0, n)
	zsize := a.man.Z.Size
	var buf bytes.Buffer
	for lo := 0; lo < n; lo += a.cfg.Batch {
		hi := min(lo+a.cfg.Batch, n)
		imgs, err := a.render(ctx, zs[lo*zsize:hi*zsize], hi-lo, plan)
		if err != nil {
			return err
		}
		for i := 0; i < hi-lo; i++ {
			buf.Reset()
			if err := inference.EncodeJPEG(&buf, imgs.RGBA(i, a.imgRange), a.cfg.JPEGQuality); err != nil {
				return err
			}
			g := refGenerated{D: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}
			if body.IDs != nil {
				id := body.IDs[lo+i]
				g.ID = &id
			}
			if body.WantZ {
				g.Z = slices.Clone(zs[(lo+i)*zsize : (lo+i+1)*zsize])
			}
			out = append(out, g)
		}
	}
	a.ok(w, raw, out)
	return nil
}

// render generates n images from zs, with the plan's edits when there is one.
func (a *RefAPI) render(ctx context.Context, zs []float32, n int, plan *refPlan) (*inference.Images, error) {
	if plan == nil {
		imgs, _, err := a.model.Generate(ctx, zs, n, nil)
		return imgs, err
	}
	f, err := a.model.Head(ctx, plan.layer.Name, zs, n)
	if err != nil {
		return nil, err
	}
	var levels []float32 // every edit is ModeSet, which needs none
	if err := inference.ApplyEdits(f, f, plan.edits, levels, inference.PoolMax); err != nil {
		return nil, err
	}
	return a.model.Tail(ctx, f)
}

type refFeaturesBody struct {
	Project       string                `json:"project"`
	IDs           []int64               `json:"ids"`
	Masks         []*refMask            `json:"masks"`
	Layers        []string              `json:"layers"`
	Interventions []refInterventionBody `json:"interventions"`
	// Ablations are accepted and ignored, as the reference does.
	Ablations json.RawMessage `json:"ablations"`
}

// refFeatureStats are one layer's answer: per unit, the largest and the
// mask-weighted mean activation under the masks, and their quantiles.
type refFeatureStats struct {
	Max          []float32 `json:"max"`
	Mean         []float32 `json:"mean"`
	MaxQuantile  []float64 `json:"max_quantile,omitempty"`
	MeanQuantile []float64 `json:"mean_quantile,omitempty"`
}

func (a *RefAPI) handleFeatures(w http.ResponseWriter, r *http.Request) error {
	var body refFeaturesBody
	raw, e := a.decodeBody(w, r, &body)
	if e != nil {
		return e
	}
	if e := a.checkProject(body.Project); e != nil {
		return e
	}
	if body.IDs == nil {
		return httpErr(http.StatusBadRequest, "missing ids")
	}
	zs, n, e := a.latents(body.IDs, nil)
	if e != nil {
		return e
	}
	for _, iv := range body.Interventions {
		if len(iv.Ablations) > 0 {
			return httpErr(http.StatusBadRequest, "interventions are not supported by /api/features; measure the unedited model")
		}
	}
	if len(body.Masks) != n {
		return httpErr(http.StatusBadRequest, "%d masks for %d ids: give one mask per id", len(body.Masks), n)
	}
	layers := body.Layers
	if layers == nil {
		layers = a.order
	}
	if len(layers) == 0 {
		return httpErr(http.StatusBadRequest, "layers is empty")
	}
	seen := map[string]bool{}
	for _, name := range layers {
		if _, ok := a.layers[name]; !ok {
			return httpErr(http.StatusBadRequest, "unknown layer %q", truncate(name, 32))
		}
		if seen[name] {
			return httpErr(http.StatusBadRequest, "layer %q listed twice", truncate(name, 32))
		}
		seen[name] = true
	}
	masks := make([]bitMask, n)
	pixels := 0
	for i, m := range body.Masks {
		if m == nil {
			return httpErr(http.StatusBadRequest, "masks[%d] is null", i)
		}
		bm, err := decodeRefMask(*m, a.man.Image.Width, a.man.Image.Height, a.cfg.MaxMaskSide)
		if err != nil {
			return httpErr(http.StatusBadRequest, "masks[%d]: %v", i, err)
		}
		if pixels += bm.W * bm.H; pixels > a.cfg.MaxMaskPixels {
			return httpErr(http.StatusRequestEntityTooLarge, "the masks of one request may hold %d pixels in all", a.cfg.MaxMaskPixels)
		}
		masks[i] = bm
	}
	release, e := a.acquire()
	if e != nil {
		return e
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	acc := map[string]*featureAcc{}
	for _, name := range layers {
		acc[name] = newFeatureAcc(a.layers[name])
	}
	zsize := a.man.Z.Size
	for lo := 0; lo < n; lo += a.cfg.Batch {
		hi := min(lo+a.cfg.Batch, n)
		_, feats, err := a.model.Generate(ctx, zs[lo*zsize:hi*zsize], hi-lo, layers)
		if err != nil {
			return err
		}
		for _, name := range layers {
			f := feats[name]
			if f == nil || len(f.Data) != (hi-lo)*a.layers[name].Size() {
				return fmt.Errorf("model returned no features for %s", name)
			}
			for i := lo; i < hi; i++ {
				acc[name].add(f.Data[(i-lo)*a.layers[name].Size():(i-lo+1)*a.layers[name].Size()], masks[i])
			}
		}
	}
	out := map[string]refFeatureStats{}
	for _, name := range layers {
		st := acc[name].stats()
		if l, ok := a.res.Layers[name]; ok && l.Quantiles != nil {
			st.MaxQuantile = make([]float64, len(st.Max))
			st.MeanQuantile = make([]float64, len(st.Mean))
			for u := range st.Max {
				st.MaxQuantile[u] = l.Quantiles.Rank(u, st.Max[u])
				st.MeanQuantile[u] = l.Quantiles.Rank(u, st.Mean[u])
			}
		}
		out[name] = st
	}
	a.ok(w, raw, out)
	return nil
}

// featureAcc accumulates one layer's statistics under masks: the max over
// cells the max-pooled mask touches, and the mean weighted by the
// mean-pooled mask (the share of each cell the mask covers).
type featureAcc struct {
	li      inference.LayerInfo
	max     []float32
	any     bool
	sum     []float64
	weight  float64
	maxCell []float32
	avgCell []float32
}

func newFeatureAcc(li inference.LayerInfo) *featureAcc {
	fa := &featureAcc{li: li, max: make([]float32, li.Channels), sum: make([]float64, li.Channels),
		maxCell: make([]float32, li.Width*li.Height), avgCell: make([]float32, li.Width*li.Height)}
	for u := range fa.max {
		fa.max[u] = float32(math.Inf(-1))
	}
	return fa
}

func (fa *featureAcc) add(data []float32, m bitMask) {
	plane := fa.li.Width * fa.li.Height
	adaptivePool(fa.maxCell, m, fa.li.Width, fa.li.Height, false)
	adaptivePool(fa.avgCell, m, fa.li.Width, fa.li.Height, true)
	var wsum float64
	for _, v := range fa.avgCell {
		wsum += float64(v)
	}
	fa.weight += wsum
	for u := 0; u < fa.li.Channels; u++ {
		row := data[u*plane : (u+1)*plane]
		var s float64
		for p, v := range row {
			if fa.maxCell[p] > 0 {
				fa.max[u] = max(fa.max[u], v)
				fa.any = true
			}
			s += float64(v) * float64(fa.avgCell[p])
		}
		fa.sum[u] += s
	}
}

// stats finishes the accumulation; with empty masks everywhere both
// statistics are 0, as the reference's masked products are.
func (fa *featureAcc) stats() refFeatureStats {
	st := refFeatureStats{Max: make([]float32, fa.li.Channels), Mean: make([]float32, fa.li.Channels)}
	for u := range st.Max {
		if fa.any {
			st.Max[u] = fa.max[u]
		}
		if fa.weight > 0 {
			st.Mean[u] = float32(fa.sum[u] / fa.weight)
		}
	}
	return st
}
