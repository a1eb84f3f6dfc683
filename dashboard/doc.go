// Package dashboard is the experimenter's live view of the daemon over HTTP (issue #18): a
// single page with its assets embedded (uPlot vendored in assets/uplot with its licence), its
// event stream, its controls, and Prometheus metrics at /metrics.
//
// It costs the frame loop nothing and reads no more of the daemon than any NATS client and
// the status line do:
//   - Counters and gauges come from daemon.Figures (safe from any goroutine: atomics and short
//     locks), read when Prometheus scrapes and once per status period by Live.Run, which encodes
//     one snapshot for every browser; each browser's request goroutine writes it out, and one
//     that reads slowly misses snapshots (Live never waits for it).
//   - Everything per frame or per bin (predictions, frame onsets, validation reports, marks,
//     adaptive choices, status) arrives by subscriptions to the daemon's own subjects, handled
//     on NATS delivery goroutines.
//   - Controls are relayed to the control service as a NATS client logged in with the
//     browser's credentials, so the NATS server's roles decide, as for any client.
//
// Units: /metrics in Prometheus base units (seconds, ratios, totals); the page's snapshot in
// the status line's (milliseconds, spikes/s, ppm), with NaN as null.
package dashboard
