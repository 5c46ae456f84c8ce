package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ganpaint-go/ganpaint/brushes"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
	"github.com/ganpaint-go/ganpaint/painting"
)

func init() {
	subcommands["render"] = subcommand{
		summary: "render an image id with edits to a PNG or JPEG file",
		run:     runRender,
	}
}

// conceptResolver turns a concept name into the edit the painter's brush
// makes at a layer (without its mask). The integrator wires a model's
// brushes in through conceptsFor (defaultmodel.go).
type conceptResolver interface {
	// Edit returns the edit and the layer it applies at: the given one, or
	// a later one for a recipe trained there.
	Edit(layer, concept string, remove bool, o brushOpts) (inference.Edit, string, error)
}

// brushOpts choose among a concept's brushes: Brush and Step name them (""
// = the painter's default), Units sizes IoU-ranked brushes, and Strength,
// when set, replaces the step's strength.
type brushOpts struct {
	Brush, Step string
	Units       int
	Strength    *float32
}

// errNoConcepts tells the user why a concept name was refused.
var errNoConcepts = errors.New("concept names need dissection results for this model (run `ganpaint dissect`); use unit numbers like 12+40+7")

// maxEditUnits bounds a unit list so a typo cannot allocate without limit.
const maxEditUnits = 4096

// parseEditSpec parses CONCEPT_OR_UNITS:add|remove[:x0,y0,x1,y1] into the
// painter's edit type: a concept, or a unit list as a custom brush (its
// layer left empty: the rendered layer); units are joined with '+',
// coordinates are image pixels with x1, y1 exclusive (Rect), and no
// rectangle means the whole image (Everywhere).
func parseEditSpec(s string) (painting.Edit, error) {
	var e painting.Edit
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return e, fmt.Errorf("edit %q: want CONCEPT_OR_UNITS:add|remove[:x0,y0,x1,y1]", s)
	}
	target := strings.TrimSpace(parts[0])
	switch {
	case target == "":
		return e, fmt.Errorf("edit %q: no concept or units", s)
	case target[0] >= '0' && target[0] <= '9':
		e.Custom = &painting.CustomBrush{}
		for _, u := range strings.Split(target, "+") {
			n, err := strconv.Atoi(strings.TrimSpace(u))
			if err != nil || n < 0 {
				return painting.Edit{}, fmt.Errorf("edit %q: unit %q is not a non-negative integer", s, u)
			}
			if len(e.Custom.Units) == maxEditUnits {
				return painting.Edit{}, fmt.Errorf("edit %q: more than %d units", s, maxEditUnits)
			}
			e.Custom.Units = append(e.Custom.Units, n)
		}
	default:
		for _, r := range target {
			if !(r == '_' || r == '-' || r == ' ' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
				return e, fmt.Errorf("edit %q: concept name %q may only hold letters, digits, '_', '-', ' '", s, target)
			}
		}
		e.Concept = target
	}
	mode, err := painting.ParseMode(strings.ToLower(strings.TrimSpace(parts[1])))
	if err != nil {
		return painting.Edit{}, fmt.Errorf("edit %q: mode %q is not add or remove", s, parts[1])
	}
	e.Mode = mode
	if len(parts) == 2 {
		e.Everywhere = true
		return e, nil
	}
	coords := strings.Split(parts[2], ",")
	if len(coords) != 4 {
		return painting.Edit{}, fmt.Errorf("edit %q: rectangle %q must be x0,y0,x1,y1", s, parts[2])
	}
	var v [4]int
	for i, c := range coords {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			return painting.Edit{}, fmt.Errorf("edit %q: coordinate %q is not an integer", s, c)
		}
		v[i] = n
	}
	if v[0] < 0 || v[1] < 0 || v[2] <= v[0] || v[3] <= v[1] {
		return painting.Edit{}, fmt.Errorf("edit %q: rectangle needs 0 ≤ x0 < x1 and 0 ≤ y0 < y1", s)
	}
	e.Rect = image.Rect(v[0], v[1], v[2], v[3])
	return e, nil
}

// engineEdit is the render CLI's one conversion from the painter's edit
// type to the engine's: it resolves e against a model's image size and
// concepts, returning the edit and the layer it applies at. A unit list is
// switched at its layer (layer when unset), at o.Strength (1 when unset).
func engineEdit(e painting.Edit, layer string, imgW, imgH int, o brushOpts, concepts conceptResolver) (inference.Edit, string, error) {
	mode := inference.ModeAdd
	if e.Removes() {
		mode = inference.ModeRemove
	}
	var out inference.Edit
	at := layer
	switch {
	case e.Custom != nil:
		out = inference.Edit{Units: e.Custom.Units, Mode: mode, Strength: 1}
		if o.Strength != nil {
			out.Strength = *o.Strength
		}
		if e.Custom.Layer != "" {
			at = e.Custom.Layer
		}
	case concepts == nil:
		return out, "", fmt.Errorf("edit %q: %w", e.Concept, errNoConcepts)
	default:
		var err error
		if out, at, err = concepts.Edit(layer, e.Concept, e.Removes(), o); err != nil {
			return out, "", fmt.Errorf("edit %q: %w", e.Concept, err)
		}
	}
	if e.Everywhere {
		out.Mask = inference.FullMask(imgW, imgH)
		return out, at, nil
	}
	r := e.Rect
	if r.Empty() || !r.In(image.Rect(0, 0, imgW, imgH)) {
		return out, "", fmt.Errorf("edit rectangle %d,%d,%d,%d is outside the %dx%d image", r.Min.X, r.Min.Y, r.Max.X, r.Max.Y, imgW, imgH)
	}
	out.Mask = inference.RectMask(imgW, imgH, r.Min.X, r.Min.Y, r.Max.X, r.Max.Y)
	return out, at, nil
}

