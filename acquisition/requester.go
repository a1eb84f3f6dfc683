package acquisition

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go/micro"
)

// ClientHeader carries the requesting client's NATS connection name on control requests sent
// by Call. It is declared by the client, not proven: the server's Nats-Request-Info, when the
// server adds it, is what identifies an authenticated user.
const ClientHeader = "Retinad-Client"

// requestInfoHeader is the header the NATS server adds to requests that cross accounts
// (service imports): JSON with the requester's account, and with `share` on the import its user
// and connection name. The server writes it only on that path: a client of the daemon's own
// account can set it itself, so it identifies a requester when operators sit in an account of
// their own (subject permissions can deny the rest the control subjects).
const requestInfoHeader = "Nats-Request-Info"

type requesterKey struct{}

// Requester is who sent the control request whose handler got ctx, in words for the log:
// the server-reported user and account when there are any, then the client's declared name,
// or "unknown".
func Requester(ctx context.Context) string {
	if s, ok := ctx.Value(requesterKey{}).(string); ok {
		return s
	}
	return "unknown"
}

// withRequester puts the identity r carries into ctx (Requester reads it).
func withRequester(ctx context.Context, r micro.Request) context.Context {
	var who []string
	h := r.Headers()
	if info := h.Get(requestInfoHeader); info != "" {
		var ri struct {
			Account string `json:"acc"`
			User    string `json:"user"`
			Name    string `json:"name"`
		}
		if json.Unmarshal([]byte(info), &ri) == nil {
			for _, kv := range [][2]string{{"user", ri.User}, {"account", ri.Account}, {"name", ri.Name}} {
				if kv[1] != "" {
					who = append(who, kv[0]+"="+kv[1])
				}
			}
		}
	}
	if name := h.Get(ClientHeader); name != "" {
		who = append(who, "client="+name+" (declared)")
	}
	if len(who) == 0 {
		return context.WithValue(ctx, requesterKey{}, "unknown")
	}
	return context.WithValue(ctx, requesterKey{}, strings.Join(who, " "))
}
