// Package proto holds the protobuf schemas of every NATS message, their generated Go code, and
// the written spec of the photodiode wire protocol. It contains no logic; the subjects and the
// subject-token check of the contract are in the small package proto/contract.
package proto
