package inference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"regexp"
)

// ManifestFormat and ManifestVersion identify the manifest this package reads.
const (
	ManifestFormat  = "ganpaint-model"
	ManifestVersion = 1
	// ZRuleSplitmix is the only image-id → z rule defined so far.
	ZRuleSplitmix = "splitmix64-boxmuller-v1"
)

// Limits that keep a hostile manifest from making the loader allocate without bound.
const (
	maxManifestBytes = 1 << 20
	maxBlocks        = 64
	maxDim           = 1 << 14
	maxChannels      = 1 << 16
	maxZSize         = 1 << 16
	maxClasses       = 256 // labels are uint8
	maxSampleIDs     = 4096
	maxScale         = 16
	maxHalo          = 64
)

// Manifest is manifest.json of a model directory (docs/model-format.md).
// Fields not described there are ignored so newer files still load.
type Manifest struct {
	Format        string         `json:"format"`
	Version       int            `json:"version"`
	Name          string         `json:"name"`
	Title         string         `json:"title,omitempty"`
	Z             ZSpec          `json:"z"`
	Image         ImageSpec      `json:"image"`
	Generator     GeneratorSpec  `json:"generator"`
	DefaultLayer  string         `json:"default_layer"`
	SampleIDs     []int64        `json:"sample_ids,omitempty"`
	Segmenter     *SegmenterSpec `json:"segmenter,omitempty"`
	Discriminator *FileSpec      `json:"discriminator,omitempty"`
	Inpainter     *FileSpec      `json:"inpainter,omitempty"`
	// Palette are the concepts' names and colours when the model has no
	// segmenter: a model slimmed to what its share links need (ganpaint
	// slim) keeps its painter's colours this way. Ignored with a segmenter.
	Palette []ClassSpec `json:"palette,omitempty"`
}

// ZSpec says how an image id becomes a latent vector.
type ZSpec struct {
	Size  int    `json:"size"`
	Rule  string `json:"rule"`
	Seed  uint64 `json:"seed"`
	MaxID int64  `json:"max_id"`
}

// ImageSpec is the generator's output size and value range.
type ImageSpec struct {
	Height int        `json:"height"`
	Width  int        `json:"width"`
	Range  [2]float32 `json:"range"`
}

// GeneratorSpec lists the generator blocks in the order they run.
type GeneratorSpec struct {
	Blocks []BlockSpec `json:"blocks"`
	ToRGB  ToRGBSpec   `json:"to_rgb"`
}

// BlockSpec is one generator block; Channels/Height/Width are its output shape.
type BlockSpec struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Channels int    `json:"channels"`
	Height   int    `json:"height"`
	Width    int    `json:"width"`
	Locality
}

// ToRGBSpec is the generator's last block (activations → image).
type ToRGBSpec struct {
	File string `json:"file"`
	Locality
}

// Locality optionally declares a block spatially local, so the engine may
// run it on a crop (docs/model-format.md): output pixel (y, x) depends only
// on input rows ⌊(y−Halo)/Scale⌋ … ⌊(y+Halo)/Scale⌋ and the columns
// likewise. Both absent (the default, and every version-1 folder written
// before the fields existed) means undeclared: the block only ever runs on
// whole activations.
type Locality struct {
	Scale *int `json:"scale,omitempty"`
	Halo  *int `json:"halo,omitempty"`
}

// Declared reports whether the block declares its locality.
func (l Locality) Declared() bool { return l.Scale != nil && l.Halo != nil }

func (l Locality) get() *locality {
	if !l.Declared() {
		return nil
	}
	return &locality{scale: *l.Scale, halo: *l.Halo}
}

// FileSpec points at an ONNX file inside the model directory.
type FileSpec struct {
	File string `json:"file"`
}

// SegmenterSpec describes the segmenter and its classes (logit channel order).
type SegmenterSpec struct {
	File       string      `json:"file"`
	InputRange [2]float32  `json:"input_range"`
	Classes    []ClassSpec `json:"classes"`
	// Background optionally names the class that stands for "nothing in
	// particular" (the reference's label 0): dissection never labels a
	// unit with it.
	Background string `json:"background,omitempty"`
}

// ClassSpec is one segmentation class with its display colour "#rrggbb".
type ClassSpec struct {
	Name  string `json:"name"`
	Color string `json:"color"`
}

