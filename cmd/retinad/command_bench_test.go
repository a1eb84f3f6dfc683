package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"retinad/infer"
	"retinad/infer/dataset"
	"retinad/infer/npy"
)

// Whole-command benchmarks: each builds the real retinad binary, writes real input files (not
// timed), and times the command a user types, start to exit, beside the in-process part it
// wraps measured in the same run. RETINAD_BENCH_FRAMES sets the movie length for predict
// (default 60,000: 10 minutes at 100 Hz), RETINAD_BENCH_MINUTES the dataset length for fit
// and simulate (default 60).
//
//	go test -run XXX -bench Command -benchtime 1x ./cmd/retinad/

// benchBinary builds retinad into dir.
func benchBinary(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "retinad")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func benchEnv(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return def
}

// timeCommand runs bin with args and returns its wall time (its CPU time, user and system, is
// cmdCPU's).
func timeCommand(b *testing.B, bin string, args ...string) (time.Duration, string) {
	d, _, out := timeCommandCPU(b, bin, args...)
	return d, out
}

// timeCommandCPU runs bin with args and returns its wall and CPU time (user plus system): on a
// machine shared with other work, CPU time is the steadier of the two.
func timeCommandCPU(b *testing.B, bin string, args ...string) (wall, cpu time.Duration, out string) {
	b.Helper()
	start := time.Now()
	cmd := exec.Command(bin, args...)
	o, err := cmd.CombinedOutput()
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("retinad %v: %v\n%s", args, err, o)
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), string(o)
}

// selfCPU is this process's CPU time so far (user plus system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// randomMovie is T frames of h x w of uniform uint8 luminance.
func randomMovie(T, h, w int) []uint8 {
	r := rand.New(rand.NewPCG(1, 2))
	u := make([]uint8, T*h*w)
	for i := range u {
		u[i] = uint8(r.IntN(256))
	}
	return u
}

// contrast is u as the float32 contrast that reading it as a stimulus gives.
func contrast(u []uint8) []float32 {
	f := make([]float32, len(u))
	for i, v := range u {
		f[i] = float32((float64(v) - 127.5) / 127.5)
	}
	return f
}

// BenchmarkPredictCommand: `retinad predict` with the paper BN-CNN on a 50x50 movie (.npy
// float32, and uint8), read, predicted and written, against infer.Predict on the same frames
// already in memory (the engine-only batch figure) in the same run. The ratio is the goal's:
// at most 1.5.
func BenchmarkPredictCommand(b *testing.B) {
	dir := b.TempDir()
	bin := benchBinary(b, dir)
	T := benchEnv(b, "RETINAD_BENCH_FRAMES", 60000)
	model := filepath.Join("..", "..", "infer", "testdata", "bncnn_paper.retinad")
	m, err := infer.Load(model)
	if err != nil {
		b.Fatal(err)
	}
	h, w := m.Input.Height, m.Input.Width
	u8 := randomMovie(T, h, w)
	f32 := contrast(u8)
	files := map[string]string{"f4": filepath.Join(dir, "movie_f4.npy"), "u1": filepath.Join(dir, "movie_u1.npy")}
	if err := npy.WriteFile(files["f4"], []int{T, h, w}, f32); err != nil {
		b.Fatal(err)
	}
	if err := npy.WriteFile(files["u1"], []int{T, h, w}, u8); err != nil {
		b.Fatal(err)
	}
	stim := tensor.New(tensor.WithShape(T, h, w), tensor.WithBacking(f32))
	for b.Loop() {
		start, cpu0 := time.Now(), selfCPU()
		if _, err := infer.Predict(context.Background(), m, stim, infer.BatchOptions{}); err != nil {
			b.Fatal(err)
		}
		engine, engineCPU := time.Since(start), selfCPU()-cpu0
		b.ReportMetric(engine.Seconds(), "engine-s")
		b.ReportMetric(engineCPU.Seconds(), "engine-cpu-s")
		for _, kind := range []string{"f4", "u1"} {
			d, cpu, _ := timeCommandCPU(b, bin, "predict", "--model", model, "--stimulus", files[kind], "--out", filepath.Join(dir, "rates.npy"))
			b.ReportMetric(d.Seconds(), "command-"+kind+"-s")
			b.ReportMetric(d.Seconds()/engine.Seconds(), "ratio-"+kind)
			b.ReportMetric(cpu.Seconds()/engineCPU.Seconds(), "cpu-ratio-"+kind)
		}
	}
	rates, err := npy.OpenFile(filepath.Join(dir, "rates.npy"))
	if err != nil {
		b.Fatal(err)
	}
	rates.Close()
	if rates.Shape[0] != T {
		b.Fatalf("rates shape %v for %d frames", rates.Shape, T)
	}
}

