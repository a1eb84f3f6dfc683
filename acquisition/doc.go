// Package acquisition is everything on the acquisition side of NATS: the embedded server,
// publishing, receiving spikes and sync events, session recording and export, and the
// simulated acquisition system (the virtual retina). It does not run the display.
package acquisition
