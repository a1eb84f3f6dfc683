package rig_test

import (
	"context"
	"fmt"
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
	pb "retinad/proto/retinadpb"
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
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is not installed (scripts/setup installs it): %v", err)
	}
	// configs/sim.yaml as `make run` runs it, on free ports and with its recording in a
	// temporary folder.
	loaded, err := configs.Load("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *loaded
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Dashboard.Listen = "127.0.0.1:0"
	cfg.Recording.Dir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var r *rig.Rig
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "browser"}) })
	if err != nil {
		t.Fatal(err)
	}
	defer onMain(func() { r.Close() })

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

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var browseErr error
	var consoleErrs []string
	go func() {
		defer close(done)
		defer cancel()
		consoleErrs, browseErr = browse(ctx, t, browser, r.DashboardURL(), cfg.Models[1].File, &mu, &frames, reports)
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

// browse opens the page in headless chromium and checks it against what NATS carried.
func browse(ctx context.Context, t *testing.T, browser, url, lnFile string, mu *sync.Mutex, frames *[]uint64, reports map[string][]float64) ([]string, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	tctx, tcancel := context.WithTimeout(bctx, 90*time.Second)
	defer tcancel()
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
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(url)); err != nil {
		return nil, fmt.Errorf("open %s: %w", url, err)
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
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		if len(*frames) > n {
			after = (*frames)[len(*frames)-1]
			mu.Unlock()
			break
		}
		mu.Unlock()
	}
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
	cmu.Lock()
	defer cmu.Unlock()
	return console, nil
}
