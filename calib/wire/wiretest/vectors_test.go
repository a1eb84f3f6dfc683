package wiretest

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseLine: any line either parses or is an error; never a panic.
func FuzzParseLine(f *testing.F) {
	f.Add("hello ok 0301010201020a03957000 type=hello seq=0 proto=1 fw=0.10.0")
	f.Add("levels ok 00 samples=1,2,3 period=0x10 time=18446744073709551615")
	f.Add("x ok 00 samples=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17")
	f.Add("x ok zz fw=1.2")
	f.Fuzz(func(t *testing.T, line string) {
		parseLine(strings.TrimSpace(line))
	})
}

// TestReadErrors: a bad line is reported with the file, the line number and what was wrong.
func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"ping maybe 00", "want `name ok|drop"},
		{"ping ok 0g", "frame of ping"},
		{"ping ok 00 id", "field \"id\": want key=value"},
		{"ping ok 00 id=0x1ffffffff", "field id"},
		{"ping ok 00 colour=red", "unknown field"},
		{"ping ok 00 type=pang", "unknown type"},
	} {
		path := t.TempDir() + "/v.txt"
		if err := os.WriteFile(path, []byte("# comment\n"+c.line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), path+":2:") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %s:2 and %q", c.line, err, path, c.want)
		}
	}
}