var (
	layerNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	colorRE     = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// ParseManifest decodes and validates manifest.json. Every problem is reported
// as ErrBadModel with the offending field named.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if len(data) > maxManifestBytes {
		return m, fmt.Errorf("%w: manifest is %d bytes, limit %d", ErrBadModel, len(data), maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest.json: %v", ErrBadModel, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: manifest.json: trailing data after the JSON object", ErrBadModel)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Validate checks the manifest against docs/model-format.md.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest: "+format, append([]any{ErrBadModel}, args...)...)
	}
	if m.Format != ManifestFormat {
		return bad("format is %q, want %q", m.Format, ManifestFormat)
	}
	if m.Version != ManifestVersion {
		return bad("version %d is not supported (this build reads version %d)", m.Version, ManifestVersion)
	}
	if m.Name == "" {
		return bad("name is empty")
	}
	if m.Z.Size <= 0 || m.Z.Size > maxZSize {
		return bad("z.size %d outside [1, %d]", m.Z.Size, maxZSize)
	}
	if m.Z.Rule != ZRuleSplitmix {
		return bad("z.rule %q is unknown (supported: %q)", m.Z.Rule, ZRuleSplitmix)
	}
	if m.Z.MaxID <= 0 {
		return bad("z.max_id %d must be positive", m.Z.MaxID)
	}
	if !dimOK(m.Image.Height) || !dimOK(m.Image.Width) {
		return bad("image size %dx%d outside [1, %d]", m.Image.Width, m.Image.Height, maxDim)
	}
	if !rangeOK(m.Image.Range) {
		return bad("image.range %v must be two finite numbers, low < high", m.Image.Range)
	}
	if len(m.Generator.Blocks) == 0 || len(m.Generator.Blocks) > maxBlocks {
		return bad("generator.blocks has %d entries, want 1..%d", len(m.Generator.Blocks), maxBlocks)
	}
	seen := make(map[string]bool, len(m.Generator.Blocks))
	files := make(map[string]string)
	useFile := func(what, file string) error {
		if file == "" {
			return bad("%s: file is empty", what)
		}
		if !fs.ValidPath(file) || file == "." {
			return bad("%s: file %q must be a relative path inside the model directory", what, file)
		}
		if other, ok := files[file]; ok {
			return bad("%s: file %q is already used by %s", what, file, other)
		}
		files[file] = what
		return nil
	}
	prevH, prevW := 0, 0
	for i, b := range m.Generator.Blocks {
		what := fmt.Sprintf("generator.blocks[%d]", i)
		if !layerNameRE.MatchString(b.Name) {
			return bad("%s: name %q must be 1-64 letters, digits, '_', '.', '-'", what, b.Name)
		}
		if seen[b.Name] {
			return bad("%s: duplicate layer name %q", what, b.Name)
		}
		seen[b.Name] = true
		if b.Channels <= 0 || b.Channels > maxChannels {
			return bad("%s (%s): channels %d outside [1, %d]", what, b.Name, b.Channels, maxChannels)
		}
		if !dimOK(b.Height) || !dimOK(b.Width) {
			return bad("%s (%s): size %dx%d outside [1, %d]", what, b.Name, b.Width, b.Height, maxDim)
		}
		if int64(b.Channels)*int64(b.Height)*int64(b.Width) > 1<<28 {
			return bad("%s (%s): %d×%d×%d activations is too large", what, b.Name, b.Channels, b.Height, b.Width)
		}
		if err := useFile(what, b.File); err != nil {
			return err
		}
		if i == 0 && (b.Scale != nil || b.Halo != nil) {
			return bad("%s (%s): the first block takes z, which has no spatial size; it cannot declare scale or halo", what, b.Name)
		}
		if err := b.Locality.validate(what+" ("+b.Name+")", prevH, prevW, b.Height, b.Width); err != nil {
			return err
		}
		prevH, prevW = b.Height, b.Width
	}
	if err := useFile("generator.to_rgb", m.Generator.ToRGB.File); err != nil {
		return err
	}
	if err := m.Generator.ToRGB.Locality.validate("generator.to_rgb", prevH, prevW, m.Image.Height, m.Image.Width); err != nil {
		return err
	}
	if m.DefaultLayer == "" {
		return bad("default_layer is empty")
	}
	if !seen[m.DefaultLayer] {
		return bad("default_layer %q is not a generator block", m.DefaultLayer)
	}
	if len(m.SampleIDs) > maxSampleIDs {
		return bad("sample_ids has %d entries, limit %d", len(m.SampleIDs), maxSampleIDs)
	}
	for _, id := range m.SampleIDs {
		if id < 0 || id >= m.Z.MaxID {
			return bad("sample id %d outside [0, %d)", id, m.Z.MaxID)
		}
	}
	if s := m.Segmenter; s != nil {
		if err := useFile("segmenter", s.File); err != nil {
			return err
		}
		if !rangeOK(s.InputRange) {
			return bad("segmenter.input_range %v must be two finite numbers, low < high", s.InputRange)
		}
		if len(s.Classes) == 0 || len(s.Classes) > maxClasses {
			return bad("segmenter.classes has %d entries, want 1..%d", len(s.Classes), maxClasses)
		}
		names := make(map[string]bool, len(s.Classes))
		for i, c := range s.Classes {
			if c.Name == "" || len(c.Name) > 64 {
				return bad("segmenter.classes[%d]: name must be 1-64 bytes", i)
			}
			if names[c.Name] {
				return bad("segmenter.classes[%d]: duplicate class %q", i, c.Name)
			}
			names[c.Name] = true
			if !colorRE.MatchString(c.Color) {
				return bad("segmenter.classes[%d] (%s): color %q is not #rrggbb", i, c.Name, c.Color)
			}
		}
		if s.Background != "" && (!names[s.Background] || len(s.Classes) < 2) {
			return bad("segmenter.background %q must name one of at least two classes", s.Background)
		}
	}
	if len(m.Palette) > maxClasses {
		return bad("palette has %d entries, limit %d", len(m.Palette), maxClasses)
	}
	for i, c := range m.Palette {
		if c.Name == "" || len(c.Name) > 64 || !colorRE.MatchString(c.Color) {
			return bad("palette[%d]: name must be 1-64 bytes and color #rrggbb", i)
		}
	}
	if d := m.Discriminator; d != nil {
		if err := useFile("discriminator", d.File); err != nil {
			return err
		}
	}
	if d := m.Inpainter; d != nil {
		if err := useFile("inpainter", d.File); err != nil {
			return err
		}
	}
	return nil
}

