package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tagstream/tagstream/config"
	"github.com/tagstream/tagstream/testenv"
)

// Each replication setting gets its CQL map or an error saying what is
// wrong; nothing else reaches the DDL it is spliced into.
func TestParseReplication(t *testing.T) {
	for in, want := range map[string]string{
		"SimpleStrategy:1":                                                                    "{'class': 'SimpleStrategy', 'replication_factor': 1}",
		" SimpleStrategy: 3 ":                                                                 "{'class': 'SimpleStrategy', 'replication_factor': 3}",
		"NetworkTopologyStrategy:dc2=2,dc1=3":                                                 "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}",
		"NetworkTopologyStrategy:datacenter1=1":                                               "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}",
		"{'class': 'SimpleStrategy', 'replication_factor': 1}":                                "{'class': 'SimpleStrategy', 'replication_factor': 1}",
		"{'class': 'NetworkTopologyStrategy', 'eu-west_1': 3}":                                "{'class': 'NetworkTopologyStrategy', 'eu-west_1': 3}",
		"{'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '2'}": "{'class': 'SimpleStrategy', 'replication_factor': 2}",
	} {
		got, err := ParseReplication(in)
		if err != nil || got != want {
			t.Errorf("ParseReplication(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                                    "no class",
		"SimpleStrategy":                      "no class",
		"SimpleStrategy:0":                    "not a number from 1",
		"SimpleStrategy:100":                  "not a number from 1",
		"SimpleStrategy:-1":                   "not a number from 1",
		"SimpleStrategy:x":                    "not a number from 1",
		"SimpleStrategy:dc1=3":                "not a number from 1",
		"NetworkTopologyStrategy:":            "not datacentre=replicas",
		"NetworkTopologyStrategy:dc1=3,dc1=2": "given twice",
		"NetworkTopologyStrategy:dc'1=3":      "not a data centre name",
		"NetworkTopologyStrategy:dc1=3};DROP KEYSPACE x;--": "not a number from 1",
		"LocalStrategy:1": "neither SimpleStrategy nor",
		"{'class': 'SimpleStrategy', 'replication_factor': 1":                     "must end with }",
		"{'class': 'SimpleStrategy', 'replication_factor': 1, 'dc1': 2}":          "replication factor alone",
		"{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}":           "not a replication_factor",
		"{'class': 'NetworkTopologyStrategy'}":                                    "names each data centre",
		"{'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes": "must end with }",
		strings.Repeat("NetworkTopologyStrategy:dc1=1,", 50):                      "at most 1024",
	} {
		got, err := ParseReplication(in)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseReplication(%q) = %q, %v; want an error saying %q", in, got, err, why)
		}
	}
}

// A password without its user fails at New without quoting it; a TLS
// configuration (what config.TLS loads from the --cassandra-* files) turns
// on TLS with the nodes' certificates verified, and none turns on none.
func TestLoginAndTLSSettings(t *testing.T) {
	const pw = "hunter2-secret"
	if _, err := New(Config{Password: pw}); err == nil || !strings.Contains(err.Error(), "password without a user") ||
		strings.Contains(err.Error(), pw) {
		t.Errorf("a password without a user: %v", err)
	}
	c, err := Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12}, User: "u", Password: pw}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	cl := c.cluster()
	if cl.SslOpts == nil || !cl.SslOpts.EnableHostVerification || cl.SslOpts.Config != c.TLS {
		t.Errorf("SslOpts %+v: want the configuration, hosts verified", cl.SslOpts)
	}
	if a, ok := cl.Authenticator.(gocql.PasswordAuthenticator); !ok || a.Username != "u" || !slices.Equal(a.AllowedAuthenticators, allowedAuthenticators) {
		t.Errorf("authenticator %#v", cl.Authenticator)
	}
	if c, _ := (Config{}).withDefaults(); c.cluster().SslOpts != nil || c.cluster().Authenticator != nil {
		t.Error("no TLS and no login asked, some configured")
	}
}

// clientTLS loads TLS files as tagstream's --cassandra-* flags do.
func clientTLS(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	c := config.TLS{CA: ca, Cert: cert, Key: key}
	if err := c.Load("cassandra"); err != nil {
		t.Fatal(err)
	}
	return c.Config
}

// tlsFiles are services/tls.sh's test CA and client certificate, or a
// skip.
func tlsFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	const what = "services/tls.sh's test certificates (eval \"$(services/tls.sh env)\")"
	return testenv.Get(t, "TAGSTREAM_TEST_TLS_CA", what), testenv.Get(t, "TAGSTREAM_TEST_TLS_CLIENT_CERT", what),
		testenv.Get(t, "TAGSTREAM_TEST_TLS_CLIENT_KEY", what)
}

