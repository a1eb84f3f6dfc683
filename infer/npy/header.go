package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Header is what a .npy header says about its array.
type Header struct {
	Dtype   string // numpy's descr, e.g. "<f4", "|u1", "|b1"
	Shape   []int  // empty for a scalar
	Fortran bool   // column-major in the file
}

// magic starts every .npy file.
const magic = "\x93NUMPY"

// maxHeader bounds a header's dictionary: numpy's own are under 4 KiB, and a larger one is
// garbage, not an array.
const maxHeader = 1 << 20

// ErrFormat is wrapped by every error about bytes that are not a valid .npy array.
var ErrFormat = errors.New("npy: not a valid .npy array")

// Len is the number of elements, the product of the shape (1 for a scalar), or -1 if the
// product overflows.
func (h Header) Len() int {
	n := 1
	for _, s := range h.Shape {
		if s < 0 || (s > 0 && n > math.MaxInt64/s) {
			return -1
		}
		n *= s
	}
	return n
}

// ParseHeader parses the .npy header at the start of b and returns it with its length in
// bytes (where the data starts). It is a pure function of b, fuzzed.
func ParseHeader(b []byte) (Header, int, error) {
	start, n, err := preamble(b)
	if err != nil {
		return Header{}, 0, err
	}
	if len(b) < start+n {
		return Header{}, 0, fmt.Errorf("%w: header truncated: %d of its %d bytes", ErrFormat, len(b)-start, n)
	}
	h, err := parseDict(string(b[start : start+n]))
	if err != nil {
		return Header{}, 0, err
	}
	return h, start + n, nil
}

// preamble checks the magic and version at the start of b (at least 12 bytes, or 10 for
// version 1.0) and returns where the dictionary starts and its length.
func preamble(b []byte) (start, n int, err error) {
	if len(b) < 10 || string(b[:6]) != magic {
		return 0, 0, fmt.Errorf("%w: no \\x93NUMPY magic", ErrFormat)
	}
	switch b[6] {
	case 1:
		start, n = 10, int(binary.LittleEndian.Uint16(b[8:]))
	case 2, 3:
		if len(b) < 12 {
			return 0, 0, fmt.Errorf("%w: header truncated", ErrFormat)
		}
		start, n = 12, int(binary.LittleEndian.Uint32(b[8:]))
	default:
		return 0, 0, fmt.Errorf("%w: format version %d.%d, want 1.0, 2.0 or 3.0", ErrFormat, b[6], b[7])
	}
	if n > maxHeader {
		return 0, 0, fmt.Errorf("%w: header of %d bytes, want at most %d", ErrFormat, n, maxHeader)
	}
	return start, n, nil
}

// ReadHeader reads exactly the .npy header from r, leaving r at the array's first data byte.
func ReadHeader(r io.Reader) (Header, error) {
	pre := make([]byte, 12, 128)
	if _, err := io.ReadFull(r, pre[:10]); err != nil {
		return Header{}, fmt.Errorf("%w: header truncated: %w", ErrFormat, err)
	}
	if pre[6] == 2 || pre[6] == 3 {
		if _, err := io.ReadFull(r, pre[10:12]); err != nil {
			return Header{}, fmt.Errorf("%w: header truncated: %w", ErrFormat, err)
		}
	} else {
		pre = pre[:10]
	}
	start, n, err := preamble(pre)
	if err != nil {
		return Header{}, err
	}
	buf := append(pre, make([]byte, n)...)
	if _, err := io.ReadFull(r, buf[start:]); err != nil {
		return Header{}, fmt.Errorf("%w: header truncated: %w", ErrFormat, err)
	}
	h, _, err := ParseHeader(buf)
	return h, err
}

// AppendHeader appends the .npy header of a C-order array of dtype and shape to dst: version
// 1.0, or 2.0 if the dictionary does not fit in 64 KiB, padded so the data starts on a 64-byte
// boundary as numpy does.
func AppendHeader(dst []byte, dtype string, shape []int) []byte {
	var s strings.Builder
	s.WriteString("{'descr': '")
	s.WriteString(dtype)
	s.WriteString("', 'fortran_order': False, 'shape': (")
	for i, n := range shape {
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(strconv.Itoa(n))
	}
	if len(shape) == 1 {
		s.WriteString(",")
	}
	s.WriteString("), }")
	dict := s.String()
	pre := 10
	if len(dict)+1+64 > math.MaxUint16 {
		pre = 12
	}
	pad := (64 - (pre+len(dict)+1)%64) % 64
	n := len(dict) + pad + 1
	dst = append(dst, magic...)
	if pre == 10 {
		dst = append(dst, 1, 0)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
	} else {
		dst = append(dst, 2, 0)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	}
	dst = append(dst, dict...)
	for range pad {
		dst = append(dst, ' ')
	}
	return append(dst, '\n')
}

// parseDict parses numpy's header dictionary, a Python literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseDict(s string) (Header, error) {
	p := &parser{s: s}
	var h Header
	seen := map[string]bool{}
	if !p.eat('{') {
		return h, p.fail("want '{' opening the header dictionary")
	}
	for !p.eat('}') {
		key, err := p.str()
		if err != nil {
			return h, p.fail("want a quoted key or '}'")
		}
		if seen[key] {
			return h, p.fail("key %q given twice", key)
		}
		seen[key] = true
		if !p.eat(':') {
			return h, p.fail("want ':' after key %q", key)
		}
		switch key {
		case "descr":
			if p.peek() == '[' {
				return h, fmt.Errorf("%w: descr: a structured dtype (record array), want a plain numeric dtype", ErrFormat)
			}
			if h.Dtype, err = p.str(); err != nil {
				return h, p.fail("descr: want a quoted dtype such as '<f4'")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.Fortran = true
			case p.word("False"):
			default:
				return h, p.fail("fortran_order: want True or False")
			}
		case "shape":
			if h.Shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, p.fail("unknown key %q, want descr, fortran_order and shape", key)
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return h, p.fail("want ',' or '}' after the value of %q", key)
			}
			break
		}
	}
	p.space()
	if p.i != len(p.s) {
		return h, p.fail("bytes after the header dictionary")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("%w: header has no %q", ErrFormat, k)
		}
	}
	if h.Len() < 0 {
		return h, fmt.Errorf("%w: shape %v: too many elements", ErrFormat, h.Shape)
	}
	return h, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) fail(format string, a ...any) error {
	return fmt.Errorf("%w: header at byte %d: "+format, append([]any{ErrFormat, p.i}, a...)...)
}

func (p *parser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *parser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) word(w string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str parses a single- or double-quoted string without escapes (numpy writes none).
func (p *parser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", errors.New("no string")
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

// tuple parses a tuple of non-negative ints: (), (3,), (3, 4) or (3, 4,); Python 2's 3L too.
func (p *parser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.fail("shape: want a tuple such as (3, 4)")
	}
	shape := []int{}
	for !p.eat(')') {
		p.space()
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.Atoi(p.s[j:p.i])
		if err != nil || p.i-j > 18 {
			return nil, p.fail("shape: want a non-negative integer size")
		}
		if p.i < len(p.s) && p.s[p.i] == 'L' {
			p.i++
		}
		shape = append(shape, n)
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, p.fail("shape: want ',' or ')'")
			}
			break
		}
	}
	return shape, nil
}
