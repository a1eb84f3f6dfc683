package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/dataset"
	"retinad/infer/enginetest"
)

// lnModel is the LN test model's path and its input grid.
func lnModel(t testing.TB) (path string, h, w int) {
	path = filepath.Join(enginetest.TestdataDir(), "ln.retinad")
	m, err := infer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, m.Input.Height, m.Input.Width
}

// smallDataset writes a T-bin dataset of random frames and counts on an h x w grid and
// returns its bytes; the stimulus array is the first zip entry, stored uncompressed.
func smallDataset(t testing.TB, T, h, w int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	d := &dataset.Dataset{T: T, H: h, W: w, C: 2, FrameRate: 100, CellIDs: []int64{7, 9}}
	d.Stimulus = make([]float32, T*h*w)
	for i := range d.Stimulus {
		d.Stimulus[i] = float32(r.NormFloat64() * 0.3)
	}
	d.Counts = make([]float32, T*2)
	for i := range d.Counts {
		d.Counts[i] = float32(r.IntN(3))
	}
	path := filepath.Join(t.TempDir(), "d.npz")
	if err := dataset.Write(path, d); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// npyBytes is a version 1.0 .npy of float32 values with the given shape.
func npyBytes(shape string, vals []float32) []byte {
	h := "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	for _, v := range vals {
		binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
	}
	return b.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIRefusesLyingFiles runs predict and fit on files that promise more than they hold or
// were corrupted: each exits non-zero with an error naming the file and what is wrong, where
// predict on a truncated .npy used to exit 0 with zero-filled frames, fit used to fit an .npz
// with a flipped byte, and an empty stimulus panicked.
func TestCLIRefusesLyingFiles(t *testing.T) {
	model, h, w := lnModel(t)
	dir := t.TempDir()
	frames := make([]float32, 30*h*w)
	good := npyBytes("(30, "+itoa(h)+", "+itoa(w)+")", frames)
	ds := smallDataset(t, 40, h, w)
	flipped := append([]byte{}, ds...)
	flipped[30+len("stimulus.npy")+128+40] ^= 0x10 // a byte of the stimulus data
	for _, c := range []struct {
		name, file string
		args       func(f string) []string
		want       string
	}{
		{"predict truncated .npy", writeFile(t, dir, "short.npy", good[:len(good)-100]),
			func(f string) []string {
				return []string{"predict", "--model", model, "--stimulus", f, "--out", filepath.Join(dir, "o.npy")}
			}, "truncated"},
		{"predict .npy with bytes after the data", writeFile(t, dir, "long.npy", append(append([]byte{}, good...), 1, 2, 3, 4)),
			func(f string) []string {
				return []string{"predict", "--model", model, "--stimulus", f, "--out", filepath.Join(dir, "o.npy")}
			}, "4 bytes after"},
		{"predict empty stimulus", writeFile(t, dir, "empty.npy", npyBytes("(0, "+itoa(h)+", "+itoa(w)+")", nil)),
			func(f string) []string {
				return []string{"predict", "--model", model, "--stimulus", f, "--out", filepath.Join(dir, "o.npy")}
			}, "every size at least 1"},
		{"predict flipped .npz", writeFile(t, dir, "flipped.npz", flipped),
			func(f string) []string {
				return []string{"predict", "--model", model, "--stimulus", f, "--out", filepath.Join(dir, "o.npy")}
			}, "checksum"},
		{"fit flipped .npz", filepath.Join(dir, "flipped.npz"),
			func(f string) []string {
				return []string{"fit", "ln", "--data", f, "--out", filepath.Join(dir, "m.rtm")}
			}, "checksum"},
		{"inspect truncated model", writeFile(t, dir, "short.rtm", mustRead(t, model)[:1000]),
			func(f string) []string { return []string{"model", "inspect", f} }, "truncated"},
	} {
		code, _, errs := run(t, c.args(c.file)...)
		if code == 0 || !strings.Contains(errs, c.file) || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want an error naming %s with %q", c.name, code, errs, c.file, c.want)
		}
	}
	// The untouched files still work.
	for _, args := range [][]string{
		{"predict", "--model", model, "--stimulus", writeFile(t, dir, "good.npy", good), "--out", filepath.Join(dir, "o.npy")},
		{"predict", "--model", model, "--stimulus", writeFile(t, dir, "good.npz", ds), "--out", filepath.Join(dir, "o.npy")},
	} {
		if code, _, errs := run(t, args...); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(n int) string { return strconv.Itoa(n) }

// cliNeverPanics runs the command and checks the contract of every CLI entry point on a
// fuzzed file: exit 0, or a non-zero exit with an error that names the file. A panic fails the
// fuzz target by itself.
func cliNeverPanics(t *testing.T, file string, args ...string) {
	code, _, errs := run(t, args...)
	if code != 0 && !strings.Contains(errs, file) {
		t.Fatalf("%v: exit %d with an error that does not name the file: %q", args, code, errs)
	}
}

// FuzzPredictStimulus runs `retinad predict` in-process on fuzzed stimulus files, as .npy and
// as .npz.
func FuzzPredictStimulus(f *testing.F) {
	model, h, w := lnModel(f)
	f.Add(npyBytes("(12, "+itoa(h)+", "+itoa(w)+")", make([]float32, 12*h*w)), false)
	f.Add(smallDataset(f, 12, h, w), true)
	f.Fuzz(func(t *testing.T, b []byte, npz bool) {
		name := "s.npy"
		if npz {
			name = "s.npz"
		}
		dir := t.TempDir()
		file := writeFile(t, dir, name, b)
		cliNeverPanics(t, file, "predict", "--model", model, "--stimulus", file, "--out", filepath.Join(dir, "o.npy"))
	})
}

// FuzzFitData runs `retinad fit ln` in-process on fuzzed dataset files.
func FuzzFitData(f *testing.F) {
	f.Add(smallDataset(f, 60, 2, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		file := writeFile(t, dir, "d.npz", b)
		cliNeverPanics(t, file, "fit", "ln", "--data", file, "--out", filepath.Join(dir, "m.rtm"), "--history", "3", "--test-fraction", "0")
	})
}

// FuzzModelInspect runs `retinad model inspect` and `predict` in-process on fuzzed model files.
func FuzzModelInspect(f *testing.F) {
	model, h, w := lnModel(f)
	f.Add(mustRead(f, model))
	stim := writeFile(f, f.TempDir(), "s.npy", npyBytes("(3, "+itoa(h)+", "+itoa(w)+")", make([]float32, 3*h*w)))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		file := writeFile(t, dir, "m.rtm", b)
		cliNeverPanics(t, file, "model", "inspect", file)
		cliNeverPanics(t, file, "predict", "--model", file, "--stimulus", stim, "--out", filepath.Join(dir, "o.npy"))
	})
}
