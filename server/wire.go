package server

import (
	"encoding/binary"

	"github.com/gorilla/websocket"
)

// Wire is the part of the websocket protocol (docs/protocol.md) a client
// needs as numbers: the binary frame header's layout and codes, the close
// codes it reacts to, and the largest image it should ask PNG frames for.
// The pages hand it to the browser from these constants, so the client
// never carries its own copies.
type Wire struct {
	FrameMagic   uint32         `json:"frame_magic"`  // first 4 bytes, big-endian
	FrameHeader  int            `json:"frame_header"` // bytes before the image
	FormatOffset int            `json:"format_offset"`
	SeqOffset    int            `json:"seq_offset"` // uint32 big-endian
	Formats      map[string]int `json:"formats"`    // format name → header code
	MaxSeq       uint32         `json:"max_seq"`
	Close        WireClose      `json:"close"`
	// PNGMaxPixels: frames up to this many pixels are best asked for as
	// PNG: lossless, so the canvas is exactly what /render.png and a share
	// link give, and small enough (a 128×128 frame is some tens of kB) that
	// JPEG's savings are not worth its colour bleeding, which the pixelated
	// upscaling magnifies.
	PNGMaxPixels int `json:"png_max_pixels"`
}

// WireClose are the close codes a client treats specially.
type WireClose struct {
	Idle     int `json:"idle"`      // paused for inactivity: resume on use
	NoPong   int `json:"no_pong"`   // did not answer pings
	Full     int `json:"full"`      // server full: retry later
	TooBig   int `json:"too_big"`   // a message over the read limit
	GoingOff int `json:"going_off"` // server shutdown
}

// pngMaxPixels is Wire.PNGMaxPixels.
const pngMaxPixels = 128 * 128

// WireProtocol describes this server's wire constants.
func WireProtocol() Wire {
	return Wire{
		FrameMagic:   binary.BigEndian.Uint32([]byte(frameMagic)),
		FrameHeader:  frameHeaderLen,
		FormatOffset: frameFormatOffset,
		SeqOffset:    frameSeqOffset,
		Formats:      map[string]int{"jpeg": int(formatJPEG), "png": int(formatPNG)},
		MaxSeq:       maxSeq,
		Close: WireClose{Idle: closeIdle, NoPong: closeNoPong, Full: websocket.CloseTryAgainLater,
			TooBig: websocket.CloseMessageTooBig, GoingOff: websocket.CloseGoingAway},
		PNGMaxPixels: pngMaxPixels,
	}
}
