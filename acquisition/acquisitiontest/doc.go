// Package acquisitiontest holds stand-ins for the acquisition side's services in tests: an
// external NATS server process (Debian's nats-server, JetStream stored in a folder) that a test
// can kill and restart on the same port and store, as a lab's server goes away and comes back.
// Its methods are called from the test's goroutine; a failure fails the test.
package acquisitiontest
