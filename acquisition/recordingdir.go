package acquisition

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// RecordingDirUsable reports whether the recording folder dir can take a session recording:
// an existing folder must be a folder the daemon can create files in; a missing one must be
// creatable (its nearest existing parent a writable folder), and no other process may hold its
// lock (StoreFree). It creates nothing that stays. `retinad check-config` calls it; it is the
// one place for every "can this folder hold the record" check.
func RecordingDirUsable(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("acquisition: recording folder %s: does not exist", dir)
		}
		if err := RecordingDirUsable(parent); err != nil {
			return fmt.Errorf("acquisition: recording folder %s cannot be created: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("acquisition: recording folder: %w", err)
	case !st.IsDir():
		return fmt.Errorf("acquisition: recording folder %s: not a folder", dir)
	}
	f, err := os.CreateTemp(dir, ".retinad-check-*")
	if err != nil {
		return fmt.Errorf("acquisition: recording folder %s: not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("acquisition: recording folder %s: %w", dir, err)
	}
	return StoreFree(dir)
}
