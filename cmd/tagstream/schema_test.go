package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// `tagstream snapshot --init-schema` creates the keyspace with the
// replication asked for and exits; a second run changes nothing; a
// replication setting it cannot use fails before any DDL. The password
// comes from its file, as a Docker secret gives it.
func TestInitSchemaCommand(t *testing.T) {
	c := testenv.GetCassandra(t)
	ks := fmt.Sprintf("cmdtest_%d", time.Now().UnixNano())
	cl := c.NewCluster()
	cl.Timeout = 30 * time.Second
	sess, err := cl.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	t.Cleanup(func() { sess.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec() })
	args := []string{"snapshot", "--init-schema", "--keyspace", ks}
	if c.User != "" {
		pw := filepath.Join(t.TempDir(), "cassandra-password")
		if err := os.WriteFile(pw, []byte(c.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--cassandra-user", c.User, "--cassandra-password-file", pw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var out bytes.Buffer
	bad := append(args, "--keyspace-replication", "NetworkTopologyStrategy:dc1=0")
	if err := dispatch(ctx, bad, nil, &out); err == nil || !strings.Contains(err.Error(), "not a number from 1 to 99") {
		t.Fatalf("--keyspace-replication NetworkTopologyStrategy:dc1=0: %v, want a clear error", err)
	}
	for range 2 {
		out.Reset()
		if err := dispatch(ctx, append(args, "--keyspace-replication", "NetworkTopologyStrategy:datacenter1=1"), nil, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "schema of keyspace "+ks+" ready") {
			t.Fatalf("output %q", out.String())
		}
	}
	var repl map[string]string
	if err := sess.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	if repl["class"] != "org.apache.cassandra.locator.NetworkTopologyStrategy" || repl["datacenter1"] != "1" {
		t.Fatalf("replication %v", repl)
	}
	var tables int
	if err := sess.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ?`, ks).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("%d tables, %v; want 3", tables, err)
	}
}
