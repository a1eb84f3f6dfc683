package cpus

import (
	"slices"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{
		{"", nil}, {" ", nil}, {"0", []int{0}}, {"0-3,6", []int{0, 1, 2, 3, 6}},
		{"6,0-1", []int{0, 1, 6}}, {"1,1,0-1", []int{0, 1}}, {"2-2", []int{2}}, {" 3 , 5-6 ", []int{3, 5, 6}},
	} {
		got, err := ParseList(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseList(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"a", `"a": want a core number`}, {"-1", `"-1": want a core number`}, {"3-1", `range "3-1" runs backwards`},
		{"1,", `"": want a core number`}, {"1024", `want a core number, 0 to 1023`}, {"0-1-2", `"0-1-2"`}, {"1-", `"1-"`},
	} {
		if _, err := ParseList(c.in); err == nil || !strings.HasPrefix(err.Error(), "cpus: list ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseList(%q): %v, want an error saying %s", c.in, err, c.want)
		}
	}
}

func TestFormatList(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{
		{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1}, "0,1"}, {[]int{3, 0, 1, 2, 6}, "0-3,6"}, {[]int{1, 1, 5, 6, 7, 9, 10}, "1,5-7,9,10"},
	} {
		if got := FormatList(c.in); got != c.want {
			t.Errorf("FormatList(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzParseList: whatever the input, ParseList returns an error or cores sorted, unique and
// in range, which FormatList writes as a list that parses back to the same cores.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{"", "0", "0-3,6", "1,1", "3-1", "0-1023", "a-b", ",", "7-7,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cores, err := ParseList(s)
		if err != nil {
			return
		}
		for i, c := range cores {
			if c < 0 || c > MaxCore || (i > 0 && c <= cores[i-1]) {
				t.Fatalf("ParseList(%q) = %v: not sorted, unique cores of 0 to %d", s, cores, MaxCore)
			}
		}
		back, err := ParseList(FormatList(cores))
		if err != nil || !slices.Equal(back, cores) {
			t.Fatalf("ParseList(FormatList(%v)) = %v, %v", cores, back, err)
		}
	})
}