// fitRead matches the fit command's progress line that times its dataset read.
var fitRead = regexp.MustCompile(`read .*, in ([0-9.]+)s`)

// BenchmarkFitCommand: `retinad fit ln` on a 50x50 dataset of RETINAD_BENCH_MINUTES at 100 Hz
// (uint8 stimulus, 16 cells, .npz): the whole command, the dataset read it reports, and, in
// the same run, the time to read the file's bytes and do nothing with them (the disk's speed,
// with the page cache warm for both).
func BenchmarkFitCommand(b *testing.B) {
	dir := b.TempDir()
	bin := benchBinary(b, dir)
	T := 100 * 60 * benchEnv(b, "RETINAD_BENCH_MINUTES", 60)
	const h, w, C = 50, 50, 16
	u8 := randomMovie(T, h, w)
	counts := make([]float32, T*C)
	for i := range counts {
		counts[i] = float32(i % 3)
	}
	path := filepath.Join(dir, "data.npz")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	zw := npy.NewArchiveWriter(f)
	err = npy.Add(zw, "stimulus", []int{T, h, w}, u8)
	if err == nil {
		err = npy.Add(zw, "counts", []int{T, C}, counts)
	}
	if err == nil {
		err = npy.Add(zw, "frame_rate", nil, []float64{100})
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	u8 = nil
	for b.Loop() {
		raw := time.Now()
		rf, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rf)
		rf.Close()
		if err != nil {
			b.Fatal(err)
		}
		rawS := time.Since(raw).Seconds()
		start := time.Now()
		if _, err := dataset.Read(path); err != nil {
			b.Fatal(err)
		}
		inproc := time.Since(start).Seconds()
		debug.FreeOSMemory() // the child process needs the memory the read took
		d, out := timeCommand(b, bin, "fit", "ln", "--data", path, "--out", filepath.Join(dir, "m.retinad"), "--history", "10", "--roi", "9", "--folds", "2")
		mm := fitRead.FindStringSubmatch(out)
		if mm == nil {
			b.Fatalf("no read time in the fit output:\n%s", out)
		}
		read, _ := strconv.ParseFloat(mm[1], 64)
		b.ReportMetric(float64(n)/1e6, "file-MB")
		b.ReportMetric(rawS, "raw-read-s")
		b.ReportMetric(inproc, "dataset-read-s")
		b.ReportMetric(read, "command-read-s")
		b.ReportMetric(read/rawS, "read-ratio")
		b.ReportMetric(d.Seconds(), "command-s")
	}
}

// BenchmarkSimulateCommand: `retinad simulate` of RETINAD_BENCH_MINUTES of white noise (50x50,
// the default retina), the dataset .npz written, against reading it back.
func BenchmarkSimulateCommand(b *testing.B) {
	dir := b.TempDir()
	bin := benchBinary(b, dir)
	min := benchEnv(b, "RETINAD_BENCH_MINUTES", 60)
	out := filepath.Join(dir, "sim.npz")
	for b.Loop() {
		d, _ := timeCommand(b, bin, "simulate", "--stimulus", "whitenoise", "--duration", fmt.Sprintf("%dm", min), "--out", out)
		st, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(d.Seconds(), "command-s")
		b.ReportMetric(float64(st.Size())/1e6, "file-MB")
	}
}
