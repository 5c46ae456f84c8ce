package painting

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// Share tokens carry a whole painter state in a URL:
//
//	base64url-nopad( version || payload )
//
// The first byte says how to read the rest, so every link ever shared keeps
// decoding: a new format adds a version and a decoder to tokenDecoders, and
// the old decoders stay. The encoder writes TokenVersion. Version 1:
//
//	payload = deflate( body )
//	body   = str(model) str(layer) uv(id) uv(nconcepts) str(concept)* uv(nedits) edit* [uv(1)]
//	edit   = byte(flags: 1 remove, 2 everywhere, 4 brush, 8 custom)
//	         ( uv(concept index) uv(units)                              without flag 8
//	           [ uv(brush index) uv(step index) ]                       flag 4 only
//	         | uv(layer index) uv(nunits) uv(u0) uv(u[i]−u[i−1]−1)*      flag 8: custom brush
//	           [ uv(step index) ] )                                     flags 8 and 4 only
//	         [ uv(radius) uv(npoints) uv(x0) uv(y0) (sv(dx) sv(dy))* ]   strokes only
//	str    = uv(len) bytes;  uv = unsigned varint;  sv = zigzag varint
//
// Concepts, brush and step names are stored once in a table because a state
// usually repeats a few names many times; an edit without flag 4 (every
// token made before brushes existed) is the concept's IoU ranking at
// strength 1; points are deltas because consecutive brush points are
// close, which makes them one byte each before deflate. The optional last
// field, present only as 1, means "repair artifacts" is on; tokens without
// it are the same bytes as before the field existed. A custom brush (flag
// 8, units chosen in the unit editor) stores its layer in the name table
// and its units in increasing order as gaps, so one set of units has one
// token; tokens without it are the same bytes as before it existed. A
// custom brush with flag 4 too has a strength step (its name in the table);
// without it, as in tokens made before custom brushes had steps, it paints
// at strength 1.

// TokenVersion is the first byte of every token this code writes.
const TokenVersion = 1

// tokenDecoders read a token's payload (what follows the version byte), by
// version.
var tokenDecoders = map[byte]func(payload []byte) (State, error){
	1: decodeV1,
}

// Hard limits of the codec itself, independent of any model or Config: they
// bound what a hostile token can make the decoder allocate.
const (
	MaxTokenLen = 16384 // characters of the base64url token
	// MaxTokenBody bounds a body after inflating. It is MaxShareBody: no
	// server ever issued a bigger token, and the inflater stops as soon as
	// it passes this, before any field is parsed or any stroke rasterised,
	// so a small token cannot make a request expensive.
	MaxTokenBody     = MaxShareBody
	maxTokenString   = 256
	maxTokenConcepts = 1024
	maxTokenValue    = 1 << 16 // units, radius and coordinates are below this
)

// ErrBadToken is wrapped by every share-token decoding or encoding error.
var ErrBadToken = errors.New("bad share token")

const (
	flagRemove     = 1
	flagEverywhere = 2
	flagBrush      = 4
	flagCustom     = 8
)

// TokenEncoder writes share tokens. A session encodes a token with every
// frame, and a new BestCompression flate writer is 800 KB of allocation, so
// an encoder keeps its idle writers for reuse. The zero value is ready; it
// is safe for concurrent use and must not be copied after first use.
type TokenEncoder struct {
	writers sync.Pool // idle *flate.Writer
}

// EncodeState returns the URL-safe token of st with a fresh flate writer;
// code that encodes often holds a TokenEncoder instead.
func EncodeState(st State) (string, error) {
	var e TokenEncoder
	return e.Encode(st)
}

// Encode returns the URL-safe token of st. It fails only when st is
// outside the codec's limits (negative or huge numbers, long names, a
// token longer than MaxTokenLen).
func (e *TokenEncoder) Encode(st State) (string, error) {
	body, err := Body(st)
	if err != nil {
		return "", err
	}
	if len(body) > MaxTokenBody {
		return "", fmt.Errorf("%w: state of %d bytes is too big", ErrBadToken, len(body))
	}
	var buf bytes.Buffer
	buf.WriteByte(TokenVersion)
	zw, _ := e.writers.Get().(*flate.Writer)
	if zw == nil {
		if zw, err = flate.NewWriter(&buf, flate.BestCompression); err != nil {
			return "", err
		}
	} else {
		zw.Reset(&buf)
	}
	defer e.writers.Put(zw)
	if _, err := zw.Write(body); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(buf.Bytes())
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("%w: token of %d characters is too long", ErrBadToken, len(tok))
	}
	return tok, nil
}

