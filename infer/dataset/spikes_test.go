package dataset

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"retinad/infer/npy"
)

// pyWrite runs a numpy script with the temp dir as sys.argv[1].
func pyWrite(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import sys, numpy as np\nd = sys.argv[1]\n"+script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return dir
}

// Spike times are binned on the frame times as numpy's searchsorted bins them, with uneven
// frames, spikes out of range, ids that are not 0..C-1, and a uint8 stimulus.
func TestSpikeTimesBinned(t *testing.T) {
	dir := pyWrite(t, `
rng = np.random.default_rng(1)
T, rate = 50, 100
frames = 2.0 + np.cumsum(rng.uniform(0.009, 0.011, T))  # onsets, uneven, from ~2 s
ids = np.array([12, 5, 40])
times = rng.uniform(1.99, frames[-1] + 0.02, 400)  # some before the first frame and after the last bin
cells = rng.choice(ids, 400)
end = frames[-1] + 1 / rate
want = np.zeros((T, 3), np.float32)
for t_, c in zip(times, cells):
    if frames[0] <= t_ < end:
        want[np.searchsorted(frames, t_, side='right') - 1, list(ids).index(c)] += 1
stim = rng.integers(0, 256, (T, 2, 3)).astype(np.uint8)
np.savez(d + '/ids.npz', stimulus=stim, frame_rate=np.int64(rate), spike_times=times,
         spike_cells=cells.astype(np.int32), frame_times=frames, cell_ids=ids, want=want)
np.savez(d + '/noids.npz', stimulus=stim, frame_rate=rate, spike_times=times, spike_cells=cells,
         frame_times=frames, want=want[:, np.argsort(ids)])
np.savez(d + '/stranger.npz', stimulus=stim, frame_rate=rate, spike_times=times, spike_cells=cells,
         frame_times=frames, cell_ids=ids[:2])
np.savez(d + '/backwards.npz', stimulus=stim, frame_rate=rate, spike_times=times, spike_cells=cells,
         frame_times=frames[::-1].copy())
`)
	for file, ids := range map[string][]int64{"ids.npz": {12, 5, 40}, "noids.npz": {5, 12, 40}} {
		path := filepath.Join(dir, file)
		d, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		z, _ := npy.OpenArchive(path)
		a, _ := z.Open("want")
		want, err := npy.ReadAll[float32](a)
		z.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d.T != 50 || d.C != 3 || d.FrameRate != 100 || len(want) != len(d.Counts) {
			t.Fatalf("%s: T %d C %d rate %v", file, d.T, d.C, d.FrameRate)
		}
		total := 0.0
		for i := range want {
			total += float64(want[i])
			if d.Counts[i] != want[i] {
				t.Fatalf("%s: bin %d cell %d: %v spikes, numpy says %v", file, i/3, i%3, d.Counts[i], want[i])
			}
		}
		if total < 300 || total == 400 {
			t.Errorf("%s: %v spikes binned of 400: the test should keep most and drop some", file, total)
		}
		for c := range ids {
			if d.CellIDs[c] != ids[c] {
				t.Errorf("%s: cell_ids %v, want %v", file, d.CellIDs, ids)
			}
		}
	}
	for file, want := range map[string]string{
		"stranger.npz":  "stranger.npz: spike_cells: id 40 at spike",
		"backwards.npz": "backwards.npz: frame_times: ",
	} {
		if _, err := Read(filepath.Join(dir, file)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}

// The stimulus scaling is the type's default, the file's own, or the caller's, in that order
// of precedence.
func TestStimulusScaling(t *testing.T) {
	dir := pyWrite(t, `
base = dict(stimulus=np.array([0, 100, 255], np.uint8).reshape(3, 1, 1), counts=np.ones((3, 1)), frame_rate=60.0)
np.savez(d + '/default.npz', **base)
np.savez(d + '/own.npz', stimulus_offset=100, stimulus_scale=50.0, **base)
np.savez(d + '/zero.npz', stimulus_offset=100, stimulus_scale=0, **base)
`)
	for _, c := range []struct {
		file string
		o    Options
		want []float32
	}{
		{"default.npz", Options{}, []float32{-1, float32((100 - 127.5) / 127.5), 1}},
		{"own.npz", Options{}, []float32{-2, 0, 3.1}},
		{"own.npz", Options{Scaling: &Scaling{Offset: 0, Scale: 255}}, []float32{0, float32(100.0 / 255), 1}},
	} {
		d, err := ReadWith(filepath.Join(dir, c.file), c.o)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, _, err = ReadStimulusWith(filepath.Join(dir, c.file), c.o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.want {
			if d.Stimulus[i] != c.want[i] {
				t.Errorf("%s %+v: stimulus %v, want %v", c.file, c.o.Scaling, d.Stimulus, c.want)
				break
			}
		}
	}
	if _, err := Read(filepath.Join(dir, "zero.npz")); err == nil || !strings.Contains(err.Error(), "zero.npz: stimulus scaling: offset 100, scale 0") {
		t.Errorf("scale 0: %v", err)
	}
}
