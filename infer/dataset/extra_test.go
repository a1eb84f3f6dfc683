package dataset

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"retinad/internal/testenv"
	"strings"
	"testing"
)

// TestExtraArrays writes a dataset with extra arrays of every type: Read still reads the
// dataset, and numpy reads each extra array with its dtype, shape and values.
func TestExtraArrays(t *testing.T) {
	d := &Dataset{T: 2, H: 1, W: 1, C: 1, FrameRate: 100, CellIDs: []int64{4}, Stimulus: []float32{0.5, -0.5}, Counts: []float32{1, 0},
		Extra: []Array{
			{"rates", []int{2, 1}, []float32{1.5, float32(math.NaN())}},
			{"fit", []int{2}, []float64{-3e9, 1.00005}},
			{"onset_ns", []int{2}, []int64{1e12, -1}},
			{"timed", []int{2}, []uint8{1, 0}},
			{"labels", []int{2}, []string{"stim on", "héllo"}},
			{"session", nil, []string{"first"}},
		}}
	path := filepath.Join(t.TempDir(), "x.npz")
	if err := Write(path, d); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil || back.T != 2 || len(back.Extra) != 0 {
		t.Fatalf("Read: %v, %v", back, err)
	}
	py := `import numpy as np, sys
z = np.load(sys.argv[1])
for k in ["rates", "fit", "onset_ns", "timed", "labels", "session"]:
    a = z[k]
    print(k, a.dtype.str, a.shape, a.tolist())
`
	out, err := exec.Command("/usr/bin/python3", "-c", py, path).CombinedOutput()
	if err != nil {
		testenv.Missing(t, "/usr/bin/python3 with numpy (scripts/setup)", fmt.Errorf("%w\n%s", err, out))
	}
	want := `rates <f4 (2, 1) [[1.5], [nan]]
fit <f8 (2,) [-3000000000.0, 1.00005]
onset_ns <i8 (2,) [1000000000000, -1]
timed |u1 (2,) [1, 0]
labels <U7 (2,) ['stim on', 'héllo']
session <U5 () first
`
	if string(out) != want {
		t.Errorf("numpy reads\n%s\nwant\n%s", out, want)
	}

	for _, bad := range []Array{
		{"counts", []int{1}, []float32{1}},
		{"short", []int{3}, []float32{1}},
		{"kind", []int{1}, []int32{1}},
		{"a/b", []int{1}, []float32{1}},
	} {
		d.Extra = []Array{bad}
		if err := Write(path, d); err == nil || !strings.Contains(err.Error(), bad.Name) {
			t.Errorf("extra %v: error %v, want one naming it", bad, err)
		}
	}
	_ = os.Remove(path)
}
