package server

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// bigToken is a short token whose body inflates to at least n bytes of
// strokes: a work bomb for the entry points that take tokens.
func bigToken(t testing.TB, n int) string {
	t.Helper()
	st := painting.State{Model: "m", Layer: "l", ID: 1}
	var body []byte
	for len(body) < n {
		e := painting.Edit{Concept: "tree", Units: 1, Radius: 1}
		for j := 0; j < 2048; j++ {
			e.Points = append(e.Points, painting.Point{X: (j * 7) % 128, Y: (j % 2) * 127})
		}
		st.Edits = append(st.Edits, e)
		body, _ = painting.Body(st)
	}
	var buf bytes.Buffer
	buf.WriteByte(painting.TokenVersion)
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	zw.Write(body)
	zw.Close()
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}
