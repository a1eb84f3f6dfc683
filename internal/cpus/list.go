package cpus

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrUnsupported is returned where the operating system cannot pin a thread (not Linux).
var ErrUnsupported = errors.New("pinning threads to cores needs Linux")

// MaxCore is the highest core number a list may name: the kernel's CPU sets in
// golang.org/x/sys/unix hold 1024.
const MaxCore = 1023

// ParseList parses a list of cores as the kernel writes one: comma-separated cores and
// inclusive ranges ("0-3,6"), in any order. It returns the cores sorted, each once; the empty
// string is no cores. A core past MaxCore, a reversed range or anything else is an error that
// quotes the piece.
func ParseList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cores []int
	for _, piece := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(piece), "-")
		a, err := parseCore(lo)
		if err != nil {
			return nil, fmt.Errorf("cpus: list %q: %q: %w", s, piece, err)
		}
		b := a
		if isRange {
			if b, err = parseCore(hi); err != nil {
				return nil, fmt.Errorf("cpus: list %q: %q: %w", s, piece, err)
			}
			if b < a {
				return nil, fmt.Errorf("cpus: list %q: range %q runs backwards", s, piece)
			}
		}
		for c := a; c <= b; c++ {
			cores = append(cores, c)
		}
	}
	slices.Sort(cores)
	return slices.Compact(cores), nil
}

// parseCore parses one core number, 0 to MaxCore.
func parseCore(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxCore {
		return 0, fmt.Errorf("want a core number, 0 to %d", MaxCore)
	}
	return n, nil
}

// FormatList writes cores as the kernel does ("0-3,6"): sorted, runs of three or more as
// ranges; "" for none.
func FormatList(cores []int) string {
	s := slices.Clone(cores)
	slices.Sort(s)
	s = slices.Compact(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		switch {
		case j == i+1:
			b.WriteString("," + strconv.Itoa(s[j]))
		case j > i+1:
			b.WriteString("-" + strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Available is the cores this process may use: its affinity when it started.
func Available() ([]int, error) {
	avail, err := available()
	if err != nil {
		return nil, fmt.Errorf("cpus: %w", err)
	}
	return avail, nil
}

// Check reports whether cores may be used as cores of their own: each is one of the cores
// this process may use (Available) and none appears twice. The error names field (a config
// path or a flag, e.g. "models[0].cpus") and the cores that exist.
func Check(field string, cores []int) error {
	avail, err := available()
	if err != nil {
		return fmt.Errorf("cpus: %s: %w", field, err)
	}
	seen := map[int]bool{}
	for _, c := range cores {
		switch {
		case seen[c]:
			return fmt.Errorf("cpus: %s: core %d is named twice: want a core of its own for each", field, c)
		case !slices.Contains(avail, c):
			return fmt.Errorf("cpus: %s: core %d is not one of this process's cores (%s)", field, c, FormatList(avail))
		}
		seen[c] = true
	}
	return nil
}

// Others is the cores of Available that are not in reserved: where the rest of the process
// runs. It is an error when none is left, naming field.
func Others(field string, reserved []int) ([]int, error) {
	avail, err := available()
	if err != nil {
		return nil, fmt.Errorf("cpus: %s: %w", field, err)
	}
	var rest []int
	for _, c := range avail {
		if !slices.Contains(reserved, c) {
			rest = append(rest, c)
		}
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("cpus: %s: cores %s would leave none of this process's cores (%s) for its other threads", field, FormatList(reserved), FormatList(avail))
	}
	return rest, nil
}
