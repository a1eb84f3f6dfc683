package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"retinad/acquisition"
)

// passwordEnv is read when --user is given without --password, so that a password need not
// appear in the process list or the shell history.
const passwordEnv = "RETINAD_NATS_PASSWORD"

// natsClient is the connection part of the client commands (tap, control, export --server,
// worker): the server's URL and the credentials the server's roles are bound to. The names
// follow the daemon's own config for an external server (nats.credentials, nats.user, nats.nkey,
// nats.tls.ca/cert/key). With none given, the server treats the client as its default
// (observer) role.
type natsClient struct {
	url  *string
	auth acquisition.ClientAuth
	// refused, when set, is called with each permission violation the server reports (a
	// refused publish or subscription arrives asynchronously, not as a request's error).
	refused func(error)
}

// addNATSFlags registers the connection flags on fs: the URL flag is named urlFlag (with def
// as its default), the credential flags are the same for every command.
func addNATSFlags(fs *flag.FlagSet, urlFlag, def, urlUsage string) *natsClient {
	c := &natsClient{url: fs.String(urlFlag, def, urlUsage)}
	fs.StringVar(&c.auth.Creds, "creds", "", "credentials file (.creds) for the server")
	fs.StringVar(&c.auth.User, "user", "", "NATS user name (its role decides what this command may do)")
	fs.StringVar(&c.auth.Password, "password", "", "the user's password (default: $"+passwordEnv+")")
	fs.StringVar(&c.auth.Token, "token", "", "token, for a server with token authentication")
	fs.StringVar(&c.auth.NKeySeed, "nkey", "", "file holding the user's nkey seed (SU...)")
	fs.StringVar(&c.auth.TLS.CA, "tls-ca", "", "CA (PEM) that signed the server's certificate")
	fs.StringVar(&c.auth.TLS.Cert, "tls-cert", "", "client certificate (PEM), when the server asks for one")
	fs.StringVar(&c.auth.TLS.Key, "tls-key", "", "its key (PEM)")
	return c
}

// connect connects as name with the flags' credentials, plus opts.
func (c *natsClient) connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	a := c.auth
	if a.User != "" && a.Password == "" {
		a.Password = os.Getenv(passwordEnv)
		if a.Password == "" {
			return nil, fmt.Errorf("%w: --user %s needs --password (or $%s)", errUsage, a.User, passwordEnv)
		}
	}
	auth, err := a.Options()
	if err != nil {
		return nil, err
	}
	onErr := nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) && c.refused != nil {
			c.refused(err)
		}
	})
	nc, err := nats.Connect(*c.url, append(append([]nats.Option{nats.Name(name), onErr}, auth...), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", *c.url, err)
	}
	return nc, nil
}
