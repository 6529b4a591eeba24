package snapshot

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/gocql/gocql"
)

// The driver is set up for a cluster, not gocql's defaults (round robin
// over every node, no retry): requests go to a key's replicas first, in
// the local data centre when one is named, and a failed one is retried on
// the next host.
func TestClusterPolicies(t *testing.T) {
	for _, c := range []struct {
		dc, fallback string
	}{{"", "*gocql.roundRobinHostPolicy"}, {"dc-east", "*gocql.dcAwareRR"}} {
		cfg, err := Config{LocalDC: c.dc}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		cl := cfg.cluster()
		p := reflect.ValueOf(cl.PoolConfig.HostSelectionPolicy)
		if got := fmt.Sprintf("%T", cl.PoolConfig.HostSelectionPolicy); got != "*gocql.tokenAwareHostPolicy" {
			t.Fatalf("LocalDC %q: host policy %s, want token-aware", c.dc, got)
		}
		if got := p.Elem().FieldByName("fallback").Elem().Type().String(); got != c.fallback {
			t.Errorf("LocalDC %q: token-aware over %s, want %s", c.dc, got, c.fallback)
		}
		if r, ok := cl.RetryPolicy.(*gocql.ExponentialBackoffRetryPolicy); !ok || r.NumRetries != retries {
			t.Errorf("retry policy %#v", cl.RetryPolicy)
		}
		if cl.Consistency != gocql.LocalQuorum {
			t.Errorf("consistency %v, want LOCAL_QUORUM by default", cl.Consistency)
		}
	}
}

// The data centre the tests name is the test node's: DC-aware requests
// reach it as local, not as a remote fallback.
func TestLocalDCIsTheNodes(t *testing.T) {
	cfg, _ := setup(t)
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var dc string
	if err := r.sess.Query("SELECT data_center FROM system.local").Scan(&dc); err != nil {
		t.Fatal(err)
	}
	if dc != cfg.LocalDC {
		t.Errorf("the test node is in %q, the tests name %q", dc, cfg.LocalDC)
	}
}
