package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// Links shared from the painter must keep opening the same painting after
// any change to the token code or to how edits are represented. The tokens
// in testdata/tokens_v1.json were written by the server of commit 2b8eb72
// (before edits had one shared type), and the file records, in a form that
// does not depend on any Go type, what each one means: the decoded state,
// the edits handed to the engine (units, mask, strength, recipe) and a
// digest of the image the deterministic test engine draws from them. The
// file is data, never regenerated: a difference is a broken link.

// goldenToken is one entry of testdata/tokens_v1.json.
type goldenToken struct {
	Name   string         `json:"name"`
	Token  string         `json:"token"`
	State  goldenState    `json:"state"`
	Engine []goldenEngine `json:"engine"`
	Image  string         `json:"image_sha256"`
}

type goldenState struct {
	Model  string       `json:"model"`
	Layer  string       `json:"layer"`
	ID     int64        `json:"id"`
	Repair bool         `json:"repair,omitempty"`
	Edits  []goldenEdit `json:"edits"`
}

type goldenEdit struct {
	Concept    string   `json:"concept"`
	Mode       string   `json:"mode"`
	Everywhere bool     `json:"everywhere,omitempty"`
	Units      int      `json:"units"`
	Radius     int      `json:"radius,omitempty"`
	Points     [][2]int `json:"points,omitempty"`
	Brush      string   `json:"brush,omitempty"`
	Step       string   `json:"step,omitempty"`
}

type goldenEngine struct {
	Layer    string    `json:"layer,omitempty"`
	Units    []int     `json:"units"`
	Remove   bool      `json:"remove,omitempty"`
	Strength float32   `json:"strength"`
	Weights  []float32 `json:"weights,omitempty"`
	Values   []float32 `json:"values,omitempty"`
	Mask     string    `json:"mask"` // one digit per cell, row-major
}

// goldenServer paints the fake model with brushes (a tree recipe and the
// IoU ranking) and an artifact ranking at layer4, so every kind of token
// field means something.
func goldenServer(t testing.TB) *Server {
	t.Helper()
	deps := repairDeps()
	deps.Concepts = withBrushes()
	s, err := New(Config{Logger: quietLogger()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goldenMeaning opens tok on s and describes it in golden terms.
func goldenMeaning(t testing.TB, s *Server, tok string) (goldenState, []goldenEngine, string) {
	t.Helper()
	st, err := painting.DecodeState(tok)
	if err != nil {
		t.Fatalf("old link no longer decodes: %v", err)
	}
	gs := goldenStateOf(st)
	p, perr := s.def.painterFromShare(st)
	if perr != nil {
		t.Fatalf("old link no longer opens: %v", perr)
	}
	edits := p.layer.withRepair(p.repairOn(), p.edits())
	var ge []goldenEngine
	for _, e := range edits {
		g := goldenEngine{Layer: e.Layer, Units: e.Units, Remove: e.Removes(), Strength: e.Strength, Weights: e.Weights, Values: e.Values}
		for _, a := range e.Mask.Alpha {
			g.Mask += strconv.FormatFloat(float64(a), 'g', -1, 32)
		}
		ge = append(ge, g)
	}
	img, err := detRender(s.def.info, fakeFeatures{layer: p.layer.info.Name, id: p.id}, edits)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img.Pix)
	return gs, ge, hex.EncodeToString(sum[:])
}

func TestTokensOfMainStillMeanTheSame(t *testing.T) {
	raw, err := os.ReadFile("testdata/tokens_v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden []goldenToken
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) < 8 {
		t.Fatalf("%d golden tokens, want every kind of edit", len(golden))
	}
	s := goldenServer(t)
	for _, g := range golden {
		t.Run(g.Name, func(t *testing.T) {
			st, ge, img := goldenMeaning(t, s, g.Token)
			if !reflect.DeepEqual(st, g.State) {
				t.Errorf("state\n%+v\nwant\n%+v", st, g.State)
			}
			if !reflect.DeepEqual(ge, g.Engine) {
				t.Errorf("engine edits\n%+v\nwant\n%+v", ge, g.Engine)
			}
			if img != g.Image {
				t.Errorf("image digest %s, want %s", img, g.Image)
			}
			// The version these tokens are in is still the one written,
			// so a state still has the same link.
			again, err := painting.EncodeState(mustDecode(t, g.Token))
			if err != nil || again != g.Token {
				t.Errorf("re-encoded as %q (%v), want the same token", again, err)
			}
		})
	}
}

func mustDecode(t testing.TB, tok string) painting.State {
	t.Helper()
	st, err := painting.DecodeState(tok)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
