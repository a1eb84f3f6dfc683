//go:build !cgo

package acquisition

import (
	"fmt"

	"retinad/hdf5"
	"retinad/infer/dataset"
)

// NWBVersion is the version of the NWB schema WriteNWB follows.
const NWBVersion = "2.6.0"

// WriteNWB needs libhdf5 through cgo: without cgo it says so.
func WriteNWB(path string, d *dataset.Dataset, sum *ExportSummary) error {
	return fmt.Errorf("acquisition: nwb %s: %w", path, hdf5.ErrNoCgo)
}
