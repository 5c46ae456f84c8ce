package server

import (
	"bytes"
	"encoding/binary"
	"image"
	"testing"
)

// TestWireDescribesFrames reads frames the server builds with nothing but
// the numbers WireProtocol hands to the browser.
func TestWireDescribesFrames(t *testing.T) {
	w := WireProtocol()
	s := testServer(t, Config{})
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for name, code := range w.Formats {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := s.encodeFrame(&buf, byte(code), 0xdeadbeef, img); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			if binary.BigEndian.Uint32(b) != w.FrameMagic || int(b[w.FormatOffset]) != code ||
				binary.BigEndian.Uint32(b[w.SeqOffset:]) != 0xdeadbeef {
				t.Errorf("header % x does not match %+v", b[:w.FrameHeader], w)
			}
			png := bytes.HasPrefix(b[w.FrameHeader:], []byte("\x89PNG"))
			jpeg := bytes.HasPrefix(b[w.FrameHeader:], []byte{0xff, 0xd8})
			if (name == "png" && !png) || (name == "jpeg" && !jpeg) {
				t.Errorf("%s frame's image starts % x", name, b[w.FrameHeader:w.FrameHeader+4])
			}
		})
	}
}
