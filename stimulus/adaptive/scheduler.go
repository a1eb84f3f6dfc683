package adaptive

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"retinad/clock"
)

// Scheduler runs a Strategy one clip ahead of the screen: as soon as clip k is taken for
// showing, it scores the candidates for clip k+1 (batch inference through the Predictor,
// within Budget), so the choice is queued before clip k ends. Until the choice is made, the
// strategy's default stands in for it: a consumer that comes for the next clip before the
// scoring is done (or after it failed or overran Budget) gets the default, marked Fallback,
// never nothing. Every choice taken is handed to Publish, on the scheduler's goroutine.
//
// Run owns the strategy: Candidates, Choose, Default and Observe are called only from it.
// Take, TakeReady, Observe and Switch may be called from any goroutine; Take never blocks.
type Scheduler struct {
	pred    Predictor
	budget  time.Duration
	lead    int
	publish func(*Choice)
	prep    func(*Choice) error
	clock   clock.Clock

	strategy Strategy

	mu      sync.Mutex
	pending *Choice // the next clip: the default until scoring finishes, then the choice
	final   bool    // pending is the scored (or given-up) choice
	ready   chan struct{}
	closed  bool

	taken    chan *Choice
	observed chan item
	switched chan Strategy

	shown map[int]*Choice // taken choices waiting for their observation; under mu
}

// Reporter is a strategy that can say where it stands (a tally, a contour) in a line; the
// scheduler puts it in every Choice it publishes.
type Reporter interface{ Report() string }

// Options configure a Scheduler.
type Options struct {
	Predictor Predictor     // may be nil when the strategy needs no predictions
	Budget    time.Duration // time allowed to score one choice; 0 means 500 ms
	Lead      int           // frames of history shown before a scored clip (models' history - 1)
	Publish   func(*Choice) // every taken choice; may be nil
	// Prepare, if set, readies a choice for its consumer before it can be taken (the daemon
	// opens the clip's frame source here, off the frame loop, and keeps it in Choice.Ready).
	// A choice it fails on is not shown: the default stands.
	Prepare func(*Choice) error
	// Clock times the scoring against Budget; nil: clock.System, the daemon's one clock.
	Clock clock.Clock
}

// NewScheduler makes a scheduler for s.
func NewScheduler(s Strategy, o Options) (*Scheduler, error) {
	if s == nil {
		return nil, errors.New("adaptive: no strategy")
	}
	if s.NeedsPredictions() && o.Predictor == nil {
		return nil, fmt.Errorf("adaptive: strategy %s needs the models' predictions but no predictor is set", s.Name())
	}
	if o.Budget <= 0 {
		o.Budget = 500 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	sc := &Scheduler{
		pred: o.Predictor, budget: o.Budget, lead: o.Lead, publish: o.Publish, prep: o.Prepare, clock: o.Clock,
		strategy: s, ready: make(chan struct{}),
		taken: make(chan *Choice, 16), observed: make(chan item, 64), switched: make(chan Strategy, 1),
		shown: map[int]*Choice{},
	}
	// The first clip's default is ready before Run starts, so a frame loop that starts at
	// once has a clip to show.
	sc.pending = sc.makeDefault(s, 0)
	return sc, nil
}

// makeDefault is the strategy's default for seq, prepared for its consumer.
func (s *Scheduler) makeDefault(st Strategy, seq int) *Choice {
	lead := 0
	if st.NeedsPredictions() {
		lead = s.lead
	}
	def := &Choice{Seq: seq, Strategy: st.Name(), Pick: -1, Clip: st.Default(seq), Lead: lead,
		Why: fmt.Sprintf("default of %s", st.Name())}
	if s.prep != nil {
		if err := s.prep(def); err != nil {
			def.Why += fmt.Sprintf(" (preparing it failed: %v)", err)
		}
	}
	return def
}

// Take returns the next clip to show, never blocking: the strategy's choice when it is ready,
// else its default (marked Fallback). at is where the consumer starts it (the daemon's frame
// number), recorded in Choice.At. It returns nil only before Run has prepared the first clip
// or after Run returned.
func (s *Scheduler) Take(at int64) *Choice {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked(at)
}

func (s *Scheduler) takeLocked(at int64) *Choice {
	c := s.pending
	if c == nil {
		return nil
	}
	c.At = at
	if !s.final {
		c.Fallback = true
		c.Why = "scoring was not done when the clip was due; " + c.Why
	}
	s.pending = nil
	s.shown[c.Seq] = c
	select {
	case s.taken <- c: // Run drains it before preparing the next clip
	default: // Run has returned
	}
	return c
}

// Ready reports whether the next choice is final (scored, or given up after the budget): Take
// now would return it as the strategy chose it. For tests that step a consumer by hand.
func (s *Scheduler) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending != nil && s.final
}

// TakeReady waits until the next choice is final (scored, or given up after the budget), then
// takes it. For offline runs (simulation, replay) where no screen sets the pace.
func (s *Scheduler) TakeReady(ctx context.Context) (*Choice, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errors.New("adaptive: scheduler stopped")
		}
		if s.pending != nil && s.final {
			c := s.takeLocked(-1)
			s.mu.Unlock()
			return c, nil
		}
		ready := s.ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Observe hands over the recorded counts of a shown clip (Observation.Seq = Choice.Seq). It
// never blocks; when the queue is full the observation is dropped and false returned.
func (s *Scheduler) Observe(o Observation) bool {
	select {
	case s.observed <- item{obs: o}:
		return true
	default:
		return false
	}
}

