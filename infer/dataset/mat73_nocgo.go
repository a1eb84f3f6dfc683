//go:build !cgo

package dataset

import (
	"fmt"

	"retinad/hdf5"
)

// WriteMAT needs libhdf5 through cgo: without cgo it says so.
func WriteMAT(path string, d *Dataset) error {
	return fmt.Errorf("dataset: write %s: %w", path, hdf5.ErrNoCgo)
}
