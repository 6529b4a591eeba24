// Package services_test checks that the services started by services/all.sh
// are the real thing and behave as the rest of the tests assume.
package services_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tagstream/tagstream/testenv"
)

func TestCassandraAcceptsCQL(t *testing.T) {
	c := testenv.GetCassandra(t)
	addr := c.Addr
	cluster := c.NewCluster()
	cluster.Timeout = 10 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer s.Close()
	var version string
	if err := s.Query(`SELECT release_version FROM system.local`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < "5.0" {
		t.Fatalf("Cassandra %s, want 5.0.x", version)
	}
	for _, q := range []string{
		`CREATE KEYSPACE IF NOT EXISTS tagstream_smoke WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE IF NOT EXISTS tagstream_smoke.kv (k text PRIMARY KEY, v bigint)`,
	} {
		if err := s.Query(q).Exec(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	key := fmt.Sprint(time.Now().UnixNano())
	if err := s.Query(`INSERT INTO tagstream_smoke.kv (k, v) VALUES (?, ?)`, key, 42).Exec(); err != nil {
		t.Fatal(err)
	}
	var v int64
	if err := s.Query(`SELECT v FROM tagstream_smoke.kv WHERE k = ?`, key).Consistency(gocql.One).Scan(&v); err != nil || v != 42 {
		t.Fatalf("read back %d, %v", v, err)
	}
	// A conditional write is how the snapshotter will refuse to rewind a row.
	applied, err := s.Query(`UPDATE tagstream_smoke.kv SET v = 7 WHERE k = ? IF v = 41`, key).MapScanCAS(map[string]any{})
	if err != nil || applied {
		t.Fatalf("lightweight transaction applied=%v err=%v, want not applied", applied, err)
	}
	t.Logf("Cassandra %s at %s", version, addr)
}
