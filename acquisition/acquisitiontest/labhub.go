package acquisitiontest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
// ports, each with a leaf-node listener for the rigs, ready for connections; they are shut
// down when the test ends.
func StartHub(t testing.TB, o HubOptions) []*server.Server {
	t.Helper()
	nodes := max(o.Nodes, 1)
	var routes []string
	ports := make([]int, nodes)
	if nodes > 1 {
		// A cluster's routes are configured up front: pick its free ports first.
		for i := range ports {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ports[i] = ln.Addr().(*net.TCPAddr).Port
			ln.Close()
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
			t.Fatalf("acquisitiontest: hub node %d not ready for connections in 10 s", i)
		}
	}
	return hub
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
