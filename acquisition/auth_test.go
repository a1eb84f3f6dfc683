package acquisition

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/proto/contract"
)

// TestLabConfMatchesPermissions holds configs/nats-lab.conf (for an external server, rig "rig1")
// to the permissions the embedded server applies: one definition of each role.
func TestLabConfMatchesPermissions(t *testing.T) {
	for k, v := range acquisitiontest.LabPasswords {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("../configs/nats-lab.conf")
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]Role{"retinad-rig1": RoleDaemon, "acquisition": RoleAcquisition, "operator": RoleOperator, "worker1": RoleWorker, anonymous: RoleObserver}
	if len(opts.Users) != len(roles) {
		t.Errorf("%d users in the lab config, want %d", len(opts.Users), len(roles))
	}
	for _, u := range opts.Users {
		role, ok := roles[u.Username]
		if !ok {
			t.Errorf("user %q: not one of the lab config's known users", u.Username)
			continue
		}
		want, err := Permissions(role, "rig1", u.Username)
		if err != nil {
			t.Fatal(err)
		}
		if want.Response != nil && u.Permissions.Response != nil {
			// The config file's parser fills in the server's default expiry.
			want.Response.Expires = u.Permissions.Response.Expires
		}
		if got, want := permString(u.Permissions), permString(want); got != want {
			t.Errorf("user %q (%s): the lab config's permissions\n%s\nwant\n%s", u.Username, role, got, want)
		}
	}
	if opts.NoAuthUser != anonymous {
		t.Errorf("no_auth_user %q, want %q (the observer)", opts.NoAuthUser, anonymous)
	}
}

// permString writes p in one line, an empty list and a missing one alike.
func permString(p *server.Permissions) string {
	sp := func(s *server.SubjectPermission) string {
		if s == nil {
			return "none"
		}
		return fmt.Sprintf("allow %q deny %q", s.Allow, s.Deny)
	}
	r := "none"
	if p.Response != nil {
		r = fmt.Sprintf("%d in %v", p.Response.MaxMsgs, p.Response.Expires)
	}
	return "publish " + sp(p.Publish) + "; subscribe " + sp(p.Subscribe) + "; responses " + r
}

