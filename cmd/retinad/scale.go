package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"retinad/infer/dataset"
)

// stimulusScale adds --stimulus-scale to fs and returns the dataset options it sets: the
// scaling of stored stimulus values to contrast, when the file's type default (or its own
// stimulus_offset/stimulus_scale) is not what the lab meant.
func stimulusScale(fs *flag.FlagSet) *dataset.Options {
	o := &dataset.Options{}
	fs.Var(scaleFlag{o}, "stimulus-scale", "`OFFSET,SCALE`: contrast = (stored value - OFFSET) / SCALE, overriding the file's stimulus_offset/stimulus_scale and the type's default (uint8: 127.5,127.5; floats: 0,1)")
	return o
}

type scaleFlag struct{ o *dataset.Options }

func (f scaleFlag) String() string {
	if f.o == nil || f.o.Scaling == nil {
		return ""
	}
	return fmt.Sprintf("%g,%g", f.o.Scaling.Offset, f.o.Scaling.Scale)
}

func (f scaleFlag) Set(v string) error {
	off, sc, ok := strings.Cut(v, ",")
	a, err1 := strconv.ParseFloat(strings.TrimSpace(off), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(sc), 64)
	if !ok || err1 != nil || err2 != nil || b == 0 || math.IsInf(a, 0) || math.IsInf(b, 0) || a != a || b != b {
		return fmt.Errorf("%q: want OFFSET,SCALE, two finite numbers with SCALE not 0 (e.g. 127.5,127.5)", v)
	}
	f.o.Scaling = &dataset.Scaling{Offset: a, Scale: b}
	return nil
}
