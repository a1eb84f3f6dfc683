package scoring

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"retinad/stimulus/adaptive"
)

var _ adaptive.Predictor = (*Pool)(nil)

// PoolOptions set up a Pool.
type PoolOptions struct {
	Prefix string // the workers' subject prefix; default DefaultPrefix
	// Local is the number of goroutines that score here alongside the workers: 0 is the
	// Local's own count; negative is none while workers answer (clips a worker fails to
	// answer, and every clip when none is found, are still scored here).
	Local int
	// Timeout bounds one request to a worker (default 2 s); a worker silent for longer gets no
	// more clips of that batch, and its clips go back to the others and this machine's cores.
	// Keep it under the choice budget.
	Timeout time.Duration
	// Probe is how often a worker busy with a request is pinged ($SRV.PING); one that is gone
	// (no responders, or three pings in a row unanswered within Probe) is given up then instead
	// of after Timeout. Default 250 ms; negative turns probing off.
	Probe time.Duration
	// Rediscover is how long a list of workers is trusted (default 2 s); DiscoverWait how long
	// to collect their INFO replies (default 50 ms, spent while the local cores already work).
	Rediscover, DiscoverWait time.Duration
	// Verify is the fraction of each worker's clips scored here too and compared with its
	// answer (default DefaultVerify; negative: only the unproven minimum). While a worker is
	// unproven (fewer than Proven of its clips checked), at least one of its clips per batch is
	// checked whatever Verify says.
	Verify float64
	Proven int // default DefaultProven
	// Tolerance is how far a worker's rate may be from this machine's:
	// |worker - here| <= Tolerance * (1 + |here|), in spikes/s (default DefaultTolerance).
	Tolerance float64
	// Seed seeds the choice of the clips checked; 0 draws one a worker cannot predict.
	Seed uint64
	// OnExclude is told of each worker excluded, once per identity, off the Predict goroutine's
	// lock (the daemon publishes it as an Event and shows it in Status).
	OnExclude func(Exclusion)
	Log       *slog.Logger
}

// Defaults of the checks of workers' answers.
const (
	DefaultVerify    = 0.1
	DefaultProven    = 20
	DefaultTolerance = 1e-3
)

// Exclusion is a worker excluded for a wrong answer, for the Pool's lifetime.
type Exclusion struct {
	// Identity is the token of the worker's direct subject <prefix>.<identity>.score: its NATS
	// user when the server authenticates workers (a permission binds the user to that subject),
	// otherwise its self-declared service id.
	Identity string
	Name     string // the name the worker gives itself (self-declared)
	Subject  string
	Reason   string
}

func (e Exclusion) String() string {
	return fmt.Sprintf("worker %s (%s, %s) excluded: %s", e.Identity, e.Name, e.Subject, e.Reason)
}

// Pool scores a batch on the workers it finds and on this machine's cores.
type Pool struct {
	conn  *nats.Conn
	local *Local
	o     PoolOptions
	meta  string // our models, as a worker's "models" metadata lists them

	mu      sync.Mutex
	workers []remote
	found   time.Time
	warned  map[string]bool
	bad     map[string]bool // service ids of workers that refused (an error reply)
	// excluded holds, by identity, the workers that answered wrongly, for the Pool's lifetime.
	excluded map[string]Exclusion
	checked  map[string]int // clips of each identity checked and found right
	rng      *rand.Rand

	remoteClips, localClips, fallbacks, gone, verified atomic.Uint64
}

// remote is one worker found by discovery.
type remote struct {
	id, name, subject string
	identity          string // see Exclusion.Identity
	cores             int
}