func dimOK(v int) bool { return v > 0 && v <= maxDim }

// validate checks a block's declared locality against its input (inH×inW)
// and output (outH×outW) sizes: the scale must be exactly the growth.
func (l Locality) validate(what string, inH, inW, outH, outW int) error {
	if l.Scale == nil && l.Halo == nil {
		return nil
	}
	if !l.Declared() {
		return fmt.Errorf("%w: manifest: %s: scale and halo are declared together or not at all", ErrBadModel, what)
	}
	s, h := *l.Scale, *l.Halo
	if s < 1 || s > maxScale || h < 0 || h > maxHalo {
		return fmt.Errorf("%w: manifest: %s: scale %d must be in [1, %d] and halo %d in [0, %d]", ErrBadModel, what, s, maxScale, h, maxHalo)
	}
	if outH != s*inH || outW != s*inW {
		return fmt.Errorf("%w: manifest: %s: scale %d does not take its %dx%d input to its %dx%d output", ErrBadModel, what, s, inW, inH, outW, outH)
	}
	return nil
}

func rangeOK(r [2]float32) bool {
	return !math.IsNaN(float64(r[0])) && !math.IsNaN(float64(r[1])) &&
		!math.IsInf(float64(r[0]), 0) && !math.IsInf(float64(r[1]), 0) && r[0] < r[1]
}

// clone returns a deep copy so callers cannot mutate the model's manifest.
func (m Manifest) clone() Manifest {
	c := m
	c.Generator.Blocks = append([]BlockSpec(nil), m.Generator.Blocks...)
	for i := range c.Generator.Blocks {
		c.Generator.Blocks[i].Locality = c.Generator.Blocks[i].Locality.clone()
	}
	c.Generator.ToRGB.Locality = m.Generator.ToRGB.Locality.clone()
	c.SampleIDs = append([]int64(nil), m.SampleIDs...)
	if m.Segmenter != nil {
		s := *m.Segmenter
		s.Classes = append([]ClassSpec(nil), m.Segmenter.Classes...)
		c.Segmenter = &s
	}
	c.Palette = append([]ClassSpec(nil), m.Palette...)
	if m.Discriminator != nil {
		d := *m.Discriminator
		c.Discriminator = &d
	}
	if m.Inpainter != nil {
		d := *m.Inpainter
		c.Inpainter = &d
	}
	return c
}

func (l Locality) clone() Locality {
	c := Locality{}
	if l.Scale != nil {
		v := *l.Scale
		c.Scale = &v
	}
	if l.Halo != nil {
		v := *l.Halo
		c.Halo = &v
	}
	return c
}