type editFlags []painting.Edit

func (f *editFlags) String() string { return fmt.Sprint(len(*f), " edits") }
func (f *editFlags) Set(s string) error {
	e, err := parseEditSpec(s)
	if err != nil {
		return err
	}
	*f = append(*f, e)
	return nil
}

// layerOrDefault resolves --layer, falling back to the layer the model's
// manifest paints at.
func layerOrDefault(m *inference.Model, name string) (inference.LayerInfo, error) {
	if name == "" {
		name = m.Manifest().DefaultLayer
	}
	return m.Layer(name)
}

func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("render", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", "model directory (default: the embedded default model)")
	id := fl.Int64("id", 0, "image id")
	layer := fl.String("layer", "", "layer to paint at (default: the manifest's default_layer)")
	var edits editFlags
	fl.Var(&edits, "edit", "CONCEPT_OR_UNITS:add|remove[:x0,y0,x1,y1], units joined by '+', image pixels, x1,y1 exclusive,\nno rectangle = whole image; repeatable, applied in order")
	out := fl.String("out", "", "output file (.png, .jpg or .jpeg; '-' writes PNG to stdout)")
	quality := fl.Int("quality", 90, "JPEG quality 1..100")
	strength := fl.Float64("strength", 1, "edit strength (≥ 0); for concept names it replaces the brush step's strength")
	brush := fl.String("brush", "", "brush of concept names, e.g. tree-iou (default: the painter's default brush per concept)")
	step := fl.String("step", "", "strength step of concept names: low, medium or high (default: the brush's default step)")
	units := fl.Int("units", brushes.DefaultUnits, "units of IoU-ranked brushes (the painter's default)")
	pool := fl.String("pool", "max", "mask pooling onto the layer grid: max or mean")
	ortLib := ortLibFlag(fl)
	if err := parseArgs(fl, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required")
	}
	format, err := outputFormat(*out)
	if err != nil {
		return err
	}
	if format == inference.FormatJPEG && (*quality < 1 || *quality > 100) {
		return fmt.Errorf("--quality %d must be 1..100", *quality)
	}
	pooling, err := parsePooling(*pool)
	if err != nil {
		return err
	}
	if *units <= 0 {
		return fmt.Errorf("--units %d must be positive", *units)
	}
	m, fsys, err := openModel(*model, *ortLib, inference.Options{Workers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer m.Close()
	man := m.Manifest()
	li, err := layerOrDefault(m, *layer)
	if err != nil {
		return err
	}
	concepts, err := conceptsFor(fsys, m)
	if err != nil {
		return err
	}
	opts := brushOpts{Brush: *brush, Step: *step, Units: *units}
	fl.Visit(func(f *flag.Flag) {
		if f.Name == "strength" {
			s := float32(*strength)
			opts.Strength = &s
		}
	})
	// Edits apply layer by layer in generator order (recipes trained at a
	// later layer edit there), in the given order within a layer.
	byLayer := map[string][]inference.Edit{}
	for _, spec := range edits {
		e, at, err := engineEdit(spec, li.Name, man.Image.Width, man.Image.Height, opts, concepts)
		if err != nil {
			return err
		}
		byLayer[at] = append(byLayer[at], e)
	}
	levels := map[string][]float32{}
	for at, list := range byLayer {
		lat, err := m.Layer(at)
		if err != nil {
			return err
		}
		if lat.Index < li.Index {
			return fmt.Errorf("an edit at %s comes before the painted layer %s", at, li.Name)
		}
		for _, e := range list {
			if e.Mode == inference.ModeAdd && levels[at] == nil {
				if levels[at], err = m.Levels(ctx, at); err != nil {
					return err
				}
			}
		}
		// Validate before the (slower) generator runs so bad input fails fast.
		if err := inference.ValidateEdits(lat, list, levels[at]); err != nil {
			return err
		}
	}
	z, err := m.Z(*id)
	if err != nil {
		return err
	}
	feat, err := m.Head(ctx, li.Name, z, 1)
	if err != nil {
		return err
	}
	for _, l := range m.Layers() {
		list, ok := byLayer[l.Name]
		if !ok {
			continue
		}
		if l.Name != feat.Layer.Name {
			if err := m.ForwardInto(ctx, feat, feat, l.Name); err != nil {
				return err
			}
		}
		if err := inference.ApplyEdits(feat, feat, list, levels[l.Name], pooling); err != nil {
			return err
		}
	}
	img, err := m.Tail(ctx, feat)
	if err != nil {
		return err
	}
	rgba := img.RGBA(0, m.ImageRange())
	encode := func(w io.Writer) error { return inference.EncodeImage(w, rgba, format, *quality) }
	if *out == "-" {
		return encode(stdout)
	}
	if err := atomicfile.Write(*out, encode); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%s, id %d, layer %s, %d edits)\n", *out, format, *id, li.Name, len(edits))
	return nil
}

func outputFormat(out string) (string, error) {
	if out == "-" {
		return inference.FormatPNG, nil
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".png":
		return inference.FormatPNG, nil
	case ".jpg", ".jpeg":
		return inference.FormatJPEG, nil
	}
	return "", fmt.Errorf("--out %q: extension must be .png, .jpg or .jpeg", out)
}

func parsePooling(s string) (inference.Pooling, error) {
	switch s {
	case "max":
		return inference.PoolMax, nil
	case "mean":
		return inference.PoolMean, nil
	}
	return 0, fmt.Errorf("--pool %q must be max or mean", s)
}
