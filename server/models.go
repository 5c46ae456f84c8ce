package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ganpaint-go/ganpaint/painting"
)

// One server paints with several models, so that share links made with an
// older model keep rendering with it after a newer one becomes the default.
// Each model is a site: its engine, brushes, hello and optional parts. A
// request reaches a site by, in order:
//
//  1. the model its share token (?state=) names: a link keeps its model;
//  2. ?model=NAME;
//  3. the default model (the first one given).
//
// A token or ?model= naming a model the server does not have is refused
// with a message that says so, never rendered with another model: pages
// open on the default model with the message shown, REST answers 404 and a
// websocket sends an error frame (code unknown_model) and starts on the
// default model. A session paints with one model for its whole life.
//
// The report and the REST API of every model are also served under
// ModelPrefix(name); /api picks its model by ?model= or ?project= (the
// reference API's name for it) and /report?model=NAME redirects.

// ModelParam is the query parameter that chooses a model.
const ModelParam = "model"

// ModelPrefix is the path under which a model's report (+"/report/") and
// REST API (+"/api/") are served, whichever model is the default.
func ModelPrefix(name string) string { return "/models/" + url.PathEscape(name) }

// ModelPainterPath is the painter page of a model: "/" for the default,
// "/?model=NAME" for the others.
func (s *Server) ModelPainterPath(name string) string {
	if s.def != nil && name == s.def.info.Name {
		return "/"
	}
	return "/?" + ModelParam + "=" + url.QueryEscape(name)
}

// codeUnknownModel is the error code of a token or ?model= naming a model
// this server does not have (docs/protocol.md).
const codeUnknownModel = "unknown_model"

// modelNameRE is what a model name may be: it appears in paths and queries.
var modelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// site is the server as one model sees it: the shared server (its limits,
// sessions, render turns, caches and metrics) plus that model's engine,
// brushes, hello and optional parts. Painters and sessions hold the site
// they paint on.
type site struct {
	*Server

	engine       Engine
	concepts     Concepts
	info         ModelInfo
	layers       map[string]*layerEnv
	defaultLayer string
	defaultID    int64
	hello        Hello
	helloJSON    []byte // the hello message, sent to every session
	modelJSON    []byte // GET /api/model

	// The optional parts; nil when the model lacks what they need (a kept
	// old model may ship only its generator, dissection and recipes).
	comparer  Comparer
	artifacts Artifacts
	growth    Growth
	api       http.Handler
	report    http.Handler

	m siteMetrics // this model's series of the shared registry
}

// checkModelDeps checks what every model needs.
func checkModelDeps(md ModelDeps) error {
	if md.Engine == nil || md.Concepts == nil {
		return fmt.Errorf("%w: Engine, Concepts and Pages are required", ErrConfig)
	}
	return nil
}

