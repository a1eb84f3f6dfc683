// Package scoring runs every loaded model on batches of candidate stimulus clips for the
// adaptive stimulus choice (stimulus/adaptive), on this machine's cores and on `retinad worker`
// processes reached over NATS. It implements adaptive.Predictor three ways:
//
//   - Local renders each clip's frames with stimulus.New and steps one streaming engine per
//     model over them, one clip per goroutine, the engines reused from clip to clip (a fresh
//     engine per clip, as infer.Predict makes, makes a clip 2-3x slower: BenchmarkClip).
//   - Worker is the NATS micro service "retinad-worker" that answers ScoreRequests with a
//     Local of its own (proto/retinad.proto). It is not tied to a rig: any daemon whose model
//     files hash the same may use it. It listens on <prefix>.score in the queue group
//     "retinad-workers" and on <prefix>.<identity>.score, its identity being its NATS user
//     when the connection has one, else its service id; the prefix defaults to retinad.workers.
//   - Pool splits a batch between its own cores and the workers it finds
//     ($SRV.INFO.retinad-worker, every Rediscover) that hold every one of its models with the
//     same files, clip by clip as each becomes free. A worker that stops answering (its
//     $SRV.PING has no responders or goes unanswered three times, or Timeout passes: killed,
//     partitioned) gets no more clips of that batch, and its clips go back to the other workers
//     and this machine's cores: the batch still completes. A worker that refuses (an error
//     reply) gets no more clips until it restarts.
//
// # Workers earn trust
//
// A worker's answer is not taken on its word. Its reply must decode, answer the clips and
// models asked with the right shapes, and hold finite rates in [0, MaxRate]; then the Pool
// scores a random sample of the worker's clips here too (seeded, PoolOptions.Verify of them,
// and at least one clip per batch until Proven of its clips have agreed) and compares within
// Tolerance. A worker's clips of a batch are only done once it has passed: a worker that
// answers wrongly in any of these ways is excluded for the Pool's lifetime, every clip it
// answered in the batch is scored again, the exclusion is logged at error level and handed
// to PoolOptions.OnExclude, and the batch completes from honest rates.
//
// Exclusion is by identity, the token of the worker's direct subject. When the NATS server
// authenticates workers, the identity is the worker's NATS user, and the server's permission
// binds that user to subscribe only <prefix>.score (queue) and <prefix>.<user>.>: it cannot
// serve under another identity, and an excluded worker that comes back as a new process (a new
// service id) is still excluded. Without authentication identities are self-declared (by
// default the service id, new at each start): exclusion is by service id, and a worker
// restarted under a new id is tried, and checked, again.
//
// # Clips, frames and units
//
// A clip is frames [Start, Start+Frames) of the source its configs.Stimulus makes. A model
// with a history of H frames is stepped from frame Start-H+1, so that row t of its rates (t in
// [0, Frames)) sees frames up to Start+t; frames before 0 are gray (contrast 0), as the screen
// is before a stimulus starts. Rates are spikes/s, row-major [Frames, Cells], the engines run
// deterministically (no latent noise). Every model must see the clip's grid, and run at its
// frame rate when the stimulus has one.
//
// A model's identity is its name and the SHA-256 of its file: a worker refuses a request whose
// models it does not hold with the same bytes (a *RemoteError with code 409, matching
// ErrMismatch).
//
// # Threads
//
// Local, Pool and Worker are safe for concurrent use. Predict may be called from any
// goroutine; it uses goroutines of its own and has stopped them when it returns.
package scoring
