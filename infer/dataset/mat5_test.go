package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A .mat written by scipy (MATLAB v5, compressed or not) reads as the same dataset as the .npz
// of the same arrays: a uint8 movie, spike times with double ids, an int frame rate; and a
// binned one with int16 counts and a full-field [T,1,1] stimulus that MATLAB keeps as [T,1].
func TestMat5SameAsNPZ(t *testing.T) {
	dir := pyWrite(t, `
import scipy.io
rng = np.random.default_rng(2)
T = 40
a = dict(stimulus=rng.integers(0, 256, (T, 3, 4)).astype(np.uint8), frame_rate=np.int32(50),
         spike_times=rng.uniform(0, T / 50, 300), spike_cells=rng.choice([3, 8, 9], 300),
         frame_times=np.arange(T) / 50.0 + 0.001)
np.savez(d + '/a.npz', **a)
m = dict(a, spike_cells=a['spike_cells'].astype(float))  # MATLAB keeps ids in doubles
scipy.io.savemat(d + '/a.mat', m, do_compression=True)
scipy.io.savemat(d + '/a_plain.mat', m)
b = dict(stimulus=rng.standard_normal((T, 1, 1)).astype(np.float32), counts=rng.integers(0, 5, (T, 2)).astype(np.int16),
         frame_rate=100.0, cell_ids=np.array([4, 2], np.int64))
np.savez(d + '/b.npz', **b)
scipy.io.savemat(d + '/b.mat', b, do_compression=True)
cell = np.empty((1, 2), dtype=object); cell[0, 0] = np.zeros(2); cell[0, 1] = 'x'
scipy.io.savemat(d + '/cell.mat', dict(stimulus=cell, counts=np.zeros((2, 1)), frame_rate=1.0))
scipy.io.savemat(d + '/struct.mat', dict(data=b))
`)
	for _, pair := range [][2]string{{"a.npz", "a.mat"}, {"a.npz", "a_plain.mat"}, {"b.npz", "b.mat"}} {
		want, err := Read(filepath.Join(dir, pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(filepath.Join(dir, pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s reads as\n%+v\n%s as\n%+v", pair[1], got, pair[0], want)
		}
		s, T, H, W, err := ReadStimulus(filepath.Join(dir, pair[1]))
		if err != nil || T != want.T || H != want.H || W != want.W || !reflect.DeepEqual(s, want.Stimulus) {
			t.Errorf("ReadStimulus %s: %d %d %d %v", pair[1], T, H, W, err)
		}
	}
	if d, _ := Read(filepath.Join(dir, "a.mat")); d.Spikes(0, 0, d.T)+d.Spikes(1, 0, d.T)+d.Spikes(2, 0, d.T) < 250 {
		t.Errorf("a.mat: too few spikes binned: %v", d.Counts)
	}
	for file, want := range map[string]string{
		"cell.mat":   "cell.mat: stimulus: variable stimulus is a cell array, want a numeric array",
		"struct.mat": `struct.mat: array "stimulus" missing (has data; data is a struct: save its fields as variables, save(f, '-struct', 'data') in MATLAB)`,
	} {
		if _, err := Read(filepath.Join(dir, file)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
	// v7.3 is HDF5 with a MATLAB header: refused by name until an HDF5 container registers.
	os.WriteFile(filepath.Join(dir, "v73.mat"), append([]byte("MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  7 2026 HDF5 schema 1.00 ."), make([]byte, 600)...), 0o644)
	if _, err := Read(filepath.Join(dir, "v73.mat")); err == nil || !strings.Contains(err.Error(), "MATLAB v7.3 .mat file, which is HDF5") {
		t.Errorf("v7.3: %v", err)
	}
}

func TestMat5IntegersFromDoubles(t *testing.T) {
	dir := pyWrite(t, `
import scipy.io
scipy.io.savemat(d + '/frac.mat', dict(stimulus=np.zeros((3, 2, 2)), counts=np.ones((3, 2)), frame_rate=10.0, cell_ids=np.array([1.0, 2.5])))
`)
	if _, err := Read(filepath.Join(dir, "frac.mat")); err == nil || !strings.Contains(err.Error(), "frac.mat: cell_ids: variable cell_ids: 2.5 at element 1 (column-major), want whole numbers") {
		t.Errorf("fractional ids: %v", err)
	}
}

// Any bytes after a MAT-file header (seeds: testdata/a.mat compressed and b.mat plain, written
// by scipy.io.savemat): no panic; what parses has data of the size its
// dimensions say.
func FuzzMat5(f *testing.F) {
	for _, name := range []string{"a.mat", "b.mat"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	hdr := make([]byte, 128)
	copy(hdr, "MATLAB 5.0 MAT-file")
	hdr[124], hdr[125], hdr[126], hdr[127] = 0, 1, 'I', 'M'
	f.Add(append(hdr, 14, 0, 0, 0, 48, 0, 0, 0, 6, 0, 0, 0, 8, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 'x', 0, 0, 0, 9, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f))
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := parseMat5(b)
		if err != nil {
			return
		}
		for name, v := range vars {
			if v.bad != "" {
				continue
			}
			n := v.info.Len()
			dst := make([]float64, n)
			s := &matSource{"f.mat", vars}
			if err := s.ReadFloat64(name, dst); err != nil {
				t.Fatalf("%s: parsed but unreadable: %v", name, err)
			}
		}
	})
}

// The fuzz seeds read as what scipy wrote.
func TestMat5Seeds(t *testing.T) {
	for _, name := range []string{"a.mat", "b.mat"} {
		d, err := Read(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.Counts, []float32{1, 0, 2, 1, 0, 3}) || !reflect.DeepEqual(d.CellIDs, []int64{5, 7}) || d.Stimulus[5] != float32((5-127.5)/127.5) {
			t.Errorf("%s: %+v", name, d)
		}
	}
}
