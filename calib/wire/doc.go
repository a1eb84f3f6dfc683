// Package wire is the photodiode device's binary protocol (spec: proto/photodiode/PROTOCOL.md):
// COBS-framed messages ended by a 0x00 delimiter, each with a version, a type, a sequence number
// and a CRC-16/CCITT-FALSE. It is pure: AppendFrame encodes a Message into a caller-owned buffer,
// and a Decoder turns any split of a byte stream back into Messages appended to a caller-owned
// slice, resynchronising at the next delimiter after garbage. Neither allocates.
//
// A Decoder is used by one goroutine at a time. Device times are the device's microseconds;
// levels are the device ADC's counts scaled to 0..65535.
package wire
