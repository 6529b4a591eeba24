package testenv

import (
	"os"
	"testing"

	"github.com/gocql/gocql"
)

// Cassandra is the real Cassandra of the tests and the role they log in
// as: TAGSTREAM_CASSANDRA, TAGSTREAM_CASSANDRA_USER and
// TAGSTREAM_CASSANDRA_PASSWORD, which services/all.sh env prints (the
// variables of tagstream's --cassandra, --cassandra-user and
// --cassandra-password).
type Cassandra struct {
	Addr, User, Password string
}

// GetCassandra returns the test Cassandra, skipping the test (or failing
// it under make test) when TAGSTREAM_CASSANDRA is unset. The login is
// optional: a Cassandra without authentication needs none.
func GetCassandra(tb testing.TB) Cassandra {
	tb.Helper()
	return Cassandra{
		Addr:     Get(tb, "TAGSTREAM_CASSANDRA", "a real Cassandra (services/cassandra.sh up starts one on 127.0.0.1:19042)"),
		User:     os.Getenv("TAGSTREAM_CASSANDRA_USER"),
		Password: os.Getenv("TAGSTREAM_CASSANDRA_PASSWORD"),
	}
}

// NewCluster is gocql.NewCluster of the test Cassandra, logged in as its
// role: a test's own session beside the code under test.
func (c Cassandra) NewCluster() *gocql.ClusterConfig {
	cl := gocql.NewCluster(c.Addr)
	if c.User != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: c.User, Password: c.Password}
	}
	return cl
}