// MaxShareBody bounds the uncompressed size of a state the server lets a
// session build. Deflate never expands data by more than a few bytes per
// 64 KiB block, so any such state encodes to a token within MaxTokenLen:
// every painted image stays shareable.
const MaxShareBody = 12000

// Body returns the uncompressed body of st's token: the canonical bytes of
// a state (equal states, equal bodies) and what MaxShareBody limits.
func Body(st State) ([]byte, error) {
	var body []byte
	putStr := func(s string) error {
		if len(s) > maxTokenString {
			return fmt.Errorf("%w: name of %d bytes", ErrBadToken, len(s))
		}
		body = binary.AppendUvarint(body, uint64(len(s)))
		body = append(body, s...)
		return nil
	}
	putSmall := func(what string, v int) error {
		if v < 0 || v >= maxTokenValue {
			return fmt.Errorf("%w: %s %d out of range", ErrBadToken, what, v)
		}
		body = binary.AppendUvarint(body, uint64(v))
		return nil
	}
	if err := putStr(st.Model); err != nil {
		return nil, err
	}
	if err := putStr(st.Layer); err != nil {
		return nil, err
	}
	if st.ID < 0 {
		return nil, fmt.Errorf("%w: negative id", ErrBadToken)
	}
	body = binary.AppendUvarint(body, uint64(st.ID))

	index := map[string]int{}
	var names []string
	add := func(n string) {
		if _, ok := index[n]; !ok {
			index[n] = len(names)
			names = append(names, n)
		}
	}
	for _, e := range st.Edits {
		if !e.Rect.Empty() {
			// The render CLI's rectangles are not something the painter
			// makes; a link holds strokes and "everywhere" only.
			return nil, fmt.Errorf("%w: a rectangle cannot be shared", ErrBadToken)
		}
		if e.Custom != nil {
			add(e.Custom.Layer)
			if e.Step != "" {
				add(e.Step)
			}
			continue
		}
		add(e.Concept)
		if e.Brush != "" || e.Step != "" {
			add(e.Brush)
			add(e.Step)
		}
	}
	if len(names) > maxTokenConcepts {
		return nil, fmt.Errorf("%w: %d concepts", ErrBadToken, len(names))
	}
	body = binary.AppendUvarint(body, uint64(len(names)))
	for _, n := range names {
		if err := putStr(n); err != nil {
			return nil, err
		}
	}
	body = binary.AppendUvarint(body, uint64(len(st.Edits)))
	for _, e := range st.Edits {
		var flags byte
		if e.Mode == Remove {
			flags |= flagRemove
		}
		if e.Everywhere {
			flags |= flagEverywhere
		}
		brush := e.Brush != "" || e.Step != ""
		if brush {
			flags |= flagBrush
		}
		if e.Custom != nil {
			if e.Brush != "" || e.Concept != "" || e.Units != 0 {
				return nil, fmt.Errorf("%w: a custom edit with a concept or brush", ErrBadToken)
			}
			flags |= flagCustom
		}
		body = append(body, flags)
		if e.Custom != nil {
			var err error
			if body, err = appendCustom(body, index[e.Custom.Layer], e.Custom.Units); err != nil {
				return nil, err
			}
		} else {
			body = binary.AppendUvarint(body, uint64(index[e.Concept]))
			if err := putSmall("units", e.Units); err != nil {
				return nil, err
			}
		}
		switch {
		case brush && e.Custom != nil:
			body = binary.AppendUvarint(body, uint64(index[e.Step]))
		case brush:
			body = binary.AppendUvarint(body, uint64(index[e.Brush]))
			body = binary.AppendUvarint(body, uint64(index[e.Step]))
		}
		if e.Everywhere {
			continue
		}
		if err := putSmall("radius", e.Radius); err != nil {
			return nil, err
		}
		if len(e.Points) == 0 {
			return nil, fmt.Errorf("%w: stroke without points", ErrBadToken)
		}
		body = binary.AppendUvarint(body, uint64(len(e.Points)))
		prev := Point{}
		for i, p := range e.Points {
			if p.X < 0 || p.X >= maxTokenValue || p.Y < 0 || p.Y >= maxTokenValue {
				return nil, fmt.Errorf("%w: point (%d,%d) out of range", ErrBadToken, p.X, p.Y)
			}
			if i == 0 {
				body = binary.AppendUvarint(body, uint64(p.X))
				body = binary.AppendUvarint(body, uint64(p.Y))
			} else {
				body = binary.AppendVarint(body, int64(p.X-prev.X))
				body = binary.AppendVarint(body, int64(p.Y-prev.Y))
			}
			prev = p
		}
	}
	if st.Repair {
		body = binary.AppendUvarint(body, 1)
	}
	return body, nil
}

