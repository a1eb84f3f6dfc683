package present

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"retinad/configs"
)

// LUTSize is the number of entries of the inverse-gamma table the shader looks up: entry k is
// the drive level (0..1) that makes luminance k/(LUTSize-1) of the monitor's range.
const LUTSize = 1024

// InverseGamma returns the inverse-gamma table for g: drive = L^(1/exponent) for a power law,
// or the inverse of the measured table of g.LUT (luminances for equally spaced drive levels,
// normalised to their range, inverted by linear interpolation).
func InverseGamma(g configs.Gamma) ([]float32, error) {
	lut := make([]float32, LUTSize)
	if g.LUT == "" {
		if !(g.Exponent > 0) || math.IsInf(g.Exponent, 0) {
			return nil, fmt.Errorf("present: display.gamma.exponent %g: want a positive exponent", g.Exponent)
		}
		for k := range lut {
			lut[k] = float32(math.Pow(float64(k)/(LUTSize-1), 1/g.Exponent))
		}
		return lut, nil
	}
	lum, err := ReadGammaTable(g.LUT)
	if err != nil {
		return nil, err
	}
	return invert(lum), nil
}

// invert inverts a measured table (non-decreasing luminances for equally spaced drive levels)
// into LUTSize drive levels by linear interpolation.
func invert(lum []float64) []float32 {
	lut := make([]float32, LUTSize)
	lo, hi := lum[0], lum[len(lum)-1]
	n := len(lum) - 1
	j := 0
	for k := range lut {
		target := lo + (hi-lo)*float64(k)/(LUTSize-1)
		for j < n && lum[j+1] < target {
			j++
		}
		// lum[j] < target <= lum[j+1] (or the ends): interpolate the drive level.
		d := float64(j) / float64(n)
		if j < n && lum[j+1] > lum[j] {
			f := math.Max(0, math.Min(1, (target-lum[j])/(lum[j+1]-lum[j])))
			d = (float64(j) + f) / float64(n)
		}
		lut[k] = float32(d)
	}
	lut[0], lut[LUTSize-1] = 0, 1
	return lut
}

// ReadGammaTable reads a measured gamma table file (see ParseGammaTable).
func ReadGammaTable(path string) ([]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("present: display.gamma.lut: %w", err)
	}
	return ParseGammaTable(path, data)
}

// ParseGammaTable parses a measured gamma table: one luminance per line (blank lines and lines
// starting with # are skipped) for equally spaced drive levels from 0 to full, at least 256 of
// them, finite, non-decreasing, with the last above the first. Errors name the file and line.
func ParseGammaTable(path string, data []byte) ([]float64, error) {
	var lum []float64
	for line, rest := 1, string(data); rest != ""; line++ {
		s, next, _ := strings.Cut(rest, "\n")
		rest = next
		s = strings.TrimSpace(s)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("present: display.gamma.lut %s:%d: %q: want one finite luminance per line", path, line, s)
		}
		if len(lum) > 0 && v < lum[len(lum)-1] {
			return nil, fmt.Errorf("present: display.gamma.lut %s:%d: luminance %g is below the previous %g: want non-decreasing luminances", path, line, v, lum[len(lum)-1])
		}
		lum = append(lum, v)
	}
	if len(lum) < 256 {
		return nil, fmt.Errorf("present: display.gamma.lut %s: %d luminances: want 256 or more", path, len(lum))
	}
	if lum[len(lum)-1] <= lum[0] {
		return nil, fmt.Errorf("present: display.gamma.lut %s: luminance does not rise from first to last drive level", path)
	}
	return lum, nil
}