// NewPool makes a Pool that scores with local's models and, through conn, with every worker
// that holds the same model files. conn may be nil: then it is local only.
func NewPool(conn *nats.Conn, local *Local, o PoolOptions) *Pool {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Probe == 0 {
		o.Probe = 250 * time.Millisecond
	}
	if o.Rediscover <= 0 {
		o.Rediscover = 2 * time.Second
	}
	if o.DiscoverWait <= 0 {
		o.DiscoverWait = 50 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Verify == 0 {
		o.Verify = DefaultVerify
	}
	if o.Proven <= 0 {
		o.Proven = DefaultProven
	}
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	seed := o.Seed
	if seed == 0 {
		seed = cryptoSeed()
	}
	return &Pool{conn: conn, local: local, o: o, meta: ModelsMeta(local.models), warned: map[string]bool{}, bad: map[string]bool{},
		excluded: map[string]Exclusion{}, checked: map[string]int{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// cryptoSeed draws a seed a worker cannot guess, so that it cannot tell which answers are
// checked.
func cryptoSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand)
	return binary.LittleEndian.Uint64(b[:])
}

// Models are the models' names, in the order of Predict's rates.
func (p *Pool) Models() []string { return p.local.Models() }

// PoolStats count clips since the Pool was made.
type PoolStats struct {
	Remote   uint64 // scored by workers
	Local    uint64 // scored here (fallbacks included)
	Fallback uint64 // sent to a worker that did not answer, then scored by another or here
	Gone     uint64 // requests given up because the worker stopped answering pings
	Verified uint64 // workers' clips scored here too and compared
	Excluded int    // workers excluded for wrong answers
}

// Stats returns the clip counts.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	n := len(p.excluded)
	p.mu.Unlock()
	return PoolStats{Remote: p.remoteClips.Load(), Local: p.localClips.Load(), Fallback: p.fallbacks.Load(), Gone: p.gone.Load(),
		Verified: p.verified.Load(), Excluded: n}
}

// Excluded returns the workers excluded so far, sorted by identity.
func (p *Pool) Excluded() []Exclusion {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Exclusion, 0, len(p.excluded))
	for _, e := range p.excluded {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Predict scores every clip with every model: preds[i][m] is clip i, model m.
func (p *Pool) Predict(ctx context.Context, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	if len(clips) == 0 {
		return [][]adaptive.Rates{}, ctx.Err()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([][]adaptive.Rates, len(clips))
	q := newQueue(len(clips), ctx)
	defer context.AfterFunc(ctx, q.wake)()
	var wg sync.WaitGroup
	var nlocal atomic.Int32
	fail := func(err error) { cancel(err); q.wake() }
	startLocal := func(n int) {
		for range n {
			nlocal.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := p.local.get()
				if err != nil {
					fail(err)
					return
				}
				defer p.local.put(s)
				for {
					i, ok := q.takeOne()
					if !ok {
						return
					}
					r, err := s.score(ctx, clips[i])
					if err != nil {
						fail(fmt.Errorf("scoring: clip %d: %w", i, err))
						return
					}
					out[i] = r
					p.localClips.Add(1)
					q.done(1)
				}
			}()
		}
	}
	nl := p.o.Local
	if nl == 0 {
		nl = p.local.Workers()
	}
	if p.conn == nil {
		nl = max(nl, p.local.Workers())
	}
	startLocal(max(nl, 0))
	if p.conn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers := p.discover(ctx)
			if len(workers) == 0 && nlocal.Load() == 0 {
				startLocal(p.local.Workers())
			}
			per := p.requestClips(clips)
			for _, w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					back, err := p.serve(ctx, w, clips, out, q, per)
					if len(back) > 0 {
						if nlocal.Load() == 0 {
							startLocal(p.local.Workers())
						}
						q.giveBack(back)
					}
					if err != nil {
						fail(err)
					}
				}()
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if q.left() != 0 {
		return nil, fmt.Errorf("scoring: %d clips left unscored", q.left()) // a bug, not the world
	}
	return out, nil
}

// serve hands clips of the batch to w until none is left. The clips w answered stay out of the
// queue (not done) until its answers pass the checks: then they are done; back are the clips
// to score again, every one w answered when it answered wrongly (it is then excluded). err is
// a failure of this machine's own scoring, which fails the batch.
func (p *Pool) serve(ctx context.Context, w remote, clips []adaptive.Clip, out [][]adaptive.Rates, q *queue, per int) (back []int, err error) {
	var mine []int
	checked := false
	for {
		ids := q.take(max(1, min(w.cores, per)))
		if ids == nil {
			break
		}
		sub := make([]adaptive.Clip, len(ids))
		for k, i := range ids {
			sub[k] = clips[i]
		}
		preds, err := p.call(ctx, w, sub)
		var re *RemoteError
		if ctx.Err() != nil {
			return append(mine, ids...), nil
		}
		if err != nil && unavailable(err) {
			p.o.Log.Warn("scoring: worker did not answer; its clips go back to the batch", "worker", w.name, "subject", w.subject, "clips", len(ids), "err", err)
			p.fallbacks.Add(uint64(len(ids)))
			p.drop(w)
			back = ids
			break
		}
		if errors.As(err, &re) { // a refusal, not a wrong answer
			p.quarantine(w, err)
			p.fallbacks.Add(uint64(len(ids)))
			back = ids
			break
		}
		if err != nil { // undecodable, wrong shapes, implausible rates
			return p.wrong(w, err, append(mine, ids...)), nil
		}
		for k, i := range ids {
			out[i] = preds[k]
		}
		mine = append(mine, ids...)
		for _, i := range ids {
			if !p.sample() {
				continue
			}
			checked = true
			if err := p.verify(ctx, i, clips[i], out[i], w); err != nil {
				if errors.Is(err, errWrong) {
					return p.wrong(w, err, mine), nil
				}
				return append(mine, back...), err
			}
		}
	}
	if len(mine) > 0 && !checked && p.unproven(w) { // at least one clip per batch until proven
		i := mine[p.intn(len(mine))]
		if err := p.verify(ctx, i, clips[i], out[i], w); err != nil {
			if errors.Is(err, errWrong) {
				return append(p.wrong(w, err, mine), back...), nil
			}
			return append(mine, back...), err
		}
	}
	p.remoteClips.Add(uint64(len(mine)))
	q.done(len(mine))
	return back, nil
}

// errWrong marks a worker's rates that disagree with this machine's.
var errWrong = errors.New("scoring: the worker's rates disagree with this machine's")

// verify scores clip i here and compares it with the worker's rates. The error wraps errWrong
// when they disagree beyond Tolerance; any other error is this machine's own failure.
func (p *Pool) verify(ctx context.Context, i int, c adaptive.Clip, theirs []adaptive.Rates, w remote) error {
	s, err := p.local.get()
	if err != nil {
		return err
	}
	defer p.local.put(s)
	ours, err := s.score(ctx, c)
	if err != nil {
		return fmt.Errorf("scoring: clip %d (checking worker %s): %w", i, w.identity, err)
	}
	p.verified.Add(1)
	for m := range ours {
		cells := ours[m].Cells
		for j, here := range ours[m].Rates {
			there := theirs[m].Rates[j]
			if math.Abs(float64(there)-float64(here)) > p.o.Tolerance*(1+math.Abs(float64(here))) {
				return fmt.Errorf("%w: clip %d, model %s, frame %d, cell %d: the worker says %.4g spikes/s, this machine %.4g (tolerance %g relative)",
					errWrong, i, ours[m].Model, j/cells, j%cells, there, here, p.o.Tolerance)
			}
		}
	}
	p.mu.Lock()
	p.checked[w.identity]++
	p.mu.Unlock()
	return nil
}

// wrong excludes w for a wrong answer and returns its clips to score again.
func (p *Pool) wrong(w remote, err error, clips []int) []int {
	p.exclude(w, err)
	p.fallbacks.Add(uint64(len(clips)))
	return clips
}

// sample draws whether to check one clip of a worker's.
func (p *Pool) sample() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < p.o.Verify
}