// addSite checks one model and adds it.
func (s *Server) addSite(md ModelDeps) error {
	if err := checkModelDeps(md); err != nil {
		return err
	}
	info := md.Engine.Model()
	if info.ImageWidth <= 0 || info.ImageHeight <= 0 || info.ImageWidth > maxImageSide || info.ImageHeight > maxImageSide {
		return fmt.Errorf("%w: model image size %d×%d is not supported", ErrConfig, info.ImageWidth, info.ImageHeight)
	}
	if info.MaxID <= 0 {
		return fmt.Errorf("%w: model max id %d must be positive", ErrConfig, info.MaxID)
	}
	if _, dup := s.sites[info.Name]; dup {
		return fmt.Errorf("%w: two models are named %q", ErrConfig, info.Name)
	}
	st := &site{
		Server: s, engine: md.Engine, concepts: md.Concepts, info: info, layers: map[string]*layerEnv{},
		comparer: md.Comparer, artifacts: md.Artifacts, growth: md.Growth, api: md.API, report: md.Report,
	}
	if err := st.buildHello(); err != nil {
		if len(s.siteOrder) > 0 {
			err = fmt.Errorf("model %s: %w", info.Name, err)
		}
		if !strings.Contains(err.Error(), ErrConfig.Error()) {
			err = fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return err
	}
	st.m = s.metrics.forModel(info.Name)
	s.sites[info.Name] = st
	s.siteOrder = append(s.siteOrder, st)
	return nil
}

// checkModelNames: one model may have any name (tokens carry it as it
// is); several need names that go into paths and queries.
func (s *Server) checkModelNames() error {
	if len(s.siteOrder) < 2 {
		return nil
	}
	for _, st := range s.siteOrder {
		if !modelNameRE.MatchString(st.info.Name) {
			return fmt.Errorf("%w: model name %q: with several models use 1-64 letters, digits, '.', '_' or '-'", ErrConfig, truncate(st.info.Name, 80))
		}
	}
	return nil
}

// Models are the models the server paints with, the default first.
func (s *Server) Models() []HelloModel {
	out := make([]HelloModel, len(s.siteOrder))
	for i, st := range s.siteOrder {
		out[i] = st.hello.Model
	}
	return out
}

// modelNames lists the models for messages.
func (s *Server) modelNames() string {
	names := make([]string, len(s.siteOrder))
	for i, st := range s.siteOrder {
		names[i] = fmt.Sprintf("%q", st.info.Name)
	}
	return strings.Join(names, ", ")
}

// site returns the model called name, or the unknown_model error.
func (s *Server) site(name string) (*site, *protoError) {
	if st, ok := s.sites[name]; ok {
		return st, nil
	}
	return nil, perr(codeUnknownModel, "this server has no model %q (it has %s)", truncate(name, 32), s.modelNames())
}

// choice is the model a request paints with and, when it carries a share
// token, the token's painting (nil without one).
type choice struct {
	site *site
	p    *painter
}

// choose reads ?state= and ?model= (see the top of this file). On error
// the choice is the default model, for the callers that fall back to it
// (pages, websockets); the error's code is unknown_model for a model this
// server does not have and bad_state for an unusable token.
func (s *Server) choose(q url.Values) (choice, *protoError) {
	if tok := q.Get("state"); tok != "" {
		st, err := painting.DecodeState(tok)
		if err != nil {
			return choice{site: s.def}, perr(codeBadState, "%s", err.Error())
		}
		m, ok := s.sites[st.Model]
		if !ok {
			return choice{site: s.def}, perr(codeUnknownModel, "this link was made with the model %q, which this server does not have (it has %s)", truncate(st.Model, 32), s.modelNames())
		}
		p, bad := m.painterFromShare(st)
		if bad != nil {
			return choice{site: m}, bad
		}
		return choice{site: m, p: p}, nil
	}
	if q.Has(ModelParam) {
		m, bad := s.site(q.Get(ModelParam))
		if bad != nil {
			return choice{site: s.def}, bad
		}
		return choice{site: m}, nil
	}
	return choice{site: s.def}, nil
}

// restError is a choose error as an HTTP error: 404 for a model the server
// does not have, 400 for a bad token.
func restError(bad *protoError) *httpError {
	if bad.Code == codeUnknownModel {
		return httpErr(http.StatusNotFound, "%s", bad.Message)
	}
	return httpErr(http.StatusBadRequest, "%s", bad.Message)
}

// modelQuery is "?model=NAME" for a model other than the default, else "".
func (st *site) modelQuery() string {
	if st == st.def {
		return ""
	}
	return "?" + ModelParam + "=" + url.QueryEscape(st.info.Name)
}

// reportPath is the model's report, "" when it has none.
func (st *site) reportPath() string {
	switch {
	case st.report == nil:
		return ""
	case st == st.def:
		return "/report/"
	}
	return ModelPrefix(st.info.Name) + "/report/"
}

// modelChoices are the painter page's model picker: every model with its
// painter link; nil with one model.
func (s *Server) modelChoices(current *site) []ModelChoice {
	if len(s.siteOrder) < 2 {
		return nil
	}
	out := make([]ModelChoice, len(s.siteOrder))
	for i, st := range s.siteOrder {
		out[i] = ModelChoice{Name: st.info.Name, Title: st.info.Title, Path: s.ModelPainterPath(st.info.Name), Current: st == current}
	}
	return out
}

// ModelChoice is one entry of the painter page's model picker.
type ModelChoice struct {
	Name    string
	Title   string
	Path    string // its painter page, e.g. "/?model=scenes128"
	Current bool   // the page paints with it
}

// mountModels adds the per-model routes: the report and the API under
// ModelPrefix, /report and /api for the default (or the ?model= named)
// model, and /models/NAME as a link to its painter.
func (s *Server) mountModels(r chi.Router) {
	var anyReport bool
	apis, bodyLimit := 0, int64(0)
	for _, st := range s.siteOrder {
		anyReport = anyReport || st.report != nil
		if st.api != nil {
			apis++
			if l, ok := st.api.(interface{ maxBodyBytes() int64 }); ok {
				bodyLimit = max(bodyLimit, l.maxBodyBytes())
			}
		}
	}
	if bodyLimit == 0 {
		bodyLimit = DefaultRefMaxBodyBytes
	}
	named := func(part string, h func(*site) http.Handler) http.Handler {
		return s.jsonOrText(part == "api").handle(func(w http.ResponseWriter, r *http.Request) error {
			st, bad := s.site(chi.URLParam(r, "model"))
			if bad != nil {
				return restError(bad)
			}
			hh := h(st)
			if hh == nil {
				return httpErr(http.StatusNotFound, "the model %q has no %s on this server", st.info.Name, partName(part))
			}
			hh.ServeHTTP(w, r)
			return nil
		})
	}
	if apis > 0 {
		api := func(st *site) http.Handler { return st.api }
		cors := s.apiCORS()
		r.Mount("/models/{model}/api", cors(named("api", api)))
		r.Mount("/api", cors(s.jsonErrs.handle(func(w http.ResponseWriter, r *http.Request) error {
			q := r.URL.Query()
			name := q.Get(ModelParam)
			if name == "" {
				name = q.Get("project")
			}
			if r.URL.Path == "/api/all_projects" && name == "" {
				return s.allProjects(w, r)
			}
			if name == "" && r.Method == http.MethodPost && len(s.siteOrder) > 1 {
				// The reference's POSTs name their project only in the body.
				var herr *httpError
				if name, herr = peekProject(w, r, bodyLimit); herr != nil {
					return herr
				}
			}
			st := s.def
			if name != "" {
				var ok bool
				if st, ok = s.sites[name]; !ok {
					// The reference's clients name the model "project".
					return httpErr(http.StatusNotFound, "unknown project %q (this server has %s)", truncate(name, 64), s.modelNames())
				}
			}
			if st.api == nil {
				return httpErr(http.StatusNotFound, "the model %q has no %s on this server", st.info.Name, partName("api"))
			}
			st.api.ServeHTTP(w, r)
			return nil
		})))
	}
	if anyReport {
		report := func(st *site) http.Handler { return st.report }
		r.Mount("/models/{model}/report", named("report", report))
		r.Mount("/report", s.errs.handle(func(w http.ResponseWriter, r *http.Request) error {
			st := s.def
			if r.URL.Query().Has(ModelParam) {
				var bad *protoError
				if st, bad = s.site(r.URL.Query().Get(ModelParam)); bad != nil {
					return restError(bad)
				}
				if st != s.def {
					// The report's own links are relative to its prefix,
					// so the other models' reports live there.
					q := r.URL.Query()
					q.Del(ModelParam)
					to := ModelPrefix(st.info.Name) + r.URL.Path
					if enc := q.Encode(); enc != "" {
						to += "?" + enc
					}
					setCommonHeaders(w.Header())
					http.Redirect(w, r, to, http.StatusFound)
					return nil
				}
			}
			if st.report == nil {
				return httpErr(http.StatusNotFound, "the model %q has no %s on this server", st.info.Name, partName("report"))
			}
			st.report.ServeHTTP(w, r)
			return nil
		}))
	}
	r.Get("/models/{model}", s.errs.handle(func(w http.ResponseWriter, r *http.Request) error {
		st, bad := s.site(chi.URLParam(r, "model"))
		if bad != nil {
			return restError(bad)
		}
		setCommonHeaders(w.Header())
		http.Redirect(w, r, s.ModelPainterPath(st.info.Name), http.StatusFound)
		return nil
	}))
}

// apiCORS is the CORS policy of the /api routes as a whole: the default
// model's API's (else the first API's), so that the answers given before
// a model is chosen (an unknown project, a body over the limit) reach a
// page on an allowed origin as the API's own errors do.
func (s *Server) apiCORS() func(http.Handler) http.Handler {
	type corsAPI interface {
		cors(http.Handler) http.Handler
	}
	for _, st := range append([]*site{s.def}, s.siteOrder...) {
		if c, ok := st.api.(corsAPI); ok {
			return c.cors
		}
	}
	return func(h http.Handler) http.Handler { return h }
}

// jsonOrText is the error path of the API (JSON) or the pages (text).
func (s *Server) jsonOrText(json bool) errorPath {
	if json {
		return s.jsonErrs
	}
	return s.errs
}

func partName(part string) string {
	if part == "api" {
		return "REST API (it needs the model's dissection)"
	}
	return "dissection report"
}

// peekProject reads the project a POST to /api names in its JSON body, so
// that it reaches that model's API; "" when the body names none (the
// default model's API then answers, and words any problem with the body).
// The body is read once, within limit (the largest body limit of the
// models' APIs), scanned for its top-level "project" and handed on as
// read.
func peekProject(w http.ResponseWriter, r *http.Request, limit int64) (string, *httpError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", httpErr(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", limit)
		}
		return "", httpErr(http.StatusBadRequest, "reading the body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return projectOf(body), nil
}