// Switch replaces the strategy from the next choice on (the queued one is shown as chosen).
func (s *Scheduler) Switch(st Strategy) error {
	if st.NeedsPredictions() && s.pred == nil {
		return fmt.Errorf("adaptive: strategy %s needs the models' predictions but no predictor is set", st.Name())
	}
	select {
	case <-s.switched: // a switch not yet applied is replaced
	default:
	}
	s.switched <- st
	return nil
}

// item is an observation, or a look at the strategy (fn), queued in order.
type item struct {
	obs  Observation
	fn   func(Strategy)
	done chan struct{}
}

// Inspect runs f on the scheduler's goroutine with the current strategy, after every
// observation handed over before it, and waits for it: the safe way to read a strategy's
// tallies while Run runs.
func (s *Scheduler) Inspect(ctx context.Context, f func(Strategy)) error {
	it := item{fn: f, done: make(chan struct{})}
	select {
	case s.observed <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-it.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run chooses clips until ctx ends, and returns nil then.
func (s *Scheduler) Run(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		s.closed = true
		close(s.ready)
		s.mu.Unlock()
	}()
	for seq := 0; ; seq++ {
		s.prepare(ctx, seq)
		// Wait for the clip to be taken, learning from observations meanwhile; a taken clip
		// goes before observations, so that its successor is prepared at once.
		taken := func(c *Choice) {
			if r, ok := s.strategy.(Reporter); ok && s.strategy.Name() == c.Strategy {
				c.Report = r.Report()
			}
			if s.publish != nil {
				s.publish(c)
			}
		}
		for waiting := true; waiting; {
			select {
			case c := <-s.taken:
				taken(c)
				waiting = false
				continue
			default:
			}
			select {
			case <-ctx.Done():
				return nil
			case c := <-s.taken:
				taken(c)
				waiting = false
			case it := <-s.observed:
				if it.fn != nil {
					it.fn(s.strategy)
					close(it.done)
				} else {
					s.learn(ctx, it.obs)
				}
			case st := <-s.switched:
				s.strategy = st
			}
		}
		s.mu.Lock()
		for k := range s.shown { // observations never come for clips long gone
			if k < seq-64 {
				delete(s.shown, k)
			}
		}
		s.mu.Unlock()
	}
}

// learn hands an observation to the strategy that chose the clip (a clip chosen before a
// switch teaches the new strategy nothing). A default shown without predictions is predicted
// now, within the budget, so that its spikes still count.
func (s *Scheduler) learn(ctx context.Context, o Observation) {
	s.mu.Lock()
	c, ok := s.shown[o.Seq]
	delete(s.shown, o.Seq)
	s.mu.Unlock()
	if !ok || c.Strategy != s.strategy.Name() {
		return
	}
	if c.Preds == nil && s.strategy.NeedsPredictions() {
		pctx, cancel := context.WithTimeout(ctx, s.budget)
		preds, err := s.pred.Predict(pctx, []Clip{c.Clip})
		cancel()
		if err == nil && len(preds) == 1 {
			c.Preds = preds[0]
		}
	}
	s.strategy.Observe(c, o.Counts)
}

// prepare queues the default for seq at once, then scores and replaces it if still untaken.
func (s *Scheduler) prepare(ctx context.Context, seq int) {
	st := s.strategy
	t0 := s.clock.Now()
	lead := 0
	if st.NeedsPredictions() {
		lead = s.lead
	}
	s.mu.Lock()
	def := s.pending // the first default, primed by NewScheduler
	_, gone := s.shown[seq]
	s.mu.Unlock()
	if gone {
		return // the primed default was taken already: Run receives it from taken
	}
	if def == nil || def.Seq != seq {
		def = s.makeDefault(st, seq)
		s.mu.Lock()
		s.pending, s.final = def, false
		s.mu.Unlock()
	}

	c := &Choice{Seq: seq, Strategy: st.Name(), Candidates: st.Candidates(seq), Lead: lead}
	var preds [][]Rates
	var err error
	if st.NeedsPredictions() {
		// The predictor's requests go over the network, whose deadlines are real time: the
		// context bounds them so; ScoreNs below is on the injected clock.
		sctx, cancel := context.WithTimeout(ctx, s.budget)
		preds, err = s.pred.Predict(sctx, c.Candidates)
		cancel()
		if err == nil && len(preds) != len(c.Candidates) {
			err = fmt.Errorf("adaptive: predictor returned %d predictions for %d candidates", len(preds), len(c.Candidates))
		}
	}
	if err == nil {
		c.Scores, c.Pick, c.Why = st.Choose(seq, c.Candidates, preds)
		c.Clip = c.Candidates[c.Pick]
		if preds != nil {
			c.Preds = preds[c.Pick]
		}
	}
	c.ScoreNs = s.clock.Now() - t0
	if err == nil && c.ScoreNs > int64(s.budget) && st.NeedsPredictions() {
		err = fmt.Errorf("scoring took %v, over the budget of %v", time.Duration(c.ScoreNs), s.budget)
	}
	if err == nil && s.prep != nil {
		if perr := s.prep(c); perr != nil {
			err = fmt.Errorf("preparing the chosen clip: %w", perr)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != def { // the default was taken while we scored
		return
	}
	if err != nil {
		def.Candidates, def.ScoreNs = c.Candidates, c.ScoreNs
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("scoring missed its budget of %v", s.budget)
		}
		def.Fallback = true
		def.Why = fmt.Sprintf("%s; showing the default of %s", err, st.Name())
	} else {
		s.pending = c
	}
	s.final = true
	close(s.ready)
	s.ready = make(chan struct{})
}
