package rig

import (
	"fmt"
	"runtime"

	"retinad/clock"
	"retinad/daemon"
	"retinad/daemon/closedloop"
	"retinad/daemon/scoring"
	"retinad/stimulus/adaptive"
)

// openAdaptive wires the adaptive stimulus (cfg.Adaptive) as the frame loop's source: the
// config's models score candidates on this machine's cores and on any `retinad worker` that
// holds the same files (scoring.Pool), and its Run joins the components.
func (r *Rig) openAdaptive(session string, comps *[]daemon.Component) (daemon.Source, error) {
	cfg := r.cfg
	var pred adaptive.Predictor
	lead := 0
	var cells []int32
	if len(cfg.Models) > 0 {
		ms, err := scoring.LoadConfigModels(cfg.Models)
		if err != nil {
			return nil, fmt.Errorf("rig: adaptive: %w", err)
		}
		for _, m := range ms {
			lead = max(lead, m.Model.Input.History-1)
		}
		for _, id := range ms[0].Model.Cells {
			cells = append(cells, int32(id))
		}
		// One core stays with the frame loop and the models' streaming engines.
		local, err := scoring.NewLocal(ms, max(1, runtime.NumCPU()-1))
		if err != nil {
			return nil, fmt.Errorf("rig: adaptive: %w", err)
		}
		// A worker that answers wrongly is excluded for the daemon's lifetime (this Pool's),
		// published as an Event and shown in Status; r.daemon is set before any batch runs.
		pred = scoring.NewPool(r.bus.Conn(), local, scoring.PoolOptions{Timeout: cfg.Adaptive.Budget.D(), Log: r.log,
			OnExclude: func(e scoring.Exclusion) { r.daemon.WorkerExcluded(e.Identity, e.String()) }})
	}
	a, err := closedloop.New(closedloop.Options{
		Rig: cfg.Rig, Session: session, Config: cfg.Adaptive, Stimulus: cfg.Stimulus, Predictor: pred,
		Lead: lead, CellIDs: cells, Bus: r.out, Log: r.log, Clock: clock.System{}, // the daemon's clock
	})
	if err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	*comps = append(*comps, daemon.Component{Name: "adaptive stimulus", Run: a.Run})
	return a, nil
}
