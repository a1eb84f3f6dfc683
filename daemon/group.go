package daemon

import (
	"context"
	"fmt"
	"sync"
)

// group supervises goroutines that each run until ctx ends: the first to fail cancels the
// others, and Wait returns that first error once every goroutine has returned.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// Go runs f(ctx) on a goroutine. A non-nil error, or a nil return before ctx ends (a component
// must not stop by itself), ends the group.
func (g *group) Go(name string, f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := f(g.ctx)
		if err == nil && g.ctx.Err() == nil {
			err = fmt.Errorf("daemon: %s stopped on its own", name)
		}
		if err != nil {
			g.fail(err)
		}
	}()
}

func (g *group) fail(err error) {
	g.once.Do(func() { g.err = err })
	g.cancel()
}

// Wait waits for every goroutine and returns the first error.
func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// GoCtx is Go with a context of its own, derived from the group's: f may return nil once ctx
// ends (the goroutine was stopped alone, as an unloaded model is) without ending the group.
func (g *group) GoCtx(ctx context.Context, name string, f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := f(ctx)
		if err == nil && ctx.Err() == nil {
			err = fmt.Errorf("daemon: %s stopped on its own", name)
		}
		if err != nil {
			g.fail(err)
		}
	}()
}
