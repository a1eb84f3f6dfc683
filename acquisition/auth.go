package acquisition

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"retinad/configs"
	"retinad/proto/contract"
)

// Role is what a NATS user may do on a rig's subjects. Permissions gives each role's subject
// permissions; the embedded server applies them (serverOptions) and configs/nats-lab.conf
// writes the same ones for an external server (a test holds the two together).
type Role string

const (
	// RoleDaemon is the daemon's own connection: everything under retinad.<rig>., scoring
	// requests to workers, and the management of its recording stream RETINAD_<rig>.
	RoleDaemon Role = "daemon"
	// RoleAcquisition is the acquisition system: it publishes retinad.<rig>.spikes and .sync
	// and may read the rig's messages, nothing else.
	RoleAcquisition Role = "acquisition"
	// RoleObserver reads: the rig's messages, the control service's status, and the recording
	// (stream info and consumers, for export). It is the default of a client without
	// credentials (configs.NATS.DefaultRole).
	RoleObserver Role = "observer"
	// RoleOperator is an observer that may also call the control service (start, stop, load,
	// unload, mark, choose a stimulus).
	RoleOperator Role = "operator"
	// RoleWorker serves scoring: it takes requests on retinad.workers.score in the queue
	// group and on retinad.workers.<its user name>.>, answers them and the $SRV discovery of
	// the worker service, and publishes nothing else. Its user name is its identity.
	RoleWorker Role = "worker"
)

// Worker subjects bound by the worker role. They are the scoring package's defaults, repeated
// here because scoring imports acquisition, not the other way round.
const (
	workerPrefix  = "retinad.workers"
	workerQueue   = "retinad-workers"
	workerService = "retinad-worker"
)

// anonymous is the user a client without credentials is treated as (the server's
// no_auth_user), with the observer role.
const anonymous = "anonymous"

// DaemonInbox is the prefix of the daemon's reply subjects (nats.CustomInboxPrefix) instead of
// _INBOX: every other role may subscribe to _INBOX.> for its own replies, so under _INBOX the
// daemon's replies (workers' scores, JetStream's answers) could be read by anyone, and their
// subjects learnt and targeted, e.g. by a JetStream consumer delivering forged bytes there.
func DaemonInbox(rig string) string { return "_INBOX_retinad_" + rig }

// Permissions returns the subject permissions of role on rig's subjects for the NATS user
// named user (used by the worker role: its direct subject is retinad.workers.<user>.>). Every
// role but the daemon's is denied the recording stream's management (purge, delete, update)
// and every daemon subject. rig and user must be subject tokens (CheckToken).
func Permissions(role Role, rig, user string) (*server.Permissions, error) {
	if err := contract.CheckToken("rig", rig); err != nil {
		return nil, fmt.Errorf("acquisition: %w", err)
	}
	root := "retinad." + rig
	stream := StreamName(rig)
	readRecording := []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.CREATE." + stream,
		"$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.INFO." + stream + ".*",
		"$JS.API.CONSUMER.DELETE." + stream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
		"$JS.FC." + stream + ".>",
		"$JS.ACK." + stream + ".>",
	}
	// Service discovery (`nats micro ls`, `nats micro info retinad`): requests only; the
	// replies are the services' own, and a reply the daemon sends to a forged reply subject is
	// ignored by the control service (it has no reply subject of its own).
	discover := []string{"$SRV.PING", "$SRV.INFO", "$SRV.STATS", "$SRV.*." + ServiceName, "$SRV.*." + ServiceName + ".>"}
	// Nobody but the daemon may listen on the control subjects: a rogue listener could
	// otherwise see operators' requests (it could not answer: replies need the daemon's role).
	readRig := &server.SubjectPermission{Allow: []string{root + ".>", "_INBOX.>"}, Deny: []string{root + ".control.>"}}
	switch role {
	case RoleDaemon:
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{
				root + ".>", workerPrefix + ".>", "$SRV.>", "$JS.API.INFO",
				"$JS.API.STREAM.*." + stream, "$JS.API.STREAM.*.*." + stream,
				"$JS.API.CONSUMER.*." + stream, "$JS.API.CONSUMER.*." + stream + ".>",
				"$JS.API.CONSUMER.*.*." + stream, "$JS.API.CONSUMER.*.*." + stream + ".>",
				"$JS.API.DIRECT.GET." + stream, "$JS.API.DIRECT.GET." + stream + ".>",
				"$JS.FC." + stream + ".>", "$JS.ACK." + stream + ".>",
			}},
			Subscribe: &server.SubjectPermission{Allow: []string{root + ".>", DaemonInbox(rig) + ".>", "$SRV.>"}},
			Response:  &server.ResponsePermission{MaxMsgs: 1},
		}, nil
	case RoleAcquisition:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{root + ".spikes", root + ".sync"}},
			Subscribe: readRig,
		}, nil
	case RoleObserver:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: slices.Concat([]string{root + ".control." + EndpointStatus}, discover, readRecording)},
			Subscribe: readRig,
		}, nil
	case RoleOperator:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: slices.Concat([]string{root + ".control.>"}, discover, readRecording)},
			Subscribe: readRig,
		}, nil
	case RoleWorker:
		if err := contract.CheckToken("worker user name", user); err != nil {
			return nil, fmt.Errorf("acquisition: %w", err)
		}
		return &server.Permissions{
			// Replies only: Response lets it answer the requests it received, once each.
			Publish: &server.SubjectPermission{Deny: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{
				workerPrefix + ".score " + workerQueue,
				workerPrefix + "." + user + ".>",
				"$SRV.*", "$SRV.*." + workerService, "$SRV.*." + workerService + ".>",
			}},
			Response: &server.ResponsePermission{MaxMsgs: 1},
		}, nil
	}
	return nil, fmt.Errorf("acquisition: role %q: want daemon, acquisition, observer, operator or worker", role)
}

