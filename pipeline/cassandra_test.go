package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/replay"
	"github.com/tagstream/tagstream/snapshot"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// testKeyspace names a keyspace of the test's own on the real Cassandra
// and drops it at the end.
func testKeyspace(t *testing.T, addr string) string {
	t.Helper()
	ks := fmt.Sprintf("pipetest_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		cl := gocql.NewCluster(addr)
		cl.Timeout = 30 * time.Second
		s, err := cl.CreateSession()
		if err != nil {
			t.Logf("drop keyspace %s: %v", ks, err)
			return
		}
		defer s.Close()
		if err := s.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec(); err != nil {
			t.Logf("drop keyspace %s: %v", ks, err)
		}
	})
	return ks
}

// `tagstream run --cassandra` snapshots the tables; an API with
// --source cassandra then serves the same hashtag page as the views, byte
// for byte, with the same caching headers.
func TestAPISourceCassandra(t *testing.T) {
	addr := testenv.Get(t, "TAGSTREAM_CASSANDRA", "a real Cassandra (services/cassandra.sh up starts one on 127.0.0.1:19042)")
	ks := testKeyspace(t, addr)
	dir := t.TempDir()
	n := startEmbeddedWith(t, EmbeddedOptions{Data: dir, Cluster: kafka.Cluster{Partitions: 3},
		Snapshot: &snapshot.Config{Cassandra: []string{addr}, Keyspace: ks, Interval: 200 * time.Millisecond}})
	base := "http://" + n.http

	id := upload(t, base, "alice", photo(t, 800, 600))
	for i, user := range []string{"alice", "bob", "carol"} {
		body := fmt.Sprintf(`{"caption":"#Snapshotted %d","post_id":"p%d"}`, i, i)
		if user == "alice" {
			body = fmt.Sprintf(`{"caption":"#Snapshotted %d","post_id":"p%d","image_id":%q}`, i, i, id)
		}
		if resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, user), body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	doc := fmt.Sprintf(`{"hashtag":"snapshotted","computed_at":"2026-11-27T12:00:00Z","posts":[`+
		`{"post_id":"p0","user_id":"alice","image_id":%q,"caption":"#Snapshotted 0","created_at":"2026-11-27T11:00:00.123Z"},`+
		`{"post_id":"p1","user_id":"bob","caption":"#Snapshotted 1"}]}`, id)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topology.Namespace("").TopPosts(), Key: []byte("snapshotted"), Value: []byte(doc)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if p := awaitCount(t, n.http, "snapshotted", 3); len(p.TopPosts) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("top posts never reached the views")
		}
	}

	// The stateless API: pages from Cassandra, image URLs signed with the
	// same keys (from the same data dir; replicas share --image-keys).
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ignoreCanceled(API(ctx, APIOptions{Cluster: kafka.Cluster{Brokers: []string{n.kafka}, Partitions: 3},
			HTTP: "127.0.0.1:0", API: api.Config{Secret: testSecret}, Media: MediaOptions{KeysDir: dir},
			Source: SourceCassandra, Snapshot: snapshot.Config{Cassandra: []string{addr}, Keyspace: ks},
			Listening: func(a string) { ready <- [2]string{n.kafka, a} }}))
	}()
	c := awaitNode(t, ready, done, cancel)

	// Same JSON once the snapshotter has flushed (every 200 ms).
	var views, cass []byte
	var vr, cr *http.Response
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		vr, views = do(t, http.MethodGet, base+"/v1/hashtags/snapshotted", "", "")
		cr, cass = do(t, http.MethodGet, "http://"+c.http+"/v1/hashtags/%23SNAPSHOTTED", "", "")
		if vr.StatusCode == 200 && cr.StatusCode == 200 && bytes.Equal(views, cass) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pages differ after 60 s:\nviews     %d %s\ncassandra %d %s", vr.StatusCode, views, cr.StatusCode, cass)
		}
	}
	t.Logf("both sources: %s", cass)
	for _, h := range []string{"Cache-Control", "ETag", "Content-Type"} {
		if vr.Header.Get(h) != cr.Header.Get(h) || cr.Header.Get(h) == "" {
			t.Errorf("%s: views %q, cassandra %q", h, vr.Header.Get(h), cr.Header.Get(h))
		}
	}
	if resp, _ := do(t, http.MethodGet, "http://"+c.http+"/v1/hashtags/snapshotted", "", "", "If-None-Match", vr.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the views' ETag: %d", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodGet, "http://"+c.http+"/v1/hashtags/neverseen", "", ""); resp.StatusCode != http.StatusNotFound ||
		resp.Header.Get("Cache-Control") != "public, max-age=5" {
		t.Errorf("unknown hashtag from cassandra: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, b := do(t, http.MethodGet, base+"/readyz", "", ""); !bytes.Contains(b, []byte(`"snapshot":"ok"`)) {
		t.Errorf("run's /readyz does not report the snapshotter: %d %s", resp.StatusCode, b)
	}
}

// With Cassandra cut off mid-run (a dialer the test owns closes and
// refuses the snapshotter's connections; the shared Cassandra stays up),
// `tagstream run --cassandra` keeps counting and serving pages, /readyz
// stays 200 but names the snapshotter as failing, and once the connections
// are let through again the snapshot row converges to the view's count.
func TestCassandraOutageKeepsServing(t *testing.T) {
	addr := testenv.Get(t, "TAGSTREAM_CASSANDRA", "a real Cassandra (services/cassandra.sh up starts one on 127.0.0.1:19042)")
	faults := &testenv.Faults{}
	ks := testKeyspace(t, addr)
	n := startEmbeddedWith(t, EmbeddedOptions{Data: t.TempDir(), Cluster: kafka.Cluster{Partitions: 3},
		Snapshot: &snapshot.Config{Cassandra: []string{addr}, Keyspace: ks, Interval: 200 * time.Millisecond,
			Timeout: time.Second, RetryMax: 2 * time.Second, Dialer: faults}})
	base := "http://" + n.http
	post := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"caption":"#outage %d","post_id":"o%d"}`, i, i)
		if resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, "alice"), body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
	}
	reader, err := snapshot.NewReader(snapshot.Config{Cassandra: []string{addr}, Keyspace: ks})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	snapshotCount := func() int64 {
		p, err := reader.Page(context.Background(), "outage")
		if err != nil {
			return -1
		}
		return p.PostCount
	}
	post(0)
	awaitCount(t, n.http, "outage", 1)
	for deadline := time.Now().Add(30 * time.Second); snapshotCount() != 1; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first count never reached Cassandra")
		}
	}

	faults.Break()
	for i := 1; i <= 5; i++ {
		post(i)
	}
	awaitCount(t, n.http, "outage", 6) // the pipeline and the API go on
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, b := do(t, http.MethodGet, base+"/readyz", "", "")
		if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"snapshot"`)) && !bytes.Contains(b, []byte(`"snapshot":"ok"`)) {
			t.Logf("readyz during the outage: %s", b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz during the outage: %d %s; want 200 naming the failing snapshotter", resp.StatusCode, b)
		}
	}

	faults.Heal()
	for deadline := time.Now().Add(90 * time.Second); snapshotCount() != 6; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after Cassandra came back the snapshot holds %d, the view 6", snapshotCount())
		}
	}
	if resp, b := do(t, http.MethodGet, base+"/readyz", "", ""); !bytes.Contains(b, []byte(`"snapshot":"ok"`)) {
		t.Errorf("readyz after the outage: %d %s", resp.StatusCode, b)
	}
}

