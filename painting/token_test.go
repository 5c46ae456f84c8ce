package painting

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

func sampleState() State {
	return State{
		Model: "scenes128", Layer: "layer4", ID: 123456,
		Edits: []Edit{
			{Concept: "tree", Units: 15, Radius: 6, Points: []Point{{10, 20}, {11, 22}, {15, 21}, {0, 0}, {127, 127}}},
			{Concept: "sky", Mode: Remove, Everywhere: true, Units: 20},
			{Concept: "tree", Mode: Remove, Units: 4, Radius: 1, Points: []Point{{64, 64}}},
			{Concept: "dôme", Units: 65535, Radius: 65535, Points: []Point{{65535, 0}, {0, 65535}}},
		},
	}
}

func TestStateRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		st   State
	}{
		{"empty edits", State{Model: "m", Layer: "layer1", ID: 0}},
		{"sample", sampleState()},
		{"max id", State{Model: "m", Layer: "l", ID: 1<<63 - 1}},
		// Custom brushes next to concept edits, the layer name shared with
		// the state's layer and a concept's name.
		{"custom brushes", State{Model: "m", Layer: "layer4", ID: 9, Repair: true, Edits: []Edit{
			{Concept: "tree", Units: 4, Radius: 3, Points: []Point{{1, 2}}, Brush: "tree-ace", Step: "low"},
			{Custom: &CustomBrush{Layer: "layer4", Units: []int{0, 1, 7, 511, 65535}}, Radius: 5, Points: []Point{{9, 9}, {12, 8}}},
			{Custom: &CustomBrush{Layer: "layer6", Units: []int{300}}, Mode: Remove, Everywhere: true},
			// A custom brush with a strength step, its name shared with a
			// concept brush's.
			{Custom: &CustomBrush{Layer: "layer6", Units: []int{2, 3}}, Step: "low", Radius: 2, Points: []Point{{4, 4}}},
			{Custom: &CustomBrush{Layer: "layer4", Units: []int{8}}, Step: "high", Mode: Remove, Everywhere: true},
			{Concept: "layer6", Units: 1, Radius: 1, Points: []Point{{0, 0}}},
		}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	long := State{Model: "scenes128", Layer: "layer4", ID: 7}
	for i := 0; i < 50; i++ {
		e := Edit{Concept: []string{"tree", "grass", "door"}[i%3], Units: 1 + i, Radius: 1 + i%10, Mode: Mode(1 - i%2)}
		x, y := 64, 64
		for j := 0; j < 40; j++ {
			x = min(max(x+rng.IntN(7)-3, 0), 127)
			y = min(max(y+rng.IntN(7)-3, 0), 127)
			e.Points = append(e.Points, Point{x, y})
		}
		long.Edits = append(long.Edits, e)
	}
	tests = append(tests, struct {
		name string
		st   State
	}{"50 strokes of 40 points", long})

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := EncodeState(tc.st)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(tok, "+/=?&#%") {
				t.Errorf("token %q is not URL-safe", tok)
			}
			got, err := DecodeState(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.st) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.st)
			}
			t.Logf("%d edits → %d characters", len(tc.st.Edits), len(tok))
		})
	}
}

