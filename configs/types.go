package configs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as Go writes one: "8.33ms", "1s", "1m30s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d in the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string. A bare number is refused: its unit would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil || n.Kind != yaml.ScalarNode {
		return typeError(n, "a duration with its unit, such as \"8.33ms\" or \"1s\"")
	}
	*d = Duration(v)
	return nil
}

// Frequency is a rate in hertz, written with its unit: "120Hz", "1.5kHz".
type Frequency float64

// Hz returns f in hertz.
func (f Frequency) Hz() float64 { return float64(f) }

// Period returns the time between two events at rate f.
func (f Frequency) Period() time.Duration {
	return time.Duration(math.Round(float64(time.Second) / float64(f)))
}

func (f Frequency) String() string { return strconv.FormatFloat(float64(f), 'g', -1, 64) + "Hz" }

// MarshalYAML writes f in the form UnmarshalYAML reads.
func (f Frequency) MarshalYAML() (any, error) { return f.String(), nil }

// UnmarshalYAML reads "120Hz", "120 Hz", "1.5kHz" or "2MHz".
func (f *Frequency) UnmarshalYAML(n *yaml.Node) error {
	v, ok := parseFrequency(n.Value)
	if !ok || n.Kind != yaml.ScalarNode {
		return typeError(n, "a frequency with its unit, such as \"120Hz\" or \"1.5kHz\"")
	}
	*f = Frequency(v)
	return nil
}

// ParseFrequency parses a frequency such as "120Hz" (as a config file writes it).
func ParseFrequency(s string) (Frequency, error) {
	v, ok := parseFrequency(s)
	if !ok {
		return 0, fmt.Errorf("configs: frequency %q: want a number with a unit, such as \"120Hz\" or \"1.5kHz\"", s)
	}
	return Frequency(v), nil
}

func parseFrequency(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	scale := 0.0
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"kHz", 1e3}, {"MHz", 1e6}, {"Hz", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, scale = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.scale
			break
		}
	}
	if scale == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v * scale, true
}

// typeError reports a bad scalar the way yaml.v3 reports its own type errors, so that the decoder
// collects it with the others instead of stopping at the first.
func typeError(n *yaml.Node, want string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot use %q: want %s", n.Line, n.Value, want)}}
}

// Bytes is a size in bytes, written with its unit: "500MB", "20GB", "1.5TB" (powers of 1000, as
// disks are sold) or "512MiB", "2GiB" (powers of 1024); "0" is none.
type Bytes int64

func (b Bytes) String() string {
	for _, u := range byteUnits {
		if u.scale > 1 && b != 0 && int64(b)%u.scale == 0 {
			return strconv.FormatInt(int64(b)/u.scale, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalYAML writes b in the form UnmarshalYAML reads.
func (b Bytes) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML reads a size with its unit; a bare number other than 0 is refused (kB or KiB?).
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseBytes(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return typeError(n, "a size with its unit, such as \"500MB\", \"20GB\" or \"2GiB\" (or 0)")
	}
	*b = v
	return nil
}

// byteUnits, longest suffixes first so that "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	scale  int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"KB", 1e3}, {"B", 1},
}

// ParseBytes parses a size such as "20GB" or "512MiB" (as a config file writes it).
func ParseBytes(s string) (Bytes, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || !(v >= 0) || v*float64(u.scale) >= math.MaxInt64 {
				break
			}
			return Bytes(math.Round(v * float64(u.scale))), nil
		}
	}
	return 0, fmt.Errorf("configs: size %q: want a number with a unit, such as \"500MB\", \"20GB\" or \"2GiB\"", s)
}
