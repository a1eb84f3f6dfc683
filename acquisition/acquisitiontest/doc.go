// Package acquisitiontest holds stand-ins for the acquisition side's services in tests: an
// external NATS server process (Debian's nats-server, JetStream stored in a folder) that a test
// can kill and restart on the same port and store, as a lab's server goes away and comes back;
// the lab's own nats-server config started as shipped (StartLabServer); and a lab hub of Go
// servers that rigs join as leaf nodes (StartHub, HubUsers, LeafURLs), one for every hub test.
// Its methods are called from the test's goroutine; a failure fails the test.
package acquisitiontest