func (p *Pool) intn(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.IntN(n)
}

// unproven reports whether fewer than Proven of w's clips have been checked.
func (p *Pool) unproven(w remote) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checked[w.identity] < p.o.Proven
}

// exclude keeps a worker that answered wrongly out for the Pool's lifetime, by its identity:
// under that identity, a new process or service id is not used either.
func (p *Pool) exclude(w remote, err error) {
	e := Exclusion{Identity: w.identity, Name: w.name, Subject: w.subject, Reason: err.Error()}
	p.mu.Lock()
	_, again := p.excluded[w.identity]
	if !again {
		p.excluded[w.identity] = e
	}
	p.mu.Unlock()
	if again {
		return
	}
	p.o.Log.Error("scoring: worker excluded for a wrong answer; its clips of this batch are scored again", "identity", e.Identity, "worker", e.Name, "subject", e.Subject, "err", err)
	if p.o.OnExclude != nil {
		p.o.OnExclude(e)
	}
}

// probeMisses is how many pings in a row a busy worker may leave unanswered.
const probeMisses = 3

// errGone ends a request to a worker that stopped answering pings.
var errGone = errors.New("scoring: worker stopped answering pings")

// call sends one request to w, within Timeout, pinging w meanwhile.
func (p *Pool) call(ctx context.Context, w remote, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	pctx, gone := context.WithCancelCause(ctx)
	defer gone(nil)
	rctx, cancel := context.WithTimeout(pctx, p.o.Timeout)
	defer cancel()
	if p.o.Probe > 0 {
		ping, _ := micro.ControlSubject(micro.PingVerb, ServiceName, w.id)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			t := time.NewTicker(p.o.Probe)
			defer t.Stop()
			missed := 0
			for {
				select {
				case <-rctx.Done():
					return
				case <-t.C:
				}
				ictx, icancel := context.WithTimeout(rctx, p.o.Probe)
				_, err := p.conn.RequestWithContext(ictx, ping, nil)
				icancel()
				switch {
				case err == nil || rctx.Err() != nil:
					missed = 0
				case errors.Is(err, nats.ErrNoResponders): // its subscriptions are gone
					missed = probeMisses
				default: // slow to answer, perhaps only busy
					missed++
				}
				if missed >= probeMisses {
					gone(fmt.Errorf("%w: %s: %w", errGone, ping, err))
					return
				}
			}
		}()
	}
	preds, err := Call(rctx, p.conn, w.subject, p.local.models, clips)
	if cause := context.Cause(pctx); err != nil && errors.Is(cause, errGone) {
		p.gone.Add(1)
		return nil, fmt.Errorf("scoring: request %s: %w", w.subject, cause)
	}
	return preds, err
}

