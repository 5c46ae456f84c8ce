package brushes

import (
	"errors"
	"slices"
	"testing"

	"github.com/ganpaint-go/ganpaint/efficacy"
	"github.com/ganpaint-go/ganpaint/inference"
)

// The name rules the painter and the CLI share: empty names take the
// concept's default brush and that brush's default step; given names are
// kept, and Find refuses unknown ones saying which.
func TestDefaultsAndFind(t *testing.T) {
	steps := []efficacy.Step{{Name: "low", Strength: 0.5}, {Name: "high", Strength: 1}}
	list := []efficacy.Brush{
		{Name: "tree-erase", Default: "high", Steps: steps},
		{Name: "tree-iou", Default: "low", Steps: steps},
	}
	tests := []struct {
		name, brush, step   string
		wantBrush, wantStep string
		wantBi, wantSi      int
		wantErr             error
	}{
		{"both empty", "", "", "tree-erase", "high", 0, 1, nil},
		{"brush given", "tree-iou", "", "tree-iou", "low", 1, 0, nil},
		{"step given", "", "low", "tree-erase", "low", 0, 0, nil},
		{"both given", "tree-iou", "high", "tree-iou", "high", 1, 1, nil},
		{"unknown brush keeps its name", "tree-ace", "", "tree-ace", "", -1, -1, ErrNoBrush},
		{"unknown step", "tree-iou", "max", "tree-iou", "max", -1, -1, ErrNoStep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, s := Defaults(list, tc.brush, tc.step)
			if b != tc.wantBrush || s != tc.wantStep {
				t.Fatalf("Defaults: %q %q, want %q %q", b, s, tc.wantBrush, tc.wantStep)
			}
			bi, si, err := Find(list, b, s)
			if bi != tc.wantBi || si != tc.wantSi || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Find: %d %d %v, want %d %d %v", bi, si, err, tc.wantBi, tc.wantSi, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnknown) {
				t.Errorf("%v does not wrap ErrUnknown", err)
			}
		})
	}
	if b, s := Defaults([]efficacy.Brush(nil), "", ""); b != "" || s != "" {
		t.Errorf("no brushes: %q %q", b, s)
	}
}

// Set.Edit is the painter's stroke without its mask: the default brush at
// its default step, an IoU brush cut to the asked number of units.
func TestSetEdit(t *testing.T) {
	s, err := New(results(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		remove      bool
		brush, step string
		units       int
		want        inference.Edit
		wantBrush   string
	}{
		{"default paint", false, "", "", 1, inference.Edit{Units: []int{2}, Mode: inference.ModeAdd, Strength: 1}, "tree-iou"},
		{"all ranked units", false, "tree-iou", "high", 15, inference.Edit{Units: []int{2, 0}, Mode: inference.ModeAdd, Strength: 2}, "tree-iou"},
		{"recipe eraser", true, "tree-erase", "", 15, inference.Edit{Units: []int{2}, Mode: inference.ModeBlend, Strength: 1,
			Weights: []float32{1}, Values: []float32{0}}, "tree-erase"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, at, b, st, err := s.Edit("l", "tree", tc.remove, tc.brush, tc.step, tc.units)
			if err != nil {
				t.Fatal(err)
			}
			if at != "l" || b.Name != tc.wantBrush || st.Strength != e.Strength || e.Mode != tc.want.Mode || e.Strength != tc.want.Strength ||
				!slices.Equal(e.Units, tc.want.Units) || !slices.Equal(e.Weights, tc.want.Weights) || !slices.Equal(e.Values, tc.want.Values) {
				t.Errorf("got %+v at %s by %s/%s, want %+v by %s", e, at, b.Name, st.Name, tc.want, tc.wantBrush)
			}
		})
	}
	if _, _, _, _, err := s.Edit("l", "dragon", true, "", "", 15); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown concept: %v", err)
	}
}