// After `tagstream replay`, the snapshotter inside `tagstream run` follows
// the new generation: the row keeps converging to the view, now written
// with generation 1 in its cells' timestamps, which win over generation 0.
func TestSnapshotFollowsReplay(t *testing.T) {
	addr := testenv.Get(t, "TAGSTREAM_CASSANDRA", "a real Cassandra (services/cassandra.sh up starts one on 127.0.0.1:19042)")
	ks := testKeyspace(t, addr)
	n := startEmbeddedWith(t, EmbeddedOptions{Data: t.TempDir(), Cluster: kafka.Cluster{Partitions: 3},
		Snapshot: &snapshot.Config{Cassandra: []string{addr}, Keyspace: ks, Interval: 200 * time.Millisecond}})
	base := "http://" + n.http
	post := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"caption":"#regen %d","post_id":"r%d"}`, i, i)
		if resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, "alice"), body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
	}
	cl := gocql.NewCluster(addr)
	cl.Timeout = 10 * time.Second
	s, err := cl.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	awaitRow := func(count int64, gen int) {
		t.Helper()
		var got, wt int64
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			err := s.Query(`SELECT post_count, WRITETIME(post_count) FROM `+ks+`.hashtags WHERE hashtag = 'regen'`).Scan(&got, &wt)
			if err == nil && got == count && snapshot.GenerationOf(wt) == gen {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("snapshot row: post_count %d of generation %d (%v), want %d of generation %d", got, snapshot.GenerationOf(wt), err, count, gen)
			}
		}
	}
	for i := range 3 {
		post(i)
	}
	awaitCount(t, n.http, "regen", 3)
	awaitRow(3, 0)

	var progress bytes.Buffer
	if _, err := replay.Run(context.Background(), replay.Options{Cluster: kafka.Cluster{Brokers: []string{n.kafka}, Partitions: 3},
		Progress: &progress, Every: 500 * time.Millisecond}); err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	post(3)
	awaitCount(t, n.http, "regen", 4)
	awaitRow(4, 1)
}
