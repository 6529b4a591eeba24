package snapshot

import (
	"fmt"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// TestCassandraOutage cuts a running snapshotter off the real Cassandra
// (every connection closed, new ones refused, by a dialer the test owns:
// the shared Cassandra stays up for the tests running beside this one),
// keeps changing counts, lets it reconnect and checks that consumption
// went on, health reported the outage, and every row converged to its
// latest value.
func TestCassandraOutage(t *testing.T) {
	cfg, p := setup(t)
	cfg.Interval, cfg.RetryMin, cfg.RetryMax, cfg.Timeout = 200*time.Millisecond, 200*time.Millisecond, 2*time.Second, 2*time.Second
	faults := &testenv.Faults{}
	cfg.Dialer = faults
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

	faults.Break()

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
	rc := recent(now, "during-outage")
	p.put("recent", "out07", rc)
	rows["out07"] = want{count: rows["out07"].count, top: &tp, recent: &rc}
	deadline := time.Now().Add(60 * time.Second)
	var during Stats
	for {
		during = s.Stats()
		if during.Records == before.Records+5*keys+2 && during.FlushErrors > before.FlushErrors && s.Healthy() != nil {
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

	faults.Heal()
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
