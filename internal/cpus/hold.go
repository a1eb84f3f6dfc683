package cpus

import "fmt"

// Hold gives the calling goroutine a core of its own: it reserves cores (Reserve) and pins the
// goroutine to core, one of them (Pin; core < 0 pins nothing, for a caller whose reserved cores
// are all its helpers'). undo, on the same goroutine, unpins it and then releases the cores.
// field names the cores in errors.
func Hold(field string, cores []int, core int) (undo func() error, err error) {
	release, err := Reserve(field, cores)
	if err != nil {
		return nil, err
	}
	unpin := func() {}
	if core >= 0 {
		if unpin, err = Pin(core); err != nil {
			_ = release()
			return nil, fmt.Errorf("cpus: %s: %w", field, err)
		}
	}
	return func() error {
		unpin()
		return release()
	}, nil
}