// requestClips is how many clips one request may carry so that its reply stays within half
// the server's max payload.
func (p *Pool) requestClips(clips []adaptive.Clip) int {
	frames := 0
	for _, c := range clips {
		frames = max(frames, c.Frames)
	}
	per := 64
	for _, m := range p.local.models {
		per += 16 + len(m.Name) + 4*frames*len(m.Model.Cells)
	}
	return max(1, int(p.conn.MaxPayload()/2)/per)
}

// unavailable tells a worker that did not answer (it may have died) from one that answered
// wrongly.
func unavailable(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == CodeUnavailable
	}
	return errors.Is(err, errGone) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionDraining) || errors.Is(err, nats.ErrDisconnected)
}

// discover returns the workers that hold our models, asking $SRV.INFO when the list is older
// than Rediscover.
func (p *Pool) discover(ctx context.Context) []remote {
	p.mu.Lock()
	if time.Since(p.found) < p.o.Rediscover {
		w := p.usable(p.workers)
		p.mu.Unlock()
		return w
	}
	p.mu.Unlock()
	var found []remote
	inbox := p.conn.NewRespInbox()
	sub, err := p.conn.SubscribeSync(inbox)
	if err != nil {
		p.o.Log.Warn("scoring: discover workers", "err", err)
		return nil
	}
	defer func() { _ = sub.Unsubscribe() }()
	subject, _ := micro.ControlSubject(micro.InfoVerb, ServiceName, "")
	if err := p.conn.PublishRequest(subject, inbox, nil); err != nil {
		p.o.Log.Warn("scoring: discover workers", "subject", subject, "err", err)
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, p.o.DiscoverWait)
	defer cancel()
	for {
		msg, err := sub.NextMsgWithContext(dctx)
		if err != nil {
			break
		}
		var info micro.Info
		if err := json.Unmarshal(msg.Data, &info); err != nil {
			p.warnOnce(msg.Subject, "scoring: undecodable worker INFO", "subject", subject, "err", err)
			continue
		}
		w := remote{id: info.ID, name: info.Metadata["worker"], cores: 1}
		if n, err := strconv.Atoi(info.Metadata["cores"]); err == nil && n > 0 {
			w.cores = n
		}
		for _, e := range info.Endpoints {
			if e.Name == "direct" && strings.HasPrefix(e.Subject, p.o.Prefix+".") {
				w.subject = e.Subject
			}
		}
		if w.subject == "" {
			continue // a worker for another prefix
		}
		w.identity = strings.TrimSuffix(strings.TrimPrefix(w.subject, p.o.Prefix+"."), ".score")
		if w.identity == "" || strings.ContainsAny(w.identity, ".*> ") || w.subject != p.o.Prefix+"."+w.identity+".score" {
			p.warnOnce(info.ID, "scoring: worker's direct subject is not <prefix>.<identity>.score; it gets no clips", "worker", w.name, "subject", w.subject)
			continue
		}
		if !holds(info.Metadata["models"], p.meta) {
			p.warnOnce(info.ID, "scoring: worker lacks some of our models, or holds other files of them; it gets no clips",
				"worker", w.name, "subject", w.subject, "its_models", info.Metadata["models"], "ours", p.meta)
			continue
		}
		found = append(found, w)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.workers, p.found = found, time.Now()
	return p.usable(found)
}

// usable leaves out the quarantined workers. p.mu is held.
func (p *Pool) usable(ws []remote) []remote {
	var out []remote
	for _, w := range ws {
		if _, gone := p.excluded[w.identity]; !gone && !p.bad[w.id] {
			out = append(out, w)
		}
	}
	return out
}

// drop forgets a worker that did not answer until a discovery finds it again, so that the
// next batches do not wait for it.
func (p *Pool) drop(w remote) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keep []remote
	for _, x := range p.workers {
		if x.id != w.id {
			keep = append(keep, x)
		}
	}
	p.workers = keep
}