// firstBytes is a dialer that records the first byte every connection
// sends: 0x16 starts a TLS handshake, a CQL frame starts with its
// version.
type firstBytes struct {
	net.Dialer
	plain, tls atomic.Int64
}

func (d *firstBytes) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recordFirst{Conn: c, d: d}, nil
}

type recordFirst struct {
	net.Conn
	d    *firstBytes
	seen bool
}

func (c *recordFirst) Write(p []byte) (int, error) {
	if !c.seen && len(p) > 0 {
		c.seen = true
		if p[0] == 0x16 {
			c.d.tls.Add(1)
		} else {
			c.d.plain.Add(1)
		}
	}
	return c.Conn.Write(p)
}

// TestTLSAndLogin runs a snapshot over TLS, logged in: the schema made by
// InitSchema, a flush written and read back, every connection a TLS one
// with the test CA and client certificate (the test Cassandra requires
// one of TLS clients).
func TestTLSAndLogin(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	cfg, p := setupBare(t)
	if cfg.User == "" {
		testenv.Skip(t, "set TAGSTREAM_CASSANDRA_USER and TAGSTREAM_CASSANDRA_PASSWORD (services/all.sh env) to log in")
	}
	cfg.TLS = clientTLS(t, ca, cert, key)
	d := &firstBytes{}
	cfg.Dialer = d
	initSchema(t, cfg)
	now := time.Now()
	c := count("Secure", 3, now)
	p.put("counts", "secure", c)
	start(t, cfg)
	r := newReader(t, cfg)
	awaitRows(t, r, map[string]want{"secure": {count: &c}}, 60*time.Second)
	if d.tls.Load() == 0 || d.plain.Load() != 0 {
		t.Fatalf("%d TLS and %d plaintext connections, want TLS only", d.tls.Load(), d.plain.Load())
	}
	t.Logf("%d connections, every one TLS", d.tls.Load())
}

// A wrong password, a wrong CA and a missing client certificate each fail
// the connection with an error that says so, within a deadline, and never
// quote the password.
func TestTLSAndLoginRefused(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	c := testenv.GetCassandra(t)
	if c.User == "" {
		testenv.Skip(t, "set TAGSTREAM_CASSANDRA_USER and TAGSTREAM_CASSANDRA_PASSWORD (services/all.sh env) to log in")
	}
	wrongCA := testenv.OtherCA(t)
	const wrongPassword = "not-the-password-42"
	base := Config{Cassandra: []string{c.Addr}, User: c.User, Password: c.Password, Timeout: 5 * time.Second,
		Keyspace: "no_such_keyspace_for_login_tests"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // any of
	}{
		{"wrong password", func(c *Config) { c.Password = wrongPassword }, []string{"Provided username " + c.User + " and/or password are incorrect"}},
		{"wrong password over TLS", func(c *Config) { c.Password, c.TLS = wrongPassword, clientTLS(t, ca, cert, key) },
			[]string{"Provided username " + c.User + " and/or password are incorrect"}},
		{"no login", func(c *Config) { c.User, c.Password = "", "" }, []string{"authentication required (using \"org.apache.cassandra.auth.PasswordAuthenticator\") (the nodes require a login: set --cassandra-user"}},
		{"wrong CA", func(c *Config) { c.TLS = clientTLS(t, wrongCA, cert, key) }, []string{"certificate signed by unknown authority"}},
		{"no client certificate", func(c *Config) { c.TLS = clientTLS(t, ca, "", "") }, []string{"certificate required", "bad certificate", "handshake failure", "EOF", "connection reset"}},
	} {
		cfg := base
		tc.edit(&cfg)
		start := time.Now()
		_, err := NewReader(cfg)
		took := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s: connected", tc.name)
		case !slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(err.Error(), w) }):
			t.Errorf("%s: %v, want an error saying one of %q", tc.name, err, tc.want)
		case strings.Contains(err.Error(), wrongPassword) || strings.Contains(err.Error(), c.Password):
			t.Errorf("%s: the error quotes the password: %v", tc.name, err)
		case errors.Is(err, ErrNoSchema):
			t.Errorf("%s: got as far as the schema: %v", tc.name, err)
		case took > 20*time.Second:
			t.Errorf("%s: took %v to fail, want under 20 s", tc.name, took)
		default:
			t.Logf("%s: refused in %v: %v", tc.name, took.Round(time.Millisecond), err)
		}
	}
}
