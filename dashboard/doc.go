// Package dashboard is the experimenter's live view of the daemon over HTTP: Prometheus
// metrics at /metrics (and, unfinished, the browser dashboard of issue #18).
//
// It costs the frame loop nothing. Counters and gauges are read from daemon.Figures when
// Prometheus scrapes (Figures is safe from any goroutine and reads atomics); the histograms
// (model step time, flip-to-light latency) are fed by a NATS subscription to the daemon's own
// prediction and frame subjects, so every observation happens on a NATS delivery goroutine,
// never on the frame loop or a model runner. A slow or absent scraper only slows its own HTTP
// request.
//
// Units are Prometheus base units: seconds, ratios, totals.
package dashboard
