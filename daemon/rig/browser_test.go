package rig_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/configs"
	"retinad/daemon/rig"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// TestDashboardBrowser runs the rig of configs/sim.yaml with its dashboard and drives Debian's chromium
// headless through chromedp: the page loads with no console errors or exceptions, its plots
// fill, the frames and live r it shows match what the daemon publishes on NATS at the same
// moment within one update, its Mark button without credentials is refused by the NATS server
// and with the operator's goes through (the mark is listed), a model loads and unloads from the
// page as the operator, and the per-cell table is filled. With DASHBOARD_SCREENSHOT=file.png it writes a PNG screenshot of the page (docs/dashboard.png).
func TestDashboardBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	browser, cfg, r := openBrowserRig(t, "browser", nil)

	// What the daemon publishes: the frames of each status, each model's mean r of each report.
	nc, err := nats.Connect(r.NATSURL(), nats.UserInfo("operator", "sim-operator")) // sim.yaml's operator
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var frames []uint64
	reports := map[string][]float64{}
	if _, err := nc.Subscribe("retinad.sim.status", func(m *nats.Msg) {
		var s pb.Status
		if proto.Unmarshal(m.Data, &s) == nil {
			mu.Lock()
			frames = append(frames, s.Frames)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	onsets := map[uint64]*pb.FrameOnset{} // the last frames' onsets, for the thumbnail
	if _, err := nc.Subscribe("retinad.sim.frame", func(m *nats.Msg) {
		var f pb.FrameOnset
		if proto.Unmarshal(m.Data, &f) == nil {
			mu.Lock()
			onsets[f.Frame] = &f
			delete(onsets, f.Frame-4096)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("retinad.sim.validation", func(m *nats.Msg) {
		var v pb.ValidationReport
		if proto.Unmarshal(m.Data, &v) == nil {
			mu.Lock()
			reports[v.Model] = append(reports[v.Model], v.MeanPearsonR)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	runWithPage(t, r, func(ctx context.Context) ([]string, error) {
		return browse(ctx, t, browser, r.DashboardURL(), cfg.Models[1].File, &mu, &frames, reports, onsets)
	})
}

// openBrowserRig finds Debian's chromium and opens the rig of configs/sim.yaml as `make run`
// runs it, on free ports and with its recording in a temporary folder, edited by edit (nil: as
// it is), starting session; the rig is closed when the test ends.
func openBrowserRig(t *testing.T, session string, edit func(*configs.Config)) (browser string, cfg *configs.Config, r *rig.Rig) {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is not installed (scripts/setup installs it): %v", err)
	}
	cfg, err = configs.Load("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Dashboard.Listen = "127.0.0.1:0"
	cfg.Recording.Dir = t.TempDir()
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	onMain(func() { r, err = rig.Open(cfg, rig.Options{Session: session}) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onMain(func() { r.Close() }) })
	return browser, cfg, r
}

// runWithPage runs the rig on the main thread while page drives the browser; page's return ends
// the run. The test fails on the run's error, page's, or errors on the page's console.
func runWithPage(t *testing.T, r *rig.Rig, page func(ctx context.Context) (console []string, err error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var browseErr error
	var consoleErrs []string
	go func() {
		defer close(done)
		defer cancel()
		consoleErrs, browseErr = page(ctx)
	}()
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	<-done
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if browseErr != nil {
		t.Fatal(browseErr)
	}
	if len(consoleErrs) > 0 {
		t.Errorf("console errors on the page:\n%s", strings.Join(consoleErrs, "\n"))
	}
}

// checkViews checks the thumbnail, the bin-by-bin rates, the variance-explained trend and the
// onset error on the page: the thumbnail is the frame it names as NATS described it (rebuilt
// here from that description, gray as the presenter's shader), the bin plot has recorded and
// predicted rates for a few seconds of bins, the trend a point per report, and the onset-error
// histogram counts and its quantiles are shown.
func checkViews(tctx context.Context, mu *sync.Mutex, onsets map[uint64]*pb.FrameOnset) error {
	type views struct {
		Bins, Recorded int
		Predicted      []int
		Trend          int
		OnsetErrors    float64
		OnsetErrorText string
	}
	v, err := chromedp.Run(tctx, chromedp.Poll[views](`(() => {
		const v = {Bins: plots.plotCell ? plots.plotCell.data[0].length : 0,
			Recorded: plots.plotCell ? plots.plotCell.data[1].filter(x => x !== null).length : 0,
			Predicted: plots.plotCell ? plots.plotCell.data.slice(2).map(s => s.filter(x => x !== null).length) : [],
			Trend: plots.plotVE.data[0].length, OnsetErrors: plots.plotOnsetError.data[1].reduce((a, b) => a + b, 0),
			OnsetErrorText: document.getElementById("onsetError").textContent};
		return v.Recorded >= 300 && v.Predicted.length === 2 && Math.min(...v.Predicted) >= 300 && v.Trend >= 3 && v.OnsetErrors > 0 ? v : null;
	})()`, chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		return fmt.Errorf("300 bins of recorded and both models' rates, 3 points of variance explained and an onset error never shown: %w", err)
	}
	if !strings.Contains(v.OnsetErrorText, "µs") {
		return fmt.Errorf("page shows onset error %q, want its quantiles in µs", v.OnsetErrorText)
	}
	type thumb struct {
		Frame int64
		W, H  int
		Gray  []int
	}
	th, err := chromedp.Run(tctx, chromedp.Evaluate[thumb](`(() => { const c = document.getElementById("thumb");
		return {Frame: Number(c.dataset.frame), W: c.width, H: c.height,
			Gray: Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data).filter((_, i) => i % 4 === 0)}; })()`))
	if err != nil {
		return err
	}
	mu.Lock()
	f := onsets[uint64(th.Frame)]
	mu.Unlock()
	if f == nil || th.W != 50 || th.H != 50 || len(th.Gray) != 2500 {
		return fmt.Errorf("thumbnail of frame %d, %dx%d (%d values): want sim.yaml's 50x50 grid of a frame NATS carried", th.Frame, th.W, th.H, len(th.Gray))
	}
	pix := make([]float32, 2500)
	if err := stimulus.NewRebuilder().Frame(f.Source, f.Index, pix); err != nil {
		return err
	}
	for i, c := range pix {
		want := int(math.Round(min(max(f.Source.Mean*(1+float64(c)), 0), 1) * 255))
		if th.Gray[i] != want {
			return fmt.Errorf("thumbnail of frame %d (index %d) pixel %d: gray %d, want %d", th.Frame, f.Index, i, th.Gray[i], want)
		}
	}
	return nil
}

// openPage opens url in headless chromium and returns its context (90 s of budget, ended with
// ctx) and the console errors and exceptions seen so far. The browser is closed, and waited
// for, when the test ends, before its profile folder is removed.
func openPage(ctx context.Context, t *testing.T, browser, url string) (context.Context, func() []string, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	tctx, tcancel := context.WithTimeout(bctx, 90*time.Second)
	context.AfterFunc(ctx, tcancel)
	t.Cleanup(func() { tcancel(); bcancel(); acancel() }) // acancel waits for chromium to exit
	var cmu sync.Mutex
	var console []string
	if err := chromedp.Listen(bctx, func(ev any) {
		cmu.Lock()
		defer cmu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				console = append(console, "console."+string(e.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			console = append(console, fmt.Sprintf("exception: %s at %s:%d", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
		}
	}); err != nil {
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(url)); err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", url, err)
	}
	return tctx, func() []string {
		cmu.Lock()
		defer cmu.Unlock()
		return slices.Clone(console)
	}, nil
}

// browse opens the page in headless chromium and checks it against what NATS carried.
func browse(ctx context.Context, t *testing.T, browser, url, lnFile string, mu *sync.Mutex, frames *[]uint64, reports map[string][]float64, onsets map[uint64]*pb.FrameOnset) ([]string, error) {
	tctx, console, err := openPage(ctx, t, browser, url)
	if err != nil {
		return nil, err
	}
	// Wait until the plots hold a few seconds of snapshots and every model has a live r.
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`hist.t.length >= 12 && models.length === 2 && models.every(n => hist.r[n].at(-1) !== null)`, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		return nil, fmt.Errorf("page never filled its plots: %w", err)
	}
	// The plots drew what they hold (uPlot's own data, not the page's arrays).
	plotted, err := chromedp.Run(tctx, chromedp.Evaluate[[]int](`["plotR","plotFrames","plotStep","plotCell"].map(id => plots[id].data[0].length)`))
	if err != nil {
		return nil, err
	}
	for i, n := range plotted {
		if n < 12 {
			return nil, fmt.Errorf("plot %d holds %d points, want the snapshots so far", i, n)
		}
	}
	// The grid has a small plot per cell of the first model (up to 64), each with the snapshots so far.
	type gridShown struct {
		Cells  int
		Points []int
	}
	g, err := chromedp.Run(tctx, chromedp.Evaluate[gridShown](`({Cells: Math.min(Number(document.querySelector("#models tbody tr td:last-child").textContent), 64),
		Points: grid.map(u => u.data[1].filter(x => x !== null).length)})`))
	if err != nil || g.Cells < 1 || len(g.Points) != g.Cells || slices.Min(g.Points) < 10 {
		return nil, fmt.Errorf("grid of small multiples: points per cell %v for %d cells (%v), want every cell with the snapshots so far", g.Points, g.Cells, err)
	}
	// The flip-to-light histogram counts the confirmed frames; the header says the session's state.
	state, err := chromedp.Run(tctx, chromedp.Evaluate[string](`plots.plotFlip.data[1].reduce((a, b) => a + b, 0) > 0 ? document.getElementById("state").textContent : "no flip-to-light counts"`))
	if err != nil || state != "RECORDING" {
		return nil, fmt.Errorf("page: %q (%v), want a flip-to-light histogram and state RECORDING", state, err)
	}
	if err := checkViews(tctx, mu, onsets); err != nil {
		return nil, err
	}
	// Frames and live r as shown, against NATS at the same moment: the shown frames lie between
	// the status before and the status after (one update each side), the shown r is one of the
	// last two reports' means.
	type shown struct {
		Frames float64
		R      map[string]float64
	}
	var before, after uint64
	mu.Lock()
	if len(*frames) > 0 {
		before = (*frames)[len(*frames)-1]
	}
	mu.Unlock()
	page, err := chromedp.Run(tctx, chromedp.Evaluate[shown](`({Frames: Number(document.getElementById("frames").textContent),
		R: Object.fromEntries([...document.querySelectorAll("#models tbody tr")].map(tr => [tr.dataset.model, Number(tr.dataset.liveR)]))})`))
	if err != nil {
		return nil, err
	}
	mu.Lock()
	n := len(*frames)
	mu.Unlock()
	testwait.Until(5*time.Second, func() bool { // the next status, when it comes
		mu.Lock()
		defer mu.Unlock()
		if len(*frames) > n {
			after = (*frames)[len(*frames)-1]
			return true
		}
		return false
	})
	period := float64(time.Duration(configs.Default().Dashboard.StatusEvery).Seconds()) * 100 // frames per update at 100 Hz
	if page.Frames+period < float64(before) || page.Frames > float64(after)+period {
		return nil, fmt.Errorf("page shows %v frames, NATS status said %d before and %d after", page.Frames, before, after)
	}
	mu.Lock()
	for name, r := range page.R {
		rs := reports[name]
		if len(rs) == 0 {
			mu.Unlock()
			return nil, fmt.Errorf("page shows live r %v for %s, NATS carried no report of it", r, name)
		}
		match := false
		for _, x := range rs[max(len(rs)-2, 0):] {
			match = match || math.Abs(x-r) < 1e-9
		}
		if !match {
			mu.Unlock()
			return nil, fmt.Errorf("page shows live r %v for %s, NATS's last reports said %v", r, name, rs[max(len(rs)-2, 0):])
		}
	}
	mu.Unlock()
	t.Logf("page: %v frames (NATS status %d before, %d after), live r %v", page.Frames, before, after, page.R)

	// Mark without credentials: the NATS server refuses it and the page says so.
	if err := chromedp.Do(tctx, chromedp.Click(`button[data-endpoint="mark"]`)); err != nil {
		return nil, fmt.Errorf("mark without credentials: %w", err)
	}
	status, err := chromedp.Run(tctx, chromedp.Poll[string](`document.body.dataset.controlStatus || null`, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		return nil, fmt.Errorf("mark without credentials: %w", err)
	}
	text, err := chromedp.Run(tctx, chromedp.Text("#controlResult"))
	if err != nil {
		return nil, err
	}
	if status != "403" || !strings.Contains(text, "Permissions Violation") {
		return nil, fmt.Errorf("mark without credentials: %s %q, want 403 and the NATS server's permissions violation", status, text)
	}
	// Mark as the operator: the NATS server lets it through, the mark comes back by NATS and
	// the page lists it; the per-cell table of the validation reports is there.
	if err := chromedp.Do(tctx,
		chromedp.SendKeys(`#user`, "operator"), chromedp.SendKeys(`#password`, "sim-operator"), chromedp.SendKeys(`#label`, "stim-on"),
		chromedp.Click(`button[data-endpoint="mark"]`),
	); err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.body.dataset.controlStatus === "200" && [...document.querySelectorAll("#marks li")].some(li => li.textContent.includes("stim-on"))`, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(tctx, chromedp.Text("#controlResult"))
		return nil, fmt.Errorf("mark as the operator never listed (%s): %w", text, err)
	}
	// Load a second LN as the operator, see it in the models table, unload it.
	for _, step := range []struct {
		endpoint, until string
	}{
		{"load", `[...document.querySelectorAll("#models tbody tr")].some(tr => tr.dataset.model === "ln2")`},
		{"unload", `![...document.querySelectorAll("#models tbody tr")].some(tr => tr.dataset.model === "ln2")`},
	} {
		if step.endpoint == "load" {
			if err := chromedp.Do(tctx, chromedp.SendKeys(`#name`, "ln2"), chromedp.SendKeys(`#file`, lnFile)); err != nil {
				return nil, err
			}
		}
		if err := chromedp.Do(tctx, chromedp.Evaluate[chromedp.Void](`delete document.body.dataset.controlStatus`), chromedp.Click(`button[data-endpoint="`+step.endpoint+`"]`)); err != nil {
			return nil, err
		}
		if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.body.dataset.controlStatus === "200" && `+step.until, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			text, _ := chromedp.Run(tctx, chromedp.Text("#controlResult"))
			return nil, fmt.Errorf("%s ln2 as the operator (%s): %w", step.endpoint, text, err)
		}
	}
	cells, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll("#cells tr").length`))
	if err != nil || cells < 2 {
		return nil, fmt.Errorf("per-cell table has %d rows (%v), want the validation report's cells", cells, err)
	}
	if file := os.Getenv("DASHBOARD_SCREENSHOT"); file != "" {
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, png, 0o644); err != nil {
			return nil, err
		}
	}
	return console(), nil
}

// TestDashboardBrowserSession runs configs/sim.yaml with its adaptive strategy on
// (discriminate) and drives the page's session controls in headless chromium: without
// credentials the NATS server refuses Stop, Start and the strategy switch (403, its
// permissions violation on the page) and the session runs on; as the operator Stop ends the
// session (the page and the daemon's status on NATS say IDLE), Start begins a new recorded one
// (RECORDING, another name), and the switch to the uncertainty strategy is followed by choices
// of that strategy, on NATS and in the page's list.
func TestDashboardBrowserSession(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	browser, _, r := openBrowserRig(t, "first", func(cfg *configs.Config) { cfg.Adaptive.Strategy = "discriminate" })

	nc, err := nats.Connect(r.NATSURL()) // an observer: it reads
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var state pb.Status_State
	var session string
	strategies := map[string]int{} // adaptive choices per strategy
	if _, err := nc.Subscribe("retinad.sim.status", func(m *nats.Msg) {
		var s pb.Status
		if proto.Unmarshal(m.Data, &s) == nil {
			mu.Lock()
			state, session = s.State, s.Session
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("retinad.sim.adaptive", func(m *nats.Msg) {
		var c pb.AdaptiveChoice
		if proto.Unmarshal(m.Data, &c) == nil {
			mu.Lock()
			strategies[c.Strategy]++
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	onNATS := func() (pb.Status_State, string, map[string]int) {
		mu.Lock()
		defer mu.Unlock()
		return state, session, maps.Clone(strategies)
	}

	runWithPage(t, r, func(ctx context.Context) ([]string, error) {
		tctx, console, err := openPage(ctx, t, browser, r.DashboardURL())
		if err != nil {
			return nil, err
		}
		err = drive(tctx, onNATS)
		return console(), err
	})
}

// drive clicks the session controls on the page and checks their effect on the page and on
// what nats says the daemon published last (its state and session, choices per strategy).
func drive(tctx context.Context, nats func() (pb.Status_State, string, map[string]int)) error {
	// natsSays waits (5 s) for what NATS carried to satisfy ok.
	natsSays := func(ok func() bool) bool { return testwait.Until(5*time.Second, ok) }
	poll := func(js string) error {
		_, err := chromedp.Run(tctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond)))
		return err
	}
	// click presses a control button and returns the HTTP status and text the page shows.
	click := func(endpoint string) (string, string, error) {
		if err := chromedp.Do(tctx, chromedp.Evaluate[chromedp.Void](`delete document.body.dataset.controlStatus`), chromedp.Click(`button[data-endpoint="`+endpoint+`"]`)); err != nil {
			return "", "", err
		}
		status, err := chromedp.Run(tctx, chromedp.Poll[string](`document.body.dataset.controlStatus || null`, chromedp.WithPollingInterval(50*time.Millisecond)))
		if err != nil { // the page's result line tells a click that missed from a reply that never came
			shown, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.getElementById("controlResult").textContent`))
			return "", "", fmt.Errorf("%s: no reply on the page (its result line says %q): %w", endpoint, shown, err)
		}
		text, err := chromedp.Run(tctx, chromedp.Text("#controlResult"))
		return status, text, err
	}
	if err := poll(`document.getElementById("state").textContent === "RECORDING" && document.getElementById("session").textContent === "first"`); err != nil {
		return fmt.Errorf("page never showed session first RECORDING: %w", err)
	}
	if err := chromedp.Do(tctx, chromedp.SetValue(`#strategy`, "uncertainty")); err != nil {
		return err
	}
	for _, endpoint := range []string{"stop", "start", "stimulus"} {
		status, text, err := click(endpoint)
		if err != nil {
			return err
		}
		if status != "403" || !strings.Contains(text, "Permissions Violation") {
			return fmt.Errorf("%s without credentials: %s %q, want 403 and the NATS server's permissions violation", endpoint, status, text)
		}
	}
	if st, sess, strat := nats(); st != pb.Status_RECORDING || sess != "first" || strat["uncertainty"] > 0 {
		return fmt.Errorf("after refused controls NATS says %v %q, choices %v: want session first RECORDING, no uncertainty choice", st, sess, strat)
	}

	if err := chromedp.Do(tctx, chromedp.SendKeys(`#user`, "operator"), chromedp.SendKeys(`#password`, "sim-operator")); err != nil {
		return err
	}
	steps := []struct {
		endpoint, page string
		nats           func() bool
	}{
		{"stop", `document.getElementById("state").textContent === "IDLE"`,
			func() bool { st, _, _ := nats(); return st == pb.Status_IDLE }},
		{"start", `document.getElementById("state").textContent === "RECORDING" && !["first", "-", ""].includes(document.getElementById("session").textContent)`,
			func() bool { st, sess, _ := nats(); return st == pb.Status_RECORDING && sess != "first" && sess != "" }},
		{"stimulus", `[...document.querySelectorAll("#choices tbody tr")].some(tr => tr.children[1].textContent === "uncertainty")`,
			func() bool { _, _, strat := nats(); return strat["uncertainty"] > 0 }},
	}
	for _, s := range steps {
		status, text, err := click(s.endpoint)
		if err != nil {
			return err
		}
		if status != "200" {
			return fmt.Errorf("%s as the operator: %s %q", s.endpoint, status, text)
		}
		if err := poll(s.page); err != nil {
			return fmt.Errorf("%s as the operator (%s): the page never showed it: %w", s.endpoint, text, err)
		}
		if !natsSays(s.nats) {
			st, sess, strat := nats()
			return fmt.Errorf("%s as the operator: NATS says %v %q, choices %v", s.endpoint, st, sess, strat)
		}
	}
	return nil
}
