package cpus

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"retinad/internal/testenv"
)

// statusCores reads the cores thread tid may run on from /proc/self/task/TID/status
// (Cpus_allowed_list): the kernel's own account, not sched_getaffinity's.
func statusCores(t *testing.T, tid int) ([]int, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if os.IsNotExist(err) {
		return nil, false // the thread has ended
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			cores, err := ParseList(v)
			if err != nil {
				t.Fatalf("thread %d: %v", tid, err)
			}
			return cores, true
		}
	}
	t.Fatalf("thread %d: no Cpus_allowed_list in its status", tid)
	return nil, false
}

// twoCores returns two of this process's cores, or ends the test when it has fewer.
func twoCores(t *testing.T) (a, b int) {
	t.Helper()
	avail, err := Available()
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) < 2 {
		testenv.Missing(t, "a second core", os.ErrNotExist)
	}
	return avail[0], avail[len(avail)-1]
}

// TestPin: the pinned thread runs on its core alone, as the kernel reports it; unpin gives it
// back every core of the process.
func TestPin(t *testing.T) {
	_, b := twoCores(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		unpin, err := Pin(b)
		if err != nil {
			t.Error(err)
			return
		}
		tid := CurrentThread()
		if got, _ := statusCores(t, tid); !slices.Equal(got, []int{b}) {
			t.Errorf("pinned thread %d may run on %v, want [%d]", tid, got, b)
		}
		unpin()
		if got, _ := statusCores(t, tid); !slices.Equal(got, start) {
			t.Errorf("unpinned thread %d may run on %v, want the process's %v", tid, got, start)
		}
	}()
	<-done
}

// TestReserve: while cores are reserved, every thread but the pinned one is off them, and
// release gives every thread all the process's cores again.
func TestReserve(t *testing.T) {
	_, b := twoCores(t)
	pinned := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		unpin, err := Pin(b)
		if err != nil {
			t.Error(err)
			close(pinned)
			return
		}
		defer unpin()
		pinned <- CurrentThread()
		<-stop
	}()
	tid, ok := <-pinned
	if !ok {
		return
	}
	release, err := Reserve("test", []int{b})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reserve("again", []int{b}); err == nil || !strings.Contains(err.Error(), "cpus: again: cores "+strconv.Itoa(b)+" are reserved already") {
		t.Errorf("a second Reserve: %v", err)
	}
	checkThreads(t, map[int]int{tid: b}, []int{b})
	if err := release(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	checkThreads(t, nil, nil)
}

// checkThreads checks every thread of the process: those of pinned on their core alone, the
// rest on every core of the process but reserved.
func checkThreads(t *testing.T, pinned map[int]int, reserved []int) {
	t.Helper()
	rest := slices.DeleteFunc(slices.Clone(start), func(c int) bool { return slices.Contains(reserved, c) })
	tids, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		got, ok := statusCores(t, tid)
		if !ok {
			continue
		}
		want := rest
		if c, ok := pinned[tid]; ok {
			want = []int{c}
		}
		if !slices.Equal(got, want) {
			t.Errorf("thread %d may run on %v, want %v", tid, got, want)
		}
	}
}

// TestNewThreadsAvoidPinnedCore: threads the runtime starts while a goroutine is pinned, from
// that goroutine (each go statement may start a thread for the new goroutine, and each of them
// locks its own thread, so the runtime must keep starting more) do not inherit the pinned core:
// the runtime has its template thread, on the other cores, start them. (Under `strace -f -e
// clone`, every thread started after the pin is cloned by the template thread, which
// LockOSThread started, from the thread about to be pinned, before the pin.)
func TestNewThreadsAvoidPinnedCore(t *testing.T) {
	_, b := twoCores(t)
	release, err := Reserve("test", []int{b})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := release(); err != nil {
			t.Error(err)
		}
	}()
	before, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	n := len(before) + 8 // more than the runtime's idle threads: at least 8 must be started
	stop := make(chan struct{})
	var wg sync.WaitGroup
	result := make(chan int)
	go func() {
		unpin, err := Pin(b)
		if err != nil {
			t.Error(err)
			close(result)
			return
		}
		defer unpin()
		started := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() { // a thread of its own until stop
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				started <- struct{}{}
				<-stop
			}()
			<-started
		}
		result <- CurrentThread()
	}()
	pinnedTID, ok := <-result
	if !ok {
		return
	}
	after, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	var fresh int
	for _, tid := range after {
		if slices.Contains(before, tid) || tid == pinnedTID {
			continue
		}
		fresh++
		if got, ok := statusCores(t, tid); ok && slices.Contains(got, b) {
			t.Errorf("thread %d, started while core %d was pinned, may run on %v", tid, b, got)
		}
	}
	if fresh < 8 {
		t.Errorf("%d threads, %d of them new, for %d goroutines locked to threads of their own and the pinned one: the test saw no thread started", len(after), fresh, n)
	}
	close(stop)
	wg.Wait()
}

// TestCheck: a core the process does not have and a core named twice are errors naming the
// field and the cores there are.
func TestCheck(t *testing.T) {
	avail := FormatList(start)
	if err := Check("models[0].cpus", start); err != nil {
		t.Errorf("the process's own cores: %v", err)
	}
	err := Check("models[0].cpus", []int{MaxCore})
	if want := "cpus: models[0].cpus: core 1023 is not one of this process's cores (" + avail + ")"; err == nil || err.Error() != want {
		t.Errorf("core %d: %v, want %q", MaxCore, err, want)
	}
	err = Check("cpus.frame_loop", []int{start[0], start[0]})
	if err == nil || !strings.Contains(err.Error(), "cpus: cpus.frame_loop: core "+strconv.Itoa(start[0])+" is named twice") {
		t.Errorf("a core twice: %v", err)
	}
	if _, err := Others("--cpu", start); err == nil || !strings.Contains(err.Error(), "cpus: --cpu: cores "+avail+" would leave none of this process's cores ("+avail+") for its other threads") {
		t.Errorf("every core reserved: %v", err)
	}
	if _, err := Pin(MaxCore); err == nil || !strings.Contains(err.Error(), "not one of this process's cores") {
		t.Errorf("Pin(%d): %v", MaxCore, err)
	}
}
