// Package npy reads uint8 arrays from numpy's .npy files and .npz archives
// (what training/build_dataset.py writes: np.savez of `images`, uint8
// [N, H, W, 3], and `labels`). Only C-order uint8 arrays are supported; the
// reader checks every header field and never allocates more than the caller
// allows, since the file comes from outside the program.
package npy

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrFormat: the input is not a supported .npy stream or .npz archive.
var ErrFormat = errors.New("npy: unsupported or malformed file")

// ErrTooBig: the array is larger than the caller's limit.
var ErrTooBig = errors.New("npy: array larger than allowed")

// maxHeader bounds the header dict (numpy pads it to 64 bytes; a few KB is
// generous for any real shape).
const maxHeader = 1 << 16

// maxRank bounds the number of dimensions.
const maxRank = 32

// Array is a uint8 array in C order.
type Array struct {
	Shape []int
	Data  []uint8
}

// Decode reads one .npy stream holding a uint8 array of at most maxBytes
// elements.
func Decode(r io.Reader, maxBytes int64) (*Array, error) {
	br := bufio.NewReader(r)
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return nil, fmt.Errorf("%w: short magic: %v", ErrFormat, err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%w: no NUMPY magic", ErrFormat)
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%w: short header length: %v", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%w: short header length: %v", ErrFormat, err)
		}
		n := binary.LittleEndian.Uint32(b[:])
		if n > maxHeader {
			return nil, fmt.Errorf("%w: header of %d bytes", ErrFormat, n)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("%w: format version %d.%d", ErrFormat, pre[6], pre[7])
	}
	if hlen > maxHeader {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrFormat, hlen)
	}
	head := make([]byte, hlen)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("%w: short header: %v", ErrFormat, err)
	}
	descr, fortran, shape, err := parseHeader(string(head))
	if err != nil {
		return nil, err
	}
	if descr != "|u1" && descr != "<u1" && descr != ">u1" && descr != "u1" {
		return nil, fmt.Errorf("%w: dtype %q (only uint8 is supported)", ErrFormat, descr)
	}
	if fortran {
		return nil, fmt.Errorf("%w: Fortran-order arrays are not supported", ErrFormat)
	}
	total := int64(1)
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("%w: negative dimension in %v", ErrFormat, shape)
		}
		if d > 0 && total > maxBytes/int64(d) {
			return nil, fmt.Errorf("%w: shape %v, limit %d elements", ErrTooBig, shape, maxBytes)
		}
		total *= int64(d)
	}
	if total > maxBytes {
		return nil, fmt.Errorf("%w: shape %v, limit %d elements", ErrTooBig, shape, maxBytes)
	}
	data := make([]uint8, total)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, fmt.Errorf("%w: %d data bytes expected for shape %v: %v", ErrFormat, total, shape, err)
	}
	return &Array{Shape: shape, Data: data}, nil
}

// ReadNPZ reads the uint8 array name (without ".npy") from the .npz archive
// at path.
func ReadNPZ(path, name string, maxBytes int64) (*Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, strings.TrimSuffix(f.Name, ".npy"))
		if f.Name != name+".npy" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, f.Name, err)
		}
		a, err := Decode(rc, maxBytes)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", f.Name, path, err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("%w: %s has no array %q (it has %s)", ErrFormat, path, name, strings.Join(names, ", "))
}

// parseHeader reads numpy's header dict, a Python literal such as
// {'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }.
func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	p := &lit{s: strings.TrimRight(h, " \n\x00")}
	fail := func(format string, args ...any) (string, bool, []int, error) {
		return "", false, nil, fmt.Errorf("%w: header: "+format, append([]any{ErrFormat}, args...)...)
	}
	if !p.eat('{') {
		return fail("no '{'")
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return fail("bad key at %d", p.i)
		}
		if seen[key] {
			return fail("key %q twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return fail("no ':' after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if descr, ok = p.str(); !ok {
				return fail("descr is not a string")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				fortran = true
			case p.word("False"):
			default:
				return fail("fortran_order is not True or False")
			}
		case "shape":
			if shape, ok = p.tuple(); !ok {
				return fail("shape is not a tuple of integers")
			}
		default:
			return fail("unknown key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return fail("no ',' or '}' at %d", p.i)
		}
		break
	}
	if p.space(); p.i != len(p.s) {
		return fail("trailing text")
	}
	if !seen["descr"] || !seen["fortran_order"] || !seen["shape"] {
		return fail("missing descr, fortran_order or shape")
	}
	return descr, fortran, shape, nil
}

// lit is a cursor over a Python literal.
type lit struct {
	s string
	i int
}

func (p *lit) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *lit) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *lit) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes (numpy writes none).
func (p *lit) str() (string, bool) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", false
	}
	p.i += end + 2
	return v, true
}

// tuple reads (a, b, ...) of non-negative integers; "(5,)" and "()" too.
func (p *lit) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	out := []int{}
	for {
		p.space()
		if p.eat(')') {
			return out, true
		}
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 12 {
			return nil, false
		}
		v, err := strconv.Atoi(p.s[p.i:j])
		if err != nil || len(out) >= maxRank {
			return nil, false
		}
		out = append(out, v)
		p.i = j
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat(')') {
			return out, true
		}
		return nil, false
	}
}
