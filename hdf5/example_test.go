//go:build cgo

package hdf5_test

import (
	"fmt"
	"os"
	"path/filepath"

	"retinad/hdf5"
)

// A file with one group, a dataset with an attribute, read back converted to another type.
func Example() {
	dir, _ := os.MkdirTemp("", "hdf5-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "x.h5")

	f, err := hdf5.Create(path, hdf5.CreateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	g, _ := f.Root().CreateGroup("session")
	d, _ := g.Write("counts", []uint8{0, 1, 2, 3, 4, 5}, 2, 3)
	d.SetAttr("unit", "spikes")
	f.Close()

	f, _ = hdf5.Open(path)
	defer f.Close()
	d, _ = f.Root().OpenDataset("/session/counts")
	shape, _ := d.Shape()
	class, size, _ := d.Type()
	unit, _ := d.AttrString("unit")
	counts := make([]float32, 6)
	err = d.Read(counts)
	fmt.Println(shape, class, size, unit, counts, err)
	_, err = f.Root().OpenDataset("/session/rates")
	fmt.Println(err != nil)
	// Output:
	// [2 3] uint 1 spikes [0 1 2 3 4 5] <nil>
	// true
}