// LeafPermissions is what rig's leaf connection may do on the lab hub, enforced by the hub
// whatever the rig's own server is configured to do (its deny lists, leafOptions, are the rig's
// side; these are the hub's). nats-server reads a leaf user's permissions from the leaf's side:
// Publish is what the rig may send into the hub, Subscribe what the hub may send to the rig.
// domain is the rig's JetStream domain (LeafDomain).
//
// The rig sends only its own subjects, scoring requests to the hub's workers, service
// discovery, its recording to the archive's deliver subjects (ArchiveDeliverPrefix) and
// replies to requests it received; it cannot write another rig's subjects, answer for
// another rig's JetStream domain, or reach the hub's JetStream API (the archive). The hub
// sends it the control requests of its rig, the replies to its daemon's requests, the
// archive's requests into its own domain and their flow control, and discovery requests.
func LeafPermissions(rig, domain string) (*server.Permissions, error) {
	if err := contract.CheckToken("rig", rig); err != nil {
		return nil, fmt.Errorf("acquisition: %w", err)
	}
	if err := contract.CheckToken("rig "+rig+" domain", domain); err != nil {
		return nil, fmt.Errorf("acquisition: %w", err)
	}
	root := "retinad." + rig
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			root + ".>", workerPrefix + ".>", "$SRV.>", ArchiveDeliverPrefix(rig) + ".>",
			// Replies: to the hub's clients (control, discovery, JetStream through the rig's
			// domain) and to the archive's JetStream requests. The rig's server enforces the
			// permissions the hub sends it as well, and those carry no allow_responses.
			"_INBOX.>", "$JSC.R.>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			root + ".control.>", DaemonInbox(rig) + ".>", "$JS." + domain + ".API.>", "$JS.FC." + StreamName(rig) + ".>",
			"$SRV.PING", "$SRV.INFO", "$SRV.STATS", "$SRV.*." + ServiceName, "$SRV.*." + ServiceName + ".>",
		}},
	}, nil
}

// authenticates reports whether cfg turns the embedded server's authorization on. Every config
// file does (configs.Default sets DefaultRole); only a configs.NATS built in Go with neither
// users nor a default role runs an open server, as tests of single packages do.
func authenticates(cfg configs.NATS) bool {
	return cfg.DefaultRole != "" || len(cfg.Users) > 0
}

