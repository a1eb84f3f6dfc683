// Package testenv decides what a test does when the machine lacks something it needs: a
// display for GL, ONNX Runtime, the natural-scene photographs, a Debian program (chromium,
// prometheus, nats-server, protoc) or Python with torch. On a developer's machine such a
// test skips, saying what is missing; when RETINAD_REQUIRE_ALL=1 (set by .ci/run) it fails
// instead, so a CI machine that lost a package cannot pass by skipping. Tests only.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAll is the environment variable that turns every Missing into a failure.
const RequireAll = "RETINAD_REQUIRE_ALL"

// Required reports whether RETINAD_REQUIRE_ALL=1: every dependency must be present.
func Required() bool { return os.Getenv(RequireAll) == "1" }

// Missing ends the test because what is not on this machine (err says how that was found):
// it skips the test, or fails it when Required. what names the thing and how to get it,
// e.g. "natural-scene photographs (python3-skimage, scripts/setup)".
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("testenv: %s is missing and %s=1 requires it: %v", what, RequireAll, err)
	}
	t.Skipf("testenv: %s is missing: %v (%s=1 makes this a failure)", what, err, RequireAll)
}

// Path returns the path of an existing file or folder, or ends the test through Missing.
func Path(t testing.TB, what, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, what, err)
	}
	return path
}

// Program returns the path of the named program found in $PATH, or ends the test through
// Missing.
func Program(t testing.TB, what, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, what, err)
	}
	return p
}