// appendCustom writes a custom brush's layer index and units.
func appendCustom(body []byte, layer int, units []int) ([]byte, error) {
	if len(units) == 0 || len(units) >= maxTokenValue {
		return nil, fmt.Errorf("%w: custom brush of %d units", ErrBadToken, len(units))
	}
	body = binary.AppendUvarint(body, uint64(layer))
	body = binary.AppendUvarint(body, uint64(len(units)))
	for i, u := range units {
		if u < 0 || u >= maxTokenValue || (i > 0 && u <= units[i-1]) {
			return nil, fmt.Errorf("%w: custom brush units must increase within 0..%d", ErrBadToken, maxTokenValue-1)
		}
		if i == 0 {
			body = binary.AppendUvarint(body, uint64(u))
		} else {
			body = binary.AppendUvarint(body, uint64(u-units[i-1]-1))
		}
	}
	return body, nil
}

// DecodeState parses a token written by EncodeState. It checks the token's
// structure and the codec's limits; whether the state fits a model is
// checked by the server.
func DecodeState(tok string) (State, error) {
	var st State
	if tok == "" {
		return st, fmt.Errorf("%w: empty", ErrBadToken)
	}
	if len(tok) > MaxTokenLen {
		return st, fmt.Errorf("%w: %d characters, at most %d", ErrBadToken, len(tok), MaxTokenLen)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil {
		return st, fmt.Errorf("%w: not base64url", ErrBadToken)
	}
	if len(raw) < 2 {
		return st, fmt.Errorf("%w: too short", ErrBadToken)
	}
	decode, ok := tokenDecoders[raw[0]]
	if !ok {
		return st, fmt.Errorf("%w: version %d, this server reads versions up to %d", ErrBadToken, raw[0], TokenVersion)
	}
	return decode(raw[1:])
}

// decodeV1 reads a version 1 payload: a deflated body.
func decodeV1(payload []byte) (State, error) {
	var st State
	// bytes.Reader is an io.ByteReader, so the inflater reads exactly up to
	// the end of the deflate stream and src.Len() is what follows it.
	src := bytes.NewReader(payload)
	zr := flate.NewReader(src)
	body, err := io.ReadAll(io.LimitReader(zr, MaxTokenBody+1))
	zr.Close()
	if len(body) > MaxTokenBody {
		return st, fmt.Errorf("%w: holds more than %d bytes of brush data", ErrBadToken, MaxTokenBody)
	}
	if err != nil {
		return st, fmt.Errorf("%w: corrupt data", ErrBadToken)
	}
	// Bytes after the stream would not change the image but would give it
	// endless distinct (and separately cached) URLs.
	if src.Len() != 0 {
		return st, fmt.Errorf("%w: %d bytes after the compressed data", ErrBadToken, src.Len())
	}

	d := tokenReader{b: body}
	st.Model = d.str("model")
	st.Layer = d.str("layer")
	id := d.uv("id", math.MaxInt64)
	st.ID = int64(id)
	nConcepts := d.uv("concept count", maxTokenConcepts)
	names := make([]string, 0, min(nConcepts, uint64(len(body))))
	for i := uint64(0); i < nConcepts && d.err == nil; i++ {
		names = append(names, d.str("concept"))
	}
	// Every edit takes at least 3 bytes, so the remaining length bounds the
	// allocation whatever the count claims.
	nEdits := d.uv("edit count", uint64(len(body)))
	if d.err == nil && nEdits > uint64(d.remaining()/3) {
		d.fail("edit count %d exceeds the data", nEdits)
	}
	if d.err == nil && nEdits > 0 {
		st.Edits = make([]Edit, 0, nEdits)
	}
	for i := uint64(0); i < nEdits && d.err == nil; i++ {
		var e Edit
		flags := d.byte()
		if flags&^(flagRemove|flagEverywhere|flagBrush|flagCustom) != 0 {
			d.fail("unknown edit flags %#x", flags)
			break
		}
		if flags&flagRemove != 0 {
			e.Mode = Remove
		}
		e.Everywhere = flags&flagEverywhere != 0
		if flags&flagCustom != 0 {
			e.Custom = d.custom(names)
			if flags&flagBrush != 0 {
				e.Step = d.name("step index", names)
			}
		} else {
			d.concept(&e, flags&flagBrush != 0, names)
		}
		if d.err != nil {
			break
		}
		if !e.Everywhere {
			e.Radius = int(d.uv("radius", maxTokenValue-1))
			n := d.uv("point count", uint64(d.remaining()/2))
			if d.err == nil && n == 0 {
				d.fail("stroke without points")
			}
			if d.err != nil {
				break
			}
			e.Points = make([]Point, n)
			var p Point
			for j := range e.Points {
				if j == 0 {
					p.X = int(d.uv("x", maxTokenValue-1))
					p.Y = int(d.uv("y", maxTokenValue-1))
				} else {
					p.X += int(d.sv("dx"))
					p.Y += int(d.sv("dy"))
				}
				if d.err == nil && (p.X < 0 || p.X >= maxTokenValue || p.Y < 0 || p.Y >= maxTokenValue) {
					d.fail("point (%d,%d) out of range", p.X, p.Y)
				}
				if d.err != nil {
					break
				}
				e.Points[j] = p
			}
		}
		st.Edits = append(st.Edits, e)
	}
	if d.err == nil && d.remaining() != 0 {
		// Only "repair on" may follow the edits, written as 1 (canonical:
		// one state, one token).
		if v := d.uv("repair", 1); d.err == nil && v != 1 {
			d.fail("repair flag %d", v)
		}
		st.Repair = d.err == nil
	}
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	if d.err != nil {
		return State{}, d.err
	}
	return st, nil
}

// concept reads a concept edit's concept, units and optional brush names.
func (d *tokenReader) concept(e *Edit, brush bool, names []string) {
	ci := d.uv("concept index", uint64(len(names)))
	if d.err == nil && ci >= uint64(len(names)) {
		d.fail("concept index %d of %d", ci, len(names))
	}
	if d.err != nil {
		return
	}
	e.Concept = names[ci]
	e.Units = int(d.uv("units", maxTokenValue-1))
	if !brush {
		return
	}
	bi := d.uv("brush index", uint64(len(names)))
	si := d.uv("step index", uint64(len(names)))
	if d.err == nil && (bi >= uint64(len(names)) || si >= uint64(len(names))) {
		d.fail("brush or step index beyond %d names", len(names))
	}
	if d.err == nil {
		e.Brush, e.Step = names[bi], names[si]
	}
}

// name reads an index into the name table.
func (d *tokenReader) name(what string, names []string) string {
	i := d.uv(what, uint64(len(names)))
	if d.err == nil && i >= uint64(len(names)) {
		d.fail("%s %d of %d", what, i, len(names))
	}
	if d.err != nil {
		return ""
	}
	return names[i]
}

// custom reads a custom brush: its layer's name index and its units.
func (d *tokenReader) custom(names []string) *CustomBrush {
	li := d.uv("layer index", uint64(len(names)))
	if d.err == nil && li >= uint64(len(names)) {
		d.fail("layer index %d of %d", li, len(names))
	}
	// Every unit takes at least a byte, so the remaining length bounds the
	// allocation whatever the count claims.
	n := d.uv("unit count", uint64(d.remaining()))
	if d.err == nil && n == 0 {
		d.fail("custom brush without units")
	}
	if d.err != nil {
		return nil
	}
	cb := &CustomBrush{Layer: names[li], Units: make([]int, n)}
	next := uint64(0) // the smallest value the next unit may take
	for i := range cb.Units {
		gap := d.uv("unit", maxTokenValue-1)
		if d.err == nil && next+gap >= maxTokenValue {
			d.fail("unit %d out of range", next+gap)
		}
		if d.err != nil {
			return nil
		}
		cb.Units[i] = int(next + gap)
		next += gap + 1
	}
	return cb
}

// tokenReader reads varint fields and remembers the first error so the
// decoder reads as a straight sequence of fields.
type tokenReader struct {
	b   []byte
	off int
	err error
}

func (d *tokenReader) remaining() int { return len(d.b) - d.off }

func (d *tokenReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadToken}, args...)...)
	}
}

func (d *tokenReader) uv(what string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated %s", what)
		return 0
	}
	d.off += n
	if n != uvarintLen(v) {
		// The encoder writes minimal varints; padded ones are another
		// spelling of the same state (another URL for one image).
		d.fail("%s is not a minimal varint", what)
		return 0
	}
	if v > limit {
		d.fail("%s %d is too large", what, v)
		return 0
	}
	return v
}

func (d *tokenReader) sv(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated %s", what)
		return 0
	}
	d.off += n
	if n != uvarintLen(uint64(v)<<1^uint64(v>>63)) {
		d.fail("%s is not a minimal varint", what)
		return 0
	}
	if v <= -maxTokenValue || v >= maxTokenValue {
		d.fail("%s %d is too large", what, v)
		return 0
	}
	return v
}

func (d *tokenReader) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated edit")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *tokenReader) str(what string) string {
	n := d.uv(what+" length", maxTokenString)
	if d.err != nil {
		return ""
	}
	if uint64(d.remaining()) < n {
		d.fail("truncated %s", what)
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

// uvarintLen is the length of v's minimal unsigned varint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
