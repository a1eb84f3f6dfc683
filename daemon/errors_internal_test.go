package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// TestControlCode: each kind gives its code however deep it is wrapped, a model that cannot
// join gives its kind's, and an error of no kind (the daemon's own failure) is a 500.
func TestControlCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{classify(ErrBadRequest, errors.New("daemon: x")), "400"},
		{fmt.Errorf("daemon: outer: %w", classify(ErrForbidden, fs.ErrPermission)), "403"},
		{classify(ErrNotFound, errors.New("daemon: x")), "404"},
		{&ModelError{Name: "m", Kind: ErrConflict, Err: errors.New("taken")}, "409"},
		{notYet("this"), "501"},
		{classify(ErrUnavailable, errors.New("daemon: x")), "503"},
		{errors.New("daemon: the frame loop did not move on"), "500"},
		{fmt.Errorf("daemon: load: %w", fs.ErrNotExist), "500"}, // not classified by the daemon: its own failure
	} {
		if got := controlCode(c.err); got != c.code {
			t.Errorf("controlCode(%v) = %s, want %s", c.err, got, c.code)
		}
	}
	if e := classify(ErrConflict, fmt.Errorf("daemon: y: %w", fs.ErrExist)); e.Error() != "daemon: y: file already exists" || !errors.Is(e, fs.ErrExist) {
		t.Errorf("classify changed the message or lost the wrapped error: %v", e)
	}
}
