package present

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// FuzzParseGammaTable: any bytes give a table or an error naming the file, never a panic; an
// accepted table inverts to a monotonic LUT from 0 to 1.
func FuzzParseGammaTable(f *testing.F) {
	var b strings.Builder
	for k := 0; k < 256; k++ {
		fmt.Fprintf(&b, "%g\n", math.Pow(float64(k)/255, 2.2)*100)
	}
	f.Add([]byte(b.String()))
	f.Add([]byte("# header\n\n" + b.String()))
	f.Add([]byte(strings.Repeat("1\n", 255) + "2\n"))
	f.Add([]byte("0\nNaN\n"))
	f.Add([]byte("1e400\n"))
	f.Add([]byte(strings.Repeat("0\r\n", 300)))
	f.Fuzz(func(t *testing.T, data []byte) {
		lum, err := ParseGammaTable("fuzz.txt", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "present: display.gamma.lut fuzz.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		lut := invert(lum)
		if lut[0] != 0 || lut[len(lut)-1] != 1 {
			t.Fatalf("LUT ends %v, %v", lut[0], lut[len(lut)-1])
		}
		for k := 1; k < len(lut); k++ {
			if !(lut[k] >= lut[k-1]) {
				t.Fatalf("LUT not monotonic at %d: %v < %v", k, lut[k], lut[k-1])
			}
		}
	})
}
