package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissing runs this test binary again with and without RETINAD_REQUIRE_ALL=1 on a test
// that needs a file that does not exist: without the variable it skips, with it it fails, and
// both say what is missing.
func TestMissing(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Path(t, "the photographs of nowhere", "/nonexistent/testenv/photographs")
		t.Log("reached past Path")
		return
	}
	for _, tc := range []struct {
		require string
		fails   bool
		verdict string
	}{{"", false, "--- SKIP"}, {"0", false, "--- SKIP"}, {"1", true, "--- FAIL"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", RequireAll+"="+tc.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails {
			t.Errorf("%s=%q: exit %v, want failure %v\n%s", RequireAll, tc.require, err, tc.fails, out)
		}
		for _, want := range []string{tc.verdict, "the photographs of nowhere is missing", "/nonexistent/testenv/photographs"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s=%q: output lacks %q\n%s", RequireAll, tc.require, want, out)
			}
		}
		if strings.Contains(string(out), "reached past Path") {
			t.Errorf("%s=%q: the test went on past a missing path\n%s", RequireAll, tc.require, out)
		}
	}
}

// TestPresent: what is there is returned and does not end the test.
func TestPresent(t *testing.T) {
	if got := Path(t, "this folder", "."); got != "." {
		t.Errorf("Path = %q", got)
	}
	if got := Program(t, "a shell", "sh"); !strings.HasSuffix(got, "/sh") {
		t.Errorf("Program = %q", got)
	}
}