// rawToken builds a token around an arbitrary body, to reach decoder
// branches that EncodeState never produces.
func rawToken(version byte, body []byte) string {
	var buf bytes.Buffer
	buf.WriteByte(version)
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write(body)
	zw.Close()
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func TestDecodeStateErrors(t *testing.T) {
	good, err := EncodeState(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	uv := binary.AppendUvarint
	head := func() []byte {
		b := uv(nil, 1)
		b = append(b, 'm')
		b = uv(b, 1)
		b = append(b, 'l')
		return uv(b, 3) // id
	}
	bomb := make([]byte, MaxTokenBody+10)
	tests := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"not base64", "ab$cd"},
		{"padding", good + "=="},
		{"too long", strings.Repeat("A", MaxTokenLen+1)},
		{"one byte", "AQ"},
		{"future version", rawToken(2, head())},
		{"not deflate", base64.RawURLEncoding.EncodeToString([]byte{1, 0xff, 0xff, 0xff})},
		{"truncated deflate", good[:len(good)/2]},
		{"inflation bomb", rawToken(1, bomb)},
		{"truncated body", rawToken(1, head()[:3])},
		{"trailing bytes", rawToken(1, append(uv(uv(head(), 0), 0), 9))},
		{"edit count beyond data", rawToken(1, uv(uv(head(), 0), 1000))},
		{"concept index out of range", rawToken(1, append(uv(uv(head(), 0), 1), 0, 0, 1))},
		{"unknown flags", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 't'), 1), 8, 0, 1))},
		{"stroke without points", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 't'), 1), 0, 0, 1, 1, 0))},
		{"negative coordinate", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 't'), 1), 0, 0, 1, 1, 2, 0, 0, 1, 0))},
		{"huge units", rawToken(1, uv(append(uv(append(uv(uv(head(), 1), 1), 't'), 1), 2, 0), 1<<20))},
		{"long name", rawToken(1, uv(nil, 300))},
		{"id overflow", rawToken(1, uv(append(uv(append(uv(nil, 1), 'm'), 1), 'l'), 1<<63))},
		{"bytes after the deflate stream", withTrailer(t, good, 0)},
		{"a stored block after the deflate stream", withTrailer(t, good, 1, 0, 0, 0xff, 0xff)},
		{"padded varint", rawToken(1, append(append(head(), 0x80, 0x00), 0))},
		{"padded signed varint", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 't'), 1), 0, 0, 1, 1, 2, 5, 5, 0x82, 0x00, 0))},
		{"valid edits just over the body limit", bigToken(t, MaxTokenBody+1)},
		// Custom edits: body = head, 1 name "l", 1 edit, flags, layer index,
		// unit count, gaps, then the everywhere flag ends the edit.
		{"custom step missing", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|4|2|1, 0, 1, 0))},
		{"custom step index out of range", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|4|2|1, 0, 1, 0, 1))},
		{"custom layer index out of range", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|2|1, 1, 1, 0))},
		{"custom without units", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|2|1, 0, 0))},
		{"custom unit count beyond data", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|2|1, 0, 9, 0))},
		{"custom units past the limit", rawToken(1, uv(append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|2|1, 0, 2, 0), maxTokenValue-1))},
		{"custom truncated", rawToken(1, append(uv(append(uv(uv(head(), 1), 1), 'l'), 1), 8|2|1, 0, 3, 1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeState(tc.tok)
			if !errors.Is(err, ErrBadToken) {
				t.Errorf("DecodeState = %v, want ErrBadToken", err)
			}
		})
	}
}

// withTrailer appends raw bytes after the compressed data of tok.
func withTrailer(t testing.TB, tok string, extra ...byte) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(append(raw, extra...))
}

