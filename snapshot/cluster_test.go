//go:build cassandracluster

package snapshot

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tagstream/tagstream/testenv"
)

// This file is built only with -tags cassandracluster (make
// cassandra-cluster): two more Cassandra JVMs beside make test's parallel
// packages would slow every timing the other tests hold, and the cluster
// alone takes minutes to start on this machine.

// clusterNode is one Cassandra node of services/cassandra.sh, in a folder
// of the test's own.
type clusterNode struct {
	name, dir, addr string
	env             []string
}

func (n *clusterNode) script(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"../services/cassandra.sh"}, args...)...)
	cmd.Env = append(os.Environ(), n.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// up starts the node and returns how long services/cassandra.sh up took.
func (n *clusterNode) up(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if out, err := n.script(t, 6*time.Minute, "up"); err != nil {
		t.Fatalf("%s up: %v\n%s", n.name, err, out)
	}
	return time.Since(start)
}

// kill SIGKILLs the node's process group: no drain, no flush.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dir, "cassandra", "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", n.name, err)
	}
}

// freePort is a port free on both 127.0.0.1 and 127.0.0.2: the two nodes
// share their port numbers, each on its own address.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return 0
}

// TestCassandraCluster runs the snapshot on two Cassandra nodes, 127.0.0.1
// and 127.0.0.2, a keyspace with 2 replicas and consistency ONE, then
// SIGKILLs the first node (the first contact point, holding the driver's
// control connection) and checks that changes keep being flushed and read,
// by the running snapshotter and reader and by ones that start after the
// kill. It logs how long each step took: the README's table.
func TestCassandraCluster(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		testenv.Skip(t, "Java 17 runs Cassandra (services/cassandra.sh)")
	}
	cql, storage := freePort(t), freePort(t)
	base := t.TempDir()
	var nodes []*clusterNode
	for i, addr := range []string{"127.0.0.1", "127.0.0.2"} {
		n := &clusterNode{name: fmt.Sprintf("node%d", i+1), dir: filepath.Join(base, fmt.Sprint("n", i+1)), addr: addr}
		n.env = []string{
			"TAGSTREAM_SERVICES_DIR=" + n.dir,
			"CASSANDRA_ADDRESS=" + addr,
			"CASSANDRA_CQL_PORT=" + fmt.Sprint(cql),
			"CASSANDRA_STORAGE_PORT=" + fmt.Sprint(storage),
			"CASSANDRA_JMX_PORT=" + fmt.Sprint(freePort(t)),
			fmt.Sprintf("CASSANDRA_SEEDS=127.0.0.1:%d", storage),
			// Murmur3's ring is -2^63..2^63-1: the second node takes
			// the half above 2^62.
			"CASSANDRA_INITIAL_TOKEN=" + []string{"0", "4611686018427387904"}[i],
			// Half the usual heap each; a one-second ring delay, as the
			// nodes are alone on loopback (30 s by default).
			"CASSANDRA_JVM_OPTS=-Xms512M -Xmx512M -Dcassandra.ring_delay_ms=1000",
		}
		nodes = append(nodes, n)
		t.Cleanup(func() {
			if out, err := n.script(t, 2*time.Minute, "down"); err != nil {
				t.Logf("%s down: %v\n%s", n.name, err, out)
			}
		})
	}
	clusterStart := time.Now()
	for _, n := range nodes {
		t.Logf("%s (%s:%d) up in %v", n.name, n.addr, cql, n.up(t).Round(100*time.Millisecond))
	}
	t.Logf("two nodes up in %v", time.Since(clusterStart).Round(100*time.Millisecond))

	hosts := []string{fmt.Sprintf("127.0.0.1:%d", cql), fmt.Sprintf("127.0.0.2:%d", cql)}
	// services/cassandra.sh's test role, and logins that survive a node:
	// the roles on both nodes.
	login := testenv.Cassandra{Addr: hosts[0], User: "tagstream", Password: "tagstream-test-secret"}
	cl := login.NewCluster()
	cl.Hosts = hosts
	cl.Timeout = 30 * time.Second
	sess, err := cl.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Query(`ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 2}`).Exec(); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	repairStart := time.Now()
	if out, err := nodes[1].script(t, 5*time.Minute, "nodetool", "repair", "--full", "system_auth"); err != nil {
		t.Fatalf("repair system_auth: %v\n%s", err, out)
	}
	t.Logf("system_auth at 2 replicas, repaired in %v", time.Since(repairStart).Round(100*time.Millisecond))

	brokers := testBroker(t, 3, "counts", "top", "recent", "partials")
	p := newProducer(t, brokers)
	cfg := Config{Cassandra: hosts, User: login.User, Password: login.Password, Keyspace: "cluster",
		Replication: "NetworkTopologyStrategy:datacenter1=2", Consistency: gocql.One, LocalDC: "datacenter1",
		Brokers: brokers, CountsTopic: "counts", TopTopic: "top", RecentTopic: "recent", PartialsTopic: "partials",
		Group: "cluster", Interval: 200 * time.Millisecond, Timeout: 2 * time.Second,
		RetryMin: 200 * time.Millisecond, RetryMax: 2 * time.Second}
	initSchema(t, cfg)

	const keys = 20
	now := time.Now()
	rows := map[string]want{}
	round := func(n int64) {
		for i := range keys {
			k := fmt.Sprintf("c%02d", i)
			c := count("C"+k, n, now.Add(time.Duration(n)*time.Second))
			p.put("counts", k, c)
			rows[k] = want{count: &c}
		}
	}
	round(1)
	s := start(t, cfg)
	r := newReader(t, cfg)
	awaitRows(t, r, rows, time.Minute)
	before := s.Stats()

	nodes[0].kill(t)
	killed := time.Now()
	t.Logf("SIGKILLed %s", nodes[0].name)
	for n := int64(2); n <= 4; n++ {
		round(n)
		awaitRows(t, r, rows, time.Minute)
		t.Logf("round %d (%d rows changed) flushed and read %v after the kill", n, keys, time.Since(killed).Round(100*time.Millisecond))
	}
	after := s.Stats()
	if after.Flushes <= before.Flushes {
		t.Fatalf("no flush succeeded after the kill: %+v", after)
	}
	t.Logf("flushes %d ok, %d failed after the kill", after.Flushes-before.Flushes, after.FlushErrors-before.FlushErrors)

	// A reader and a snapshotter that start with the first node dead.
	fresh := newReader(t, cfg)
	awaitRows(t, fresh, rows, time.Minute)
	s.stop(t)
	round(5)
	start(t, cfg)
	awaitRows(t, fresh, rows, time.Minute)
	t.Logf("a new reader and snapshotter served %v after the kill", time.Since(killed).Round(100*time.Millisecond))
}
