package acquisitiontest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/sys/unix"

	"retinad/internal/testwait"
)

// HubAdmin logs in as a test hub's client user (archive, exports, tap), which has no
// permissions of its own, as configs/nats-hub.conf's admin.
var HubAdmin = nats.UserInfo("admin", "admin-secret")

// LeafPassword is the password of rig's leaf user on a test hub (HubUsers).
func LeafPassword(rig string) string { return rig + "-secret" }

// HubUsers are a test hub's users: the admin (HubAdmin) and each rig's leaf user, logging in
// with LeafPassword(rig) and holding the hub's permissions for it, perms(rig, rig), as
// configs/nats-hub.conf writes them. perms is acquisition.LeafPermissions, passed in because
// acquisition's own tests use this package (it cannot import acquisition).
func HubUsers(t testing.TB, perms func(rig, domain string) (*server.Permissions, error), rigs ...string) []*server.User {
	t.Helper()
	users := []*server.User{{Username: "admin", Password: "admin-secret"}}
	for _, r := range rigs {
		p, err := perms(r, r)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, &server.User{Username: r, Password: LeafPassword(r), Permissions: p})
	}
	return users
}

// HubOptions set up a test lab hub.
type HubOptions struct {
	// Nodes is how many servers: 1 when 0. More form a cluster, routes configured up front
	// (a replicated JetStream archive needs 3).
	Nodes int
	// JetStream turns it on, in domain "hub", each node with its own store in a temporary folder.
	JetStream bool
	Users     []*server.User // who may log in (HubUsers); anyone when nil
	// MaxPayload is the largest message, 0 for the server's default (a pixel-carrying frame
	// onset of the simulated rig needs more: 8 MiB).
	MaxPayload int32
}

// StartHub starts a lab hub: o.Nodes Go servers named hub-0, hub-1, ... on loopback with free
// ports, each with a leaf-node listener for the rigs; they are shut down when the test ends. It
// returns once every node is ready for connections and, in a cluster, the routes form a full
// mesh and (with JetStream) every node knows the meta leader of a meta group of all the nodes.
func StartHub(t testing.TB, o HubOptions) []*server.Server {
	t.Helper()
	nodes := max(o.Nodes, 1)
	var routes []string
	ports := make([]int, nodes)
	if nodes > 1 {
		// A cluster's routes are configured up front (JetStream requires them), so its ports
		// are chosen first: each is held (reservePort) until its node listens on it.
		for i := range ports {
			var release func()
			ports[i], release = reservePort(t)
			defer release()
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		}
	}
	hub := make([]*server.Server, nodes)
	for i := range hub {
		so := &server.Options{
			ServerName: fmt.Sprintf("hub-%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
			MaxPayload: o.MaxPayload, Users: o.Users,
			LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT},
		}
		if o.JetStream {
			so.JetStream, so.JetStreamDomain, so.StoreDir = true, "hub", t.TempDir()
		}
		if nodes > 1 {
			so.Cluster = server.ClusterOpts{Name: "hub", Host: "127.0.0.1", Port: ports[i]}
			so.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		s, err := server.NewServer(so)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		hub[i] = s
	}
	for i, s := range hub {
		if !s.ReadyForConnections(10 * time.Second) {
			// Healthz names the listener that is missing and why.
			t.Fatalf("acquisitiontest: hub node %d not ready for connections in 10 s: %s", i, s.Healthz(nil).Error)
		}
	}
	if !testwait.Until(30*time.Second, func() bool { return hubFormed(hub, o.JetStream) }) {
		t.Fatalf("acquisitiontest: hub of %d nodes not formed in 30 s: %s", nodes, hubState(hub))
	}
	return hub
}

// reservePort returns a free loopback port of the kernel's choosing, held until release by a
// socket bound to it that never listens, with SO_REUSEADDR. While it is held the kernel gives
// the port to no other bind to port 0 and to no outgoing connection, and a listener with
// SO_REUSEADDR (every Go listener, a NATS server's too) may still bind it: socket(7) allows that
// "except when there is an active listening socket bound to the address". A port chosen by
// listening and closing, then bound again, was free for anyone in between: a connection or
// another test's server took one now and then, and the node that was to listen there never
// became ready for connections (its route listener failed, silently).
func reservePort(t testing.TB) (port int, release func()) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("acquisitiontest: reserve a port: %v", err)
	}
	release = func() { _ = unix.Close(fd) }
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		release()
		t.Fatalf("acquisitiontest: reserve a port: SO_REUSEADDR: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		release()
		t.Fatalf("acquisitiontest: reserve a port: bind 127.0.0.1:0: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		release()
		t.Fatalf("acquisitiontest: reserve a port: %v", err)
	}
	return sa.(*unix.SockaddrInet4).Port, release
}

// hubFormed reports whether every node has a route to every other and, in a cluster with
// JetStream, knows the meta leader of a meta group of all the nodes.
func hubFormed(hub []*server.Server, jetStream bool) bool {
	for _, s := range hub {
		if s.NumRemotes() != len(hub)-1 {
			return false
		}
		if !jetStream || len(hub) == 1 {
			continue
		}
		if m := metaGroup(s); m == nil || m.Leader == "" || m.Size != len(hub) {
			return false
		}
	}
	return true
}

// metaGroup is node s's view of the JetStream meta group, nil when it has none (yet).
func metaGroup(s *server.Server) *server.MetaClusterInfo {
	jsz, err := s.Jsz(nil)
	if err != nil {
		return nil
	}
	return jsz.Meta
}

// hubState describes each node's routes and meta group, for a hub that did not form.
func hubState(hub []*server.Server) string {
	var b strings.Builder
	for i, s := range hub {
		fmt.Fprintf(&b, "node %d: routes to %d nodes", i, s.NumRemotes())
		if m := metaGroup(s); m != nil {
			fmt.Fprintf(&b, ", meta leader %q of %d", m.Leader, m.Size)
		}
		b.WriteString("; ")
	}
	return b.String()
}

// LeafURLs is the hub's leaf listeners as a rig's leaf remote (configs.Leaf.URL), logging in as
// user with LeafPassword(user) ("": no login), each address through addr (nil: directly; a
// test that cuts the link puts its proxy in between).
func LeafURLs(hub []*server.Server, user string, addr func(i int, target string) string) string {
	var urls []string
	for i, s := range hub {
		v, _ := s.Varz(nil)
		a := fmt.Sprintf("127.0.0.1:%d", v.LeafNode.Port)
		if addr != nil {
			a = addr(i, a)
		}
		if user != "" {
			a = user + ":" + LeafPassword(user) + "@" + a
		}
		urls = append(urls, "nats-leaf://"+a)
	}
	return strings.Join(urls, ",")
}

// Admin connects to the hub node s as HubAdmin; the connection is closed when the test ends.
func Admin(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), HubAdmin)
	if err != nil {
		t.Fatalf("acquisitiontest: connect to hub node %s as admin: %v", s.Name(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}
