package daemon

import (
	"errors"

	"retinad/acquisition"
)

// What went wrong with a request to the daemon (StartSession, LoadModel, ChooseStimulus, ...):
// every error its control methods return for a fault of the request wraps one of these, so that
// a caller branches with errors.Is; an error that wraps none is the daemon's own failure. The
// control service's reply codes are chosen from them in one place, controlCode.
var (
	ErrBadRequest     = errors.New("daemon: bad request")                   // malformed or impossible
	ErrForbidden      = errors.New("daemon: forbidden")                     // e.g. a model file outside the model folders
	ErrNotFound       = errors.New("daemon: not found")                     // no such model, session or file
	ErrConflict       = errors.New("daemon: conflict")                      // the daemon's state forbids it now
	ErrNotImplemented = errors.New("daemon: not implemented while running") // restart with a new config instead
	ErrUnavailable    = errors.New("daemon: unavailable")                   // timed out, or the daemon is stopping
)

// kindError is err classified as kind: its message is err's alone (which begins "daemon: ..."),
// and errors.Is finds both kind and what err wraps.
type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// classify marks err as a fault of kind (one of the Err sentinels above).
func classify(kind, err error) error { return &kindError{kind: kind, err: err} }

// controlCodes are the control service's reply codes (proto/README.md, "Control") of each kind
// of error; anything else is "500".
var controlCodes = []struct {
	kind error
	code string
}{
	{ErrBadRequest, "400"},
	{ErrForbidden, "403"},
	{ErrNotFound, "404"},
	{ErrConflict, "409"},
	{ErrNotImplemented, "501"},
	{ErrUnavailable, "503"},
}

// controlCode is the reply code of err: the code of the first kind it wraps, "500" for none.
func controlCode(err error) string {
	for _, c := range controlCodes {
		if errors.Is(err, c.kind) {
			return c.code
		}
	}
	return "500"
}

// answer is a control method's result as the control service sends it: an error carries its
// code (acquisition.ControlError), the only place the daemon's errors become codes.
func answer[R any](rep R, err error) (R, error) {
	if err != nil {
		return rep, &acquisition.ControlError{Code: controlCode(err), Err: err}
	}
	return rep, nil
}