// projectOf is the project a JSON object body names, as the API's decoder
// reads it: keys match "project" without regard to case, and the last
// one wins (null keeps the earlier value). "" when there is none or the
// body is not a JSON object; the API then words the problem.
func projectOf(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	project := ""
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if k, _ := key.(string); strings.EqualFold(k, "project") {
			var p *string
			if dec.Decode(&p) != nil {
				return ""
			}
			if p != nil {
				project = *p
			}
			continue
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return project
}

// allProjectsKey carries every model's /api/all_projects entry to the
// default model's API, which answers with its own headers (CORS).
type allProjectsKey struct{}

// allProjects answers /api/all_projects with every model that has an API.
func (s *Server) allProjects(w http.ResponseWriter, r *http.Request) error {
	var out []refProject
	var first http.Handler
	for _, st := range s.siteOrder {
		if st.api == nil {
			continue
		}
		if first == nil {
			first = st.api
		}
		if l, ok := st.api.(interface{ projectEntry() refProject }); ok {
			out = append(out, l.projectEntry())
		}
	}
	if first == nil {
		return httpErr(http.StatusNotFound, "the REST API is not available on this server")
	}
	if out != nil {
		r = r.WithContext(context.WithValue(r.Context(), allProjectsKey{}, out))
	}
	first.ServeHTTP(w, r)
	return nil
}
