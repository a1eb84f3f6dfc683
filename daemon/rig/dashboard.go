package rig

import (
	"context"
	"errors"
	"net"
	"time"

	"retinad/daemon"
	"retinad/dashboard"
	"retinad/proto/contract"
)

// openDashboard binds dashboard.listen (none when "") and adds the component that serves it:
// the page, fed every status period from the daemon's figures and its own NATS messages; its
// controls, relayed to the control service through the rig's NATS listener; and Prometheus
// metrics.
func (r *Rig) openDashboard(comps *[]daemon.Component) error {
	if r.cfg.Dashboard.Listen == "" {
		return nil
	}
	subj, err := contract.SubjectsFor(r.cfg.Rig)
	if err != nil {
		return err
	}
	figures := func() daemon.Figures { return r.daemon.Figures() }
	m := dashboard.NewMetrics(figures)
	live := dashboard.NewLive(figures, func(after int64, maxBins, cells int) daemon.RecentBins {
		return r.daemon.RecentBins(after, maxBins, cells)
	}, time.Duration(r.cfg.Dashboard.StatusEvery))
	natsURL := r.bus.ClientURL()
	if !r.cfg.NATS.Embedded {
		natsURL = r.cfg.NATS.URL
	}
	ctl := dashboard.NewControl(natsURL, subj)
	if r.dash, err = dashboard.Listen(r.cfg.Dashboard.Listen, dashboard.Options{Metrics: m, Live: live, Control: ctl, Log: r.log}); err != nil {
		return err
	}
	*comps = append(*comps, daemon.Component{Name: "dashboard", Run: func(ctx context.Context) error {
		stopMetrics, err := m.Subscribe(r.bus.Conn(), subj)
		if err != nil {
			return err
		}
		defer stopMetrics()
		stopLive, err := live.Subscribe(r.bus.Conn(), subj)
		if err != nil {
			return err
		}
		defer stopLive()
		return r.dash.Run(ctx)
	}})
	return nil
}

// DashboardURL is where the dashboard's HTTP listener is (http://host:port; "" for none).
func (r *Rig) DashboardURL() string {
	if r.dash == nil {
		return ""
	}
	return "http://" + r.dash.Addr()
}

// closeDashboard releases the listener (already closed when the dashboard ran).
func (r *Rig) closeDashboard() error {
	if r.dash == nil {
		return nil
	}
	err := r.dash.Close()
	r.dash = nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
