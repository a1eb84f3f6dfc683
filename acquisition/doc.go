// Package acquisition is retinad's side of NATS: the message bus (an embedded nats-server with
// an in-process connection, or an external server), the non-blocking publisher the frame loop
// uses, the spikes and sync subscriptions from the acquisition system, the control service,
// session recording in JetStream and export of a recorded session to the dataset format (and,
// from that dataset, to NWB 2.x with WriteNWB, which needs cgo for libhdf5). The
// simulated acquisition system (the virtual retina) is the sibling package acquisition/sim.
// Messages are the protobuf types of retinad/proto/retinadpb; subjects come from
// retinad/proto/contract (SubjectsFor);
// proto/README.md is the contract for outside subscribers.
//
// Goroutines and threads:
//   - Start and Bus.Stop: the daemon's main goroutine, once each (Stop may be called again, from
//     anywhere, and waits for the first).
//   - Publisher.Publish: any goroutine, typically the frame loop; never blocks, allocates
//     nothing once its ring has grown. Publisher.Run: one goroutine of its own; it times each
//     message's way from the queue to the connection (SendLatency).
//   - Histogram.Observe: any goroutine, lock-free and allocation-free (the per-frame path's
//     latencies); Histogram.Snapshot: any goroutine.
//   - AcquisitionHandler methods and Controller methods: NATS delivery goroutines, one per
//     subject or endpoint; the daemon synchronises.
//   - Record, FindSession, ReadSession, Export, WriteNWB, Store methods: any goroutine; Store.Publish
//     waits for the stream's acknowledgement, so never on the frame path.
//
// The recording folder has one owner: Start locks it (LockFile, flock) before JetStream opens
// it, and refuses one another process holds (*StoreLockedError); the kernel releases the lock
// when its process dies. Record never deletes or recreates the stream.
//
// Who may do what on the bus is the NATS server's to enforce (auth.go): each client has a Role,
// whose subject permissions Permissions gives; the embedded server applies them to
// configs.NATS's users, treats a client without credentials as an observer (no_auth_user), and
// knows the daemon's in-process connection by an nkey made at Start. The daemon's replies come
// to DaemonInbox(rig), which no other role may read. configs/nats-lab.conf holds the same roles
// for an external server. Bus.Refused counts what the embedded server refused.
//
// Units: *_host_ns fields are the host's monotonic clock in int64 nanoseconds, *_unix_ns
// wall-clock UTC nanoseconds, *_acq_ns the acquisition system's clock in int64 nanoseconds;
// rates in spikes/s; Export's bins are 1/BinRate seconds of host time.
//
// Overflow policy: the publisher's ring (configs.NATS.PublishQueue messages) drops the oldest
// waiting message when full, and counts it (PublisherStats.Dropped, reported in Status).
// Inbound messages that do not decode, are inconsistent, out of sequence or refused by the
// handler are dropped and counted by subject and reason (Inbound.Counts, Control.Rejected).
package acquisition