// serverAuth adds cfg's users, the default role and the daemon's own identity (a user nkey
// made now, held only by this process) to opts. It returns the daemon's key pair, with which
// the in-process connection authenticates.
func serverAuth(opts *server.Options, cfg configs.NATS, rig string) (nkeys.KeyPair, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("acquisition: daemon nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("acquisition: daemon nkey: %w", err)
	}
	perm, err := Permissions(RoleDaemon, rig, "")
	if err != nil {
		return nil, err
	}
	opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub, Permissions: perm})
	for i, u := range cfg.Users {
		perm, err := Permissions(Role(u.Role), rig, u.Name)
		if err != nil {
			return nil, fmt.Errorf("acquisition: nats.users[%d] %q: %w", i, u.Name, err)
		}
		if Role(u.Role) == RoleDaemon {
			return nil, fmt.Errorf("acquisition: nats.users[%d] %q: the daemon role is the daemon's own connection's", i, u.Name)
		}
		if u.NKey != "" {
			opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: perm})
			continue
		}
		opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perm})
	}
	if cfg.DefaultRole == string(RoleObserver) {
		perm, err := Permissions(RoleObserver, rig, "")
		if err != nil {
			return nil, err
		}
		// A random password nobody knows: the server fills it in for credential-less clients.
		var pw [16]byte
		if _, err := rand.Read(pw[:]); err != nil {
			return nil, fmt.Errorf("acquisition: anonymous user: %w", err)
		}
		opts.Users = append(opts.Users, &server.User{Username: anonymous, Password: hex.EncodeToString(pw[:]), Permissions: perm})
		opts.NoAuthUser = anonymous
	}
	return kp, nil
}

// serverTLS makes the embedded listener TLS-only with cfg's certificate, and requires client
// certificates signed by ClientCA when it is set.
func serverTLS(opts *server.Options, t configs.ServerTLS) error {
	if t.Cert == "" && t.Key == "" {
		return nil
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.Cert, KeyFile: t.Key, CaFile: t.ClientCA, Verify: t.ClientCA != ""})
	if err != nil {
		return fmt.Errorf("acquisition: nats.server_tls: %w", err)
	}
	opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, t.ClientCA != ""
	opts.TLSTimeout = 2
	return nil
}

// ClientAuth is how a client proves who it is to a NATS server: one of a .creds file, a user
// and password, a token or an nkey seed file, plus TLS. The daemon's external connection
// (configs.NATS) and the command line's client commands build their options from it.
type ClientAuth struct {
	Creds    string // .creds file (JWT and seed)
	User     string // with Password
	Password string
	Token    string // for a server with token authentication
	NKeySeed string // file holding a user nkey seed (SU...)
	TLS      configs.TLS
}

// AuthFor is the daemon's ClientAuth for the external server of cfg.
func AuthFor(cfg configs.NATS) ClientAuth {
	return ClientAuth{Creds: cfg.Credentials, User: cfg.User, Password: cfg.Password, NKeySeed: cfg.NKey, TLS: cfg.TLS}
}

// Options returns the nats.Options that present a's credentials and TLS. Files are checked
// here, so that a missing one is named before any connection is tried.
func (a ClientAuth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	ways := 0
	if a.Creds != "" {
		if _, err := os.Stat(a.Creds); err != nil {
			return nil, fmt.Errorf("acquisition: credentials file: %w", err)
		}
		opts, ways = append(opts, nats.UserCredentials(a.Creds)), ways+1
	}
	if a.User != "" || a.Password != "" {
		if a.User == "" {
			return nil, errors.New("acquisition: a password needs its user name")
		}
		opts, ways = append(opts, nats.UserInfo(a.User, a.Password)), ways+1
	}
	if a.Token != "" {
		opts, ways = append(opts, nats.Token(a.Token)), ways+1
	}
	if a.NKeySeed != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("acquisition: nkey seed file %s: %w", a.NKeySeed, err)
		}
		opts, ways = append(opts, o), ways+1
	}
	if ways > 1 {
		return nil, errors.New("acquisition: more than one way to log in (creds, user/password, token, nkey): give one")
	}
	if a.TLS.CA != "" {
		if _, err := os.Stat(a.TLS.CA); err != nil {
			return nil, fmt.Errorf("acquisition: TLS CA: %w", err)
		}
		opts = append(opts, nats.RootCAs(a.TLS.CA))
	}
	if a.TLS.Cert != "" || a.TLS.Key != "" {
		if a.TLS.Cert == "" || a.TLS.Key == "" {
			return nil, errors.New("acquisition: TLS client cert and key go together; one is missing")
		}
		opts = append(opts, nats.ClientCert(a.TLS.Cert, a.TLS.Key))
	}
	return opts, nil
}
