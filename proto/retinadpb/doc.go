// Package retinadpb is the generated Go code of proto/retinad.proto: every message retinad
// publishes or receives over NATS. Regenerate it with `make proto`; do not edit retinad.pb.go.
//
// Units follow the field names: *_host_ns is the daemon host's monotonic clock (int64 ns),
// *_unix_ns wall-clock UTC (ns since the epoch), *_acq_ns the acquisition system's clock
// (int64 ns), *_ns durations, rates in spikes/s. Messages are not safe for concurrent use.
package retinadpb