func TestPermissionsBadInput(t *testing.T) {
	if _, err := Permissions("admin", "r", "u"); err == nil || !strings.Contains(err.Error(), `role "admin"`) {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := Permissions(RoleWorker, "r", "a.b"); err == nil || !strings.Contains(err.Error(), "worker user name") {
		t.Errorf("worker name with a dot: %v", err)
	}
	if _, err := Permissions(RoleObserver, "r.>", ""); err == nil || !strings.Contains(err.Error(), "rig") {
		t.Errorf("rig with wildcards: %v", err)
	}
}

// TestDefaultRoleNone: with default_role none a client without credentials is refused, and
// a wrong password is refused whatever the default.
func TestDefaultRoleNone(t *testing.T) {
	cfg := configs.NATS{Embedded: true, Listen: "127.0.0.1:0", DefaultRole: "none", Users: []configs.NATSUser{{Name: "op", Role: "operator", Password: "pw"}}}
	b, err := Start(cfg, BusOptions{Rig: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if nc, err := nats.Connect(b.ClientURL()); err == nil {
		nc.Close()
		t.Error("a client without credentials connected, want refused")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("no credentials: %v, want an authorization violation", err)
	}
	if nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("op", "wrong")); err == nil {
		nc.Close()
		t.Error("a wrong password connected")
	}
	nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("op", "pw"))
	if err != nil {
		t.Fatalf("the operator: %v", err)
	}
	nc.Close()
}

func TestStartRefusesOpenRemote(t *testing.T) {
	_, err := Start(configs.NATS{Embedded: true, Listen: "0.0.0.0:0", AllowRemote: true, DefaultRole: "observer"}, BusOptions{Rig: "r"})
	if err == nil || !strings.Contains(err.Error(), "nats.users") || !strings.Contains(err.Error(), "nats.server_tls") {
		t.Fatalf("allow_remote with no users and no TLS: %v, want refused, naming what to add", err)
	}
}

// TestServerTLS: with server_tls the listener speaks only TLS; the daemon's in-process
// connection still works, and a client that trusts the CA logs in.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCert(t, dir)
	cfg := configs.NATS{Embedded: true, Listen: "127.0.0.1:0", DefaultRole: "observer",
		Users:     []configs.NATSUser{{Name: "op", Role: "operator", Password: "pw"}},
		ServerTLS: configs.ServerTLS{Cert: cert, Key: key}}
	b, err := Start(cfg, BusOptions{Rig: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if err := b.Conn().Publish("retinad.r.status", []byte{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	url := strings.Replace(b.ClientURL(), "nats://", "tls://", 1)
	if nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("op", "pw")); err == nil {
		nc.Close()
		t.Error("a client connected without trusting the server's certificate")
	}
	opts, err := ClientAuth{User: "op", Password: "pw", TLS: configs.TLS{CA: ca}}.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
}

func TestClientAuthErrors(t *testing.T) {
	for name, a := range map[string]ClientAuth{
		"two ways":       {User: "u", Password: "p", Token: "t"},
		"password alone": {Password: "p"},
		"missing creds":  {Creds: "/nonexistent.creds"},
		"missing seed":   {NKeySeed: "/nonexistent.nk"},
		"cert no key":    {TLS: configs.TLS{Cert: "c.pem"}},
	} {
		if _, err := a.Options(); err == nil || !strings.HasPrefix(err.Error(), "acquisition: ") {
			t.Errorf("%s: %v, want an acquisition error", name, err)
		}
	}
}

// writeCert writes a CA and a certificate for 127.0.0.1 signed by it; it returns the files.
func writeCert(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", srvDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// countLines counts the records logged.
type countLines struct{ n *int }

func (h countLines) Enabled(context.Context, slog.Level) bool  { return true }
func (h countLines) Handle(context.Context, slog.Record) error { *h.n++; return nil }
func (h countLines) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h countLines) WithGroup(string) slog.Handler             { return h }

// TestRefusedThrottled: every refusal the server logs is counted, but a client hammering a
// forbidden subject gets 64 log lines and then one per 1024, not one each.
func TestRefusedThrottled(t *testing.T) {
	lines := 0
	var refused atomic.Uint64
	a := slogAdapter{slog.New(countLines{&lines}), &refused}
	for range 3000 {
		a.Errorf("%s - Publish Violation - User %q, Subject %q", "cid:1", "anonymous", "retinad.r.session")
	}
	a.Errorf("some other error")
	if refused.Load() != 3000 {
		t.Errorf("refused %d, want 3000", refused.Load())
	}
	if want := refusedLogged + 2 + 1; lines != want { // 1024 and 2048, and the other error
		t.Errorf("%d log lines, want %d", lines, want)
	}
}

// allowed reports whether p lets a client use subject (deny wins; a queue permission
// "subject queue" counts for its subject).
func allowed(p *server.SubjectPermission, subject string) bool {
	if p == nil {
		return true
	}
	match := func(list []string) bool {
		for _, f := range list {
			if matchesQ(subject, f) {
				return true
			}
		}
		return false
	}
	return (p.Allow == nil || match(p.Allow)) && !match(p.Deny)
}

// matchesQ is server.SubjectMatchesFilter on a permission that may name a queue.
func matchesQ(subject, filter string) bool {
	if i := strings.IndexByte(filter, ' '); i >= 0 {
		filter = filter[:i]
	}
	return server.SubjectMatchesFilter(subject, filter)
}

// FuzzPermissions checks the roles' invariants for any rig and user name: bad names are errors;
// no role but the daemon's may publish the daemon's subjects or manage the recording stream;
// the acquisition role may publish spikes and sync; a worker may take its own direct subject
// and no other's.
func FuzzPermissions(f *testing.F) {
	f.Add("r", "worker1", "worker2")
	f.Add("rig1", "w", "w-2")
	f.Add("a.b", "x", "y")
	f.Add("r", ">", "*")
	f.Fuzz(func(t *testing.T, rig, user, other string) {
		for _, role := range []Role{RoleDaemon, RoleAcquisition, RoleObserver, RoleOperator, RoleWorker} {
			p, err := Permissions(role, rig, user)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "acquisition: ") || (contract.CheckToken("rig", rig) == nil && (role != RoleWorker || contract.CheckToken("u", user) == nil)) {
					t.Fatalf("%s %q %q: %v", role, rig, user, err)
				}
				continue
			}
			root, stream := "retinad."+rig, StreamName(rig)
			daemonOnly := []string{root + ".frame", root + ".prediction.cnn", root + ".session", root + ".status",
				root + ".validation", root + ".event", root + ".adaptive"}
			for _, api := range []string{"PURGE", "DELETE", "UPDATE", "CREATE"} {
				daemonOnly = append(daemonOnly, "$JS.API.STREAM."+api+"."+stream)
			}
			daemonOnly = append(daemonOnly, "$JS.API.STREAM.MSG.DELETE."+stream)
			for _, s := range daemonOnly {
				if got := allowed(p.Publish, s); got != (role == RoleDaemon) {
					t.Errorf("%s on rig %q may publish %s: %v", role, rig, s, got)
				}
			}
			if got := allowed(p.Publish, root+".spikes"); got != (role == RoleDaemon || role == RoleAcquisition) {
				t.Errorf("%s may publish spikes: %v", role, got)
			}
			if role == RoleWorker {
				if !allowed(p.Subscribe, workerPrefix+"."+user+".score") {
					t.Errorf("worker %q may not take its own subject", user)
				}
				if other != user && contract.CheckToken("u", other) == nil && allowed(p.Subscribe, workerPrefix+"."+other+".score") {
					t.Errorf("worker %q may take worker %q's subject", user, other)
				}
			}
		}
	})
}