// quarantine keeps a worker that refused a request (an error reply) out of later batches; its
// clips go to the others. A restarted worker has a new service id and is tried again: a
// refusal is not a wrong answer (see exclude).
func (p *Pool) quarantine(w remote, err error) {
	p.mu.Lock()
	p.bad[w.id] = true
	p.mu.Unlock()
	p.o.Log.Error("scoring: worker refused a request; it gets no more clips until it restarts", "worker", w.name, "subject", w.subject, "err", err)
}

// holds reports whether a worker's "models" metadata lists every one of ours (name and hash).
func holds(theirs, ours string) bool {
	have := map[string]bool{}
	for _, m := range strings.Split(theirs, ",") {
		have[m] = true
	}
	for _, m := range strings.Split(ours, ",") {
		if !have[m] {
			return false
		}
	}
	return true
}

func (p *Pool) warnOnce(key, msg string, args ...any) {
	p.mu.Lock()
	seen := p.warned[key]
	p.warned[key] = true
	p.mu.Unlock()
	if !seen {
		p.o.Log.Warn(msg, args...)
	}
}

// queue hands out clip indices: fresh ones in order, and those given back by a worker that
// failed. Local takers wait while clips are out at workers, in case they come back.
type queue struct {
	ctx     context.Context
	mu      sync.Mutex
	cond    *sync.Cond
	next, n int
	back    []int
	out     int // taken and not yet done or given back
}

func newQueue(n int, ctx context.Context) *queue {
	q := &queue{ctx: ctx, n: n}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// take returns up to k indices, or nil when none is waiting.
func (q *queue) take(k int) []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ctx.Err() != nil {
		return nil
	}
	var ids []int
	for len(ids) < k && len(q.back) > 0 {
		ids = append(ids, q.back[len(q.back)-1])
		q.back = q.back[:len(q.back)-1]
	}
	for len(ids) < k && q.next < q.n {
		ids = append(ids, q.next)
		q.next++
	}
	q.out += len(ids)
	return ids
}

// takeOne returns the next index, waiting while clips are out; false when all are done or ctx
// has ended.
func (q *queue) takeOne() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.ctx.Err() != nil {
			return 0, false
		}
		if n := len(q.back); n > 0 {
			i := q.back[n-1]
			q.back = q.back[:n-1]
			q.out++
			return i, true
		}
		if q.next < q.n {
			q.next++
			q.out++
			return q.next - 1, true
		}
		if q.out == 0 {
			return 0, false
		}
		q.cond.Wait()
	}
}

func (q *queue) done(k int) {
	q.mu.Lock()
	q.out -= k
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *queue) giveBack(ids []int) {
	q.mu.Lock()
	q.back = append(q.back, ids...)
	q.out -= len(ids)
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *queue) wake() { q.cond.Broadcast() }

// left is the number of clips not done.
func (q *queue) left() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n - q.next + len(q.back) + q.out
}