// bigToken is a well-formed token whose body has at least n bytes: thin
// strokes zig-zagging across a 128×128 image, the costliest brush work a
// body of that size can ask for.
func bigToken(t testing.TB, n int) string {
	t.Helper()
	st := State{Model: "m", Layer: "l", ID: 1}
	var body []byte
	for len(body) < n {
		e := Edit{Concept: "tree", Units: 1, Radius: 1}
		for j := 0; j < 2048; j++ {
			e.Points = append(e.Points, Point{(j * 7) % 128, (j % 2) * 127})
		}
		st.Edits = append(st.Edits, e)
		body, _ = Body(st)
	}
	var buf bytes.Buffer
	buf.WriteByte(TokenVersion)
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	zw.Write(body)
	zw.Close()
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func TestBodyLimitNamedInError(t *testing.T) {
	_, err := DecodeState(bigToken(t, 262000))
	if err == nil || !strings.Contains(err.Error(), "brush data") {
		t.Errorf("DecodeState of a work bomb = %v, want a brush-data limit error", err)
	}
}

// TestOldTokensDecode keeps links that were shared before decoding: the
// tokens in testdata/tokens.json were written by earlier servers.
func TestOldTokensDecode(t *testing.T) {
	raw, err := os.ReadFile("testdata/tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	// The file spells states as the server's State of the time did.
	var golden []struct {
		Name  string
		Token string
		State struct {
			Model, Layer string
			ID           int64
			Edits        []struct {
				Concept            string
				Remove, Everywhere bool
				Units, Radius      int
				Points             []Point
				Brush, Step        string
			}
			Repair bool
		}
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) == 0 {
		t.Fatal("no golden tokens")
	}
	for _, g := range golden {
		t.Run(g.Name, func(t *testing.T) {
			st, err := DecodeState(g.Token)
			if err != nil {
				t.Fatalf("old link no longer decodes: %v", err)
			}
			want := State{Model: g.State.Model, Layer: g.State.Layer, ID: g.State.ID, Repair: g.State.Repair}
			for _, e := range g.State.Edits {
				m := Add
				if e.Remove {
					m = Remove
				}
				want.Edits = append(want.Edits, Edit{Concept: e.Concept, Mode: m, Everywhere: e.Everywhere, Units: e.Units, Radius: e.Radius, Points: e.Points,
					Brush: e.Brush, Step: e.Step})
			}
			if !reflect.DeepEqual(st, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", st, want)
			}
		})
	}
}

// TestEncodeReusesWritersCleanly: a reused flate writer leaves nothing of
// the previous token in the next one, and pooled writers give the tokens a
// fresh writer gives.
func TestEncodeReusesWritersCleanly(t *testing.T) {
	a, b := sampleState(), State{Model: "m", Layer: "l", ID: 9}
	first, err := EncodeState(a)
	if err != nil {
		t.Fatal(err)
	}
	var enc TokenEncoder
	for i := 0; i < 5; i++ {
		if _, err := enc.Encode(b); err != nil {
			t.Fatal(err)
		}
		again, err := enc.Encode(a)
		if err != nil || again != first {
			t.Fatalf("token changed on writer reuse: %v\n%s\n%s", err, first, again)
		}
	}
}

func TestEncodeStateErrors(t *testing.T) {
	tests := []struct {
		name string
		st   State
	}{
		{"negative id", State{ID: -1}},
		{"long model", State{Model: strings.Repeat("m", 300)}},
		{"negative point", State{Edits: []Edit{{Concept: "t", Units: 1, Radius: 1, Points: []Point{{-1, 0}}}}}},
		{"huge radius", State{Edits: []Edit{{Concept: "t", Units: 1, Radius: 1 << 16, Points: []Point{{1, 0}}}}}},
		{"no points", State{Edits: []Edit{{Concept: "t", Units: 1, Radius: 1}}}},
		{"custom units not increasing", State{Edits: []Edit{{Custom: &CustomBrush{Layer: "l", Units: []int{3, 3}}, Mode: Remove, Everywhere: true}}}},
		{"custom without units", State{Edits: []Edit{{Custom: &CustomBrush{Layer: "l"}, Mode: Remove, Everywhere: true}}}},
		{"custom unit too big", State{Edits: []Edit{{Custom: &CustomBrush{Layer: "l", Units: []int{1 << 16}}, Mode: Remove, Everywhere: true}}}},
		{"rectangle", State{Edits: []Edit{{Concept: "t", Units: 1, Rect: image.Rect(0, 0, 2, 2), Radius: 1, Points: []Point{{1, 1}}}}}},
		{"custom with a brush", State{Edits: []Edit{{Brush: "b", Step: "low", Custom: &CustomBrush{Layer: "l", Units: []int{1}}, Mode: Remove, Everywhere: true}}}},
		{"custom with a concept", State{Edits: []Edit{{Concept: "t", Custom: &CustomBrush{Layer: "l", Units: []int{1}}, Mode: Remove, Everywhere: true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := EncodeState(tc.st); !errors.Is(err, ErrBadToken) {
				t.Errorf("EncodeState = %v, want ErrBadToken", err)
			}
		})
	}
}

// FuzzDecodeState checks that no input makes the decoder panic or accept
// something it cannot write back identically.
func FuzzDecodeState(f *testing.F) {
	good, _ := EncodeState(sampleState())
	f.Add(good)
	f.Add("")
	f.Add("AQ")
	f.Add(rawToken(1, []byte{1, 'm', 1, 'l', 0, 0, 0}))
	f.Add(rawToken(1, []byte{1, 'm', 1, 'l', 0, 1, 1, 't', 1, 0, 0, 3, 2, 1, 5, 5}))
	f.Add(rawToken(1, []byte{1, 'm', 1, 'l', 0, 1, 1, 'l', 2, 11, 0, 2, 4, 0, 8, 0, 1, 1, 5, 1, 5, 5}))
	f.Fuzz(func(t *testing.T, tok string) {
		st, err := DecodeState(tok)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := EncodeState(st)
		if err != nil {
			t.Fatalf("decoded state does not re-encode: %v", err)
		}
		st2, err := DecodeState(again)
		if err != nil || !reflect.DeepEqual(st, st2) {
			t.Fatalf("re-encoded state differs: %v\n%+v\n%+v", err, st, st2)
		}
	})
}

func TestRepairTokenRoundTrip(t *testing.T) {
	st := sampleState()
	plain, err := EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	st.Repair = true
	tok, err := EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeState(tok)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, st)
	}
	if tok == plain {
		t.Error("repair did not change the token")
	}
	st.Repair = false
	if again, _ := EncodeState(st); again != plain {
		t.Error("a state without repair encodes differently than before the field existed")
	}
	// After the edits only the value 1 may follow.
	body, _ := Body(sampleState())
	for _, tail := range [][]byte{{0}, {2}, {1, 1}} {
		if _, err := DecodeState(rawToken(1, append(append([]byte(nil), body...), tail...))); err == nil {
			t.Errorf("trailer %v accepted", tail)
		}
	}
}
