package web

import (
	"context"
	"io"

	"github.com/ganpaint-go/ganpaint/server"
)

// editorView is the unit editor's page: its controls are server-rendered,
// and editor.js drives them through the REST API (docs/api.md).
type editorView struct {
	Head   pageHead
	Config editorConfig
	Layers []navLink
	ImageW int
	ImageH int
	EditJS string
}

// editorConfig is the JSON editor.js reads; its field names are that
// script's contract.
type editorConfig struct {
	Project      string            `json:"project"`
	API          string            `json:"api"`
	Width        int               `json:"width"`
	Height       int               `json:"height"`
	MaxID        int64             `json:"max_id"`
	MaxIDs       int               `json:"max_ids"`
	Layers       []editorLayer     `json:"layers"`
	DefaultLayer string            `json:"default_layer"`
	Colors       map[string]string `json:"colors"`
	UnitURL      string            `json:"unit_url"` // with {layer} and {unit} to fill in
	// PainterURL is the painter page: "Paint with these units" opens it
	// with the chosen units as a custom brush (server/custombrush.go).
	PainterURL string `json:"painter_url"`
	// CustomParams are the painter's query parameters for that brush.
	CustomParams customParams `json:"custom_params"`
}

type customParams struct {
	Layer string `json:"layer"`
	Units string `json:"units"`
	Mode  string `json:"mode"`
}

type editorLayer struct {
	Name     string `json:"name"`
	Channels int    `json:"channels"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

// editorMaxIDs is how many images the editor compares at once; the API
// allows more per request.
const editorMaxIDs = 12

// Editor writes the unit editor. The static report has none.
func (p *Report) Editor(w io.Writer) error {
	h := p.head("Unit editor · "+p.rep.Title, "edit")
	v := editorView{Head: h, ImageW: p.rep.ImageW, ImageH: p.rep.ImageH, EditJS: p.asset("editor.js"),
		Config: editorConfig{Project: p.rep.Model, API: p.links.API(), Width: p.rep.ImageW, Height: p.rep.ImageH,
			MaxID: p.rep.MaxID, MaxIDs: editorMaxIDs, Colors: map[string]string{},
			UnitURL: p.links.Unit("{layer}", 0), PainterURL: p.links.Painter(),
			CustomParams: customParams{Layer: server.CustomLayerParam, Units: server.CustomUnitsParam, Mode: server.CustomModeParam}}}
	v.Config.UnitURL = v.Config.UnitURL[:len(v.Config.UnitURL)-1] + "{unit}"
	for _, l := range p.rep.Layers {
		v.Config.Layers = append(v.Config.Layers, editorLayer{Name: l.Layer.Layer, Channels: l.Channels, Width: l.Width, Height: l.Height})
		v.Layers = append(v.Layers, navLink{Name: l.Layer.Layer})
	}
	// The painter's layer first: a brush of an earlier layer cannot paint
	// in a painter session at its default layer.
	v.Config.DefaultLayer = v.Config.Layers[0].Name
	if _, err := p.rep.Layer(p.rep.PaintLayer); err == nil {
		v.Config.DefaultLayer = p.rep.PaintLayer
	}
	for _, c := range p.rep.Classes {
		v.Config.Colors[c.Name] = c.Color
	}
	return reportEditorPage(v).Render(context.Background(), w)
}
