package dataset

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ReadStimulus reads a stimulus movie [T,H,W] as contrast (scaled as Read scales a dataset's
// stimulus): a lone .npy file, or the `stimulus` array of any dataset file Read reads. It
// checks what Read checks of a dataset's stimulus: every value the shape promises is there and
// no byte more (a truncated file is not zero-filled), an .npz entry's CRC-32 matches, T, H and
// W are at least 1, every value is finite. Errors name the file.
func ReadStimulus(path string) (data []float32, t, h, w int, err error) {
	return ReadStimulusWith(path, Options{})
}

// ReadStimulusWith is ReadStimulus with Options (its Scaling).
func ReadStimulusWith(path string, o Options) (data []float32, t, h, w int, err error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dataset: %s: "+format, append([]any{path}, a...)...)
	}
	src := loneNPY(path, "stimulus")
	if strings.ToLower(filepath.Ext(path)) != ".npy" {
		if src, err = openPath(path); err != nil {
			return nil, 0, 0, 0, err
		}
	}
	defer src.Close()
	if !arrays(src)["stimulus"] {
		return nil, 0, 0, 0, fail("no `stimulus` array (has %s); want %s", list(src.Names()), want["stimulus"])
	}
	info, err := src.Info("stimulus")
	if err != nil {
		return nil, 0, 0, 0, arrayErr(fail, "stimulus", err)
	}
	info.Shape = info.shape(3)
	s := info.Shape
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] < 1 {
		return nil, 0, 0, 0, fail("stimulus: shape %v, want [T,H,W] with every size at least 1", s)
	}
	if data, err = readStimulus(src, info, o, fail); err != nil {
		return nil, 0, 0, 0, err
	}
	p := s[1] * s[2]
	if i := notFinite(data); i >= 0 {
		return nil, 0, 0, 0, fail("stimulus: %v at frame %d, pixel (%d,%d), want a finite contrast", data[i], i/p, i%p/s[2], i%p%s[2])
	}
	return data, s[0], s[1], s[2], nil
}
