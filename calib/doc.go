// Package calib owns the photodiode link: its wire protocol, the serial port behind a small
// interface, device-to-host clock sync, frame-onset matching and dropped-frame detection, and
// latency and gamma calibration. It draws nothing. Host times are monotonic int64 nanoseconds;
// device times are the device's microseconds.
package calib
