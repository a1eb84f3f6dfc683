//go:build !linux

package daemon

// atBackgroundPriority runs fn on the calling goroutine: only Linux has a nice value per
// thread (background_linux.go), so elsewhere a load runs at the normal priority.
func atBackgroundPriority(fn func()) error {
	fn()
	return nil
}
