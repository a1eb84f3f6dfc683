package calib

import "errors"

// Link is the byte stream to the photodiode device. The serial port (OpenSerial) and the
// tests' scripted links implement it.
type Link interface {
	// Read reads what has arrived into p, waiting at most the link's read timeout: (0, nil)
	// means "nothing yet", never end of stream. An error means the device is gone (unplugged):
	// the link is then closed and dialled again.
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	// Close releases the device. It is called only after every Read has returned.
	Close() error
}

// ErrUnplugged is wrapped by Link errors meaning the device went away.
var ErrUnplugged = errors.New("device unplugged")
