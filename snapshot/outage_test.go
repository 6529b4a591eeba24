package snapshot

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// cassandraScript runs services/cassandra.sh with arg (up or down).
func cassandraScript(t *testing.T, arg string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "services", "cassandra.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, script, arg).CombinedOutput()
	if err != nil {
		t.Fatalf("cassandra.sh %s: %v\n%s", arg, err, out)
	}
	t.Logf("cassandra.sh %s took %s", arg, time.Since(start).Round(time.Second))
}

// TestCassandraOutage stops the real Cassandra under a running snapshotter
// (services/cassandra.sh down), keeps changing counts, starts it again and
// checks that consumption went on, health reported the outage, and every
// row converged to its latest value. It restarts Cassandra even if it fails.
// Under `go test ./...` it can fail other packages' Cassandra tests running
// in parallel; it takes about as long as a Cassandra start.
func TestCassandraOutage(t *testing.T) {
	cfg, p := setup(t)
	cfg.Interval, cfg.RetryMin, cfg.RetryMax, cfg.Timeout = 200*time.Millisecond, 200*time.Millisecond, 2*time.Second, 2*time.Second
	now := time.Now()

	const keys = 50
	rows := map[string]want{}
	for i := range keys {
		k := fmt.Sprintf("out%02d", i)
		c := count("Out"+k, 1, now)
		p.put("counts", k, c)
		rows[k] = want{count: &c}
	}
	s := start(t, cfg)
	r := newReader(t, cfg)
	awaitRows(t, r, rows, 60*time.Second)

	down := true
	t.Cleanup(func() {
		if down {
			cassandraScript(t, "up")
		}
	})
	cassandraScript(t, "down")

	// Changes during the outage: consumed, held one per key.
	before := s.Stats()
	for n := int64(2); n <= 6; n++ {
		for i := range keys {
			k := fmt.Sprintf("out%02d", i)
			c := count("Out"+k, n, now.Add(time.Duration(n)*time.Second))
			p.put("counts", k, c)
			rows[k] = want{count: &c}
		}
	}
	tp := top(now, "during-outage")
	p.put("top", "out07", tp)
	rows["out07"] = want{count: rows["out07"].count, top: &tp}
	deadline := time.Now().Add(60 * time.Second)
	var during Stats
	for {
		during = s.Stats()
		if during.Records == before.Records+5*keys+1 && during.FlushErrors > before.FlushErrors && s.Healthy() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("during the outage: stats %+v (before %+v), healthy %v", during, before, s.Healthy())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if during.KeysPending == 0 || during.KeysPending > keys {
		t.Fatalf("%d keys pending during the outage, want 1..%d (one per key)", during.KeysPending, keys)
	}
	if during.Unflushed == 0 {
		t.Fatal("offsets advanced while no row could be written")
	}
	t.Logf("during the outage: %v", s.Healthy())

	cassandraScript(t, "up")
	down = false
	up := time.Now()
	awaitRows(t, r, rows, 2*time.Minute)
	deadline = time.Now().Add(30 * time.Second)
	for {
		st := s.Stats()
		if s.Healthy() == nil && st.KeysPending == 0 && st.Unflushed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: stats %+v, healthy %v", st, s.Healthy())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("converged %s after Cassandra answered; stats %+v", time.Since(up).Round(time.Millisecond), s.Stats())
}
