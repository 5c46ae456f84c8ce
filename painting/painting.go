// Package painting is the domain of the painter: an edit as a user makes
// it (a concept's brush, or a list of units, switched on or off over a
// region) and the state of a painted image. The websocket session, the
// share token, the render CLI, the reference API and the report's links all
// speak in these types; the conversions to each wire format live next to
// them (token.go for share links, wire.go for JSON and the CLI's flags).
//
// An Edit says what the user asked for, not how the generator does it:
// resolving a concept and brush to units, weights and a layer-grid mask is
// the server's work (server.Server) and applying them the engine's
// (inference.Edit).
package painting

import (
	"fmt"
	"image"
	"slices"
)

// Mode says whether an edit paints its concept in or erases it.
type Mode uint8

const (
	// Add switches the units on: the concept is painted in.
	Add Mode = iota
	// Remove switches the units off: the concept is erased.
	Remove
)

// String is the mode's name on every wire: "add" or "remove".
func (m Mode) String() string {
	switch m {
	case Add:
		return "add"
	case Remove:
		return "remove"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "add":
		return Add, nil
	case "remove":
		return Remove, nil
	}
	return 0, fmt.Errorf("mode %q is not add or remove", s)
}

// Point is a brush point in image pixels.
type Point struct{ X, Y int }

// Edit is one edit of a painting.
//
// What it switches: a concept's brush (Concept, with Brush and Step naming
// the brush and its strength step, both empty meaning the concept's IoU
// ranking at strength 1, as in links made before brushes; Units is how many
// of the ranking's top units an IoU brush switches), or a custom brush
// (Custom: units picked by hand, at their layer; the render CLI's unit
// lists are custom brushes too, at the rendered layer).
//
// Where: the whole image (Everywhere), a brush stroke (Radius and the
// polyline Points, image pixels), or a rectangle of image pixels (Rect, the
// render CLI's regions; the painter and share tokens have none).
type Edit struct {
	Concept string
	Mode    Mode
	Units   int
	Brush   string
	Step    string

	Everywhere bool
	Radius     int
	Points     []Point
	Rect       image.Rectangle

	// Custom, when set, is the edit's brush instead of a concept: Concept,
	// Units, Brush and Step are then empty.
	Custom *CustomBrush
}

// CustomBrush is a brush of units chosen by hand (in the unit editor): a
// stroke switches exactly these units of Layer on at their level, or off.
type CustomBrush struct {
	Layer string
	// Units are strictly increasing in the painter and share tokens (one
	// set of units, one token); the render CLI keeps the order given.
	Units []int
}

// Equal is whether c and o are the same brush (both nil counts).
func (c *CustomBrush) Equal(o *CustomBrush) bool {
	if c == nil || o == nil {
		return c == nil && o == nil
	}
	return c.Layer == o.Layer && slices.Equal(c.Units, o.Units)
}

// Label names a custom brush in the palette, the edit list and link
// previews.
func (c *CustomBrush) Label() string {
	n := "units"
	if len(c.Units) == 1 {
		n = "unit"
	}
	return fmt.Sprintf("custom: %d %s @ %s", len(c.Units), n, c.Layer)
}

// Label is how an edit is named in edit lists and link previews: its
// concept, or its custom brush.
func (e Edit) Label() string {
	if e.Custom != nil {
		return e.Custom.Label()
	}
	return e.Concept
}

// Removes is whether the edit erases.
func (e Edit) Removes() bool { return e.Mode == Remove }

// State is everything needed to reproduce one painted image: the model,
// the layer painted at, the image id, the edits in order and whether
// "repair artifacts" is on (the layer's artifact units switched off
// everywhere, before the edits).
type State struct {
	Model  string
	Layer  string
	ID     int64
	Edits  []Edit
	Repair bool
}
