// Package wiretest reads the protocol's shared test vectors (proto/photodiode/vectors.txt), the
// one set that calib/wire and the firmware are both tested against.
package wiretest

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"retinad/calib/wire"
)

// Vector is one line of the file: a frame as sent on the wire, and whether a receiver must
// accept it (OK, decoding to Msg) or drop it.
type Vector struct {
	Name  string
	OK    bool
	Frame []byte
	Msg   wire.Message // when OK
}

// Path is the vectors file in this repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "proto", "photodiode", "vectors.txt")
}

// Read parses the vectors file at path.
func Read(path string) ([]Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wiretest: %w", err)
	}
	defer f.Close()
	var vs []Vector
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		v, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("wiretest: %s:%d: %w", path, line, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wiretest: %s: %w", path, err)
	}
	return vs, nil
}

func parseLine(text string) (Vector, error) {
	fs := strings.Fields(text)
	if len(fs) < 3 || (fs[1] != "ok" && fs[1] != "drop") {
		return Vector{}, fmt.Errorf("want `name ok|drop frame-hex [field=value ...]`, got %q", text)
	}
	frame, err := hex.DecodeString(fs[2])
	if err != nil {
		return Vector{}, fmt.Errorf("frame of %s: %w", fs[0], err)
	}
	v := Vector{Name: fs[0], OK: fs[1] == "ok", Frame: frame}
	for _, kv := range fs[3:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return Vector{}, fmt.Errorf("%s: field %q: want key=value", v.Name, kv)
		}
		if err := setField(&v.Msg, k, val); err != nil {
			return Vector{}, fmt.Errorf("%s: field %s: %w", v.Name, k, err)
		}
	}
	return v, nil
}

var types = map[string]wire.Type{
	"hello": wire.TypeHello, "edge": wire.TypeEdge, "levels": wire.TypeLevels, "pong": wire.TypePong,
	"ping": wire.TypePing, "threshold": wire.TypeThreshold, "mode": wire.TypeMode,
}

func setField(m *wire.Message, k, val string) error {
	num := func(bits int) (uint64, error) { return strconv.ParseUint(val, 0, bits) }
	var n uint64
	var err error
	switch k {
	case "type":
		t, ok := types[val]
		if !ok {
			return fmt.Errorf("unknown type %q", val)
		}
		m.Type = t
	case "fw":
		var a, b, c uint8
		if _, err := fmt.Sscanf(val, "%d.%d.%d", &a, &b, &c); err != nil {
			return fmt.Errorf("want major.minor.patch: %w", err)
		}
		m.FwMajor, m.FwMinor, m.FwPatch = a, b, c
	case "samples":
		parts := strings.Split(val, ",")
		if len(parts) > wire.MaxSamples {
			return fmt.Errorf("%d samples, at most %d", len(parts), wire.MaxSamples)
		}
		for i, s := range parts {
			x, err := strconv.ParseUint(s, 0, 16)
			if err != nil {
				return err
			}
			m.Samples[i] = uint16(x)
		}
		m.N = uint8(len(parts))
	case "seq", "proto", "rising", "mode":
		if n, err = num(8); err == nil {
			switch k {
			case "seq":
				m.Seq = uint8(n)
			case "proto":
				m.Proto = uint8(n)
			case "rising":
				m.Rising = n != 0
			case "mode":
				m.Mode = wire.Mode(n)
			}
		}
	case "level", "threshold", "hysteresis", "period":
		if n, err = num(16); err == nil {
			switch k {
			case "level":
				m.Level = uint16(n)
			case "threshold":
				m.Threshold = uint16(n)
			case "hysteresis":
				m.Hysteresis = uint16(n)
			case "period":
				m.PeriodUS = uint16(n)
			}
		}
	case "id":
		if n, err = num(32); err == nil {
			m.ID = uint32(n)
		}
	case "time":
		if n, err = num(64); err == nil {
			m.TimeUS = n
		}
	default:
		return fmt.Errorf("unknown field")
	}
	return err
}
