package rig

import (
	"context"
	"errors"
	"net"

	"retinad/acquisition"
	"retinad/daemon"
	"retinad/dashboard"
)

// openDashboard binds dashboard.listen (none when "") and adds the component that serves it:
// Prometheus metrics read from the daemon's figures and fed by its own NATS messages.
func (r *Rig) openDashboard(comps *[]daemon.Component) error {
	if r.cfg.Dashboard.Listen == "" {
		return nil
	}
	subj, err := acquisition.SubjectsFor(r.cfg.Rig)
	if err != nil {
		return err
	}
	m := dashboard.NewMetrics(func() daemon.Figures { return r.daemon.Figures() })
	if r.dash, err = dashboard.Listen(r.cfg.Dashboard.Listen, m, r.log); err != nil {
		return err
	}
	*comps = append(*comps, daemon.Component{Name: "dashboard", Run: func(ctx context.Context) error {
		stop, err := m.Subscribe(r.bus.Conn(), subj)
		if err != nil {
			return err
		}
		defer stop()
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
