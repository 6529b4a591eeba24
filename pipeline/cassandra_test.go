package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/replay"
	"github.com/tagstream/tagstream/snapshot"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// testCassandra is the real Cassandra, logged in, with a keyspace of the
// test's own (no schema yet) that is dropped at the end.
func testCassandra(t *testing.T) snapshot.Config {
	t.Helper()
	c := testenv.GetCassandra(t)
	ks := fmt.Sprintf("pipetest_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		cl := c.NewCluster()
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
	return snapshot.Config{Cassandra: []string{c.Addr}, User: c.User, Password: c.Password, Keyspace: ks}
}

// initSchema is `tagstream snapshot --init-schema` on cfg.
func initSchema(t *testing.T, cfg snapshot.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := snapshot.InitSchema(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// The snapshot serves what the views serve: `tagstream run --cassandra`
// (embedded), or on the real Kafka `tagstream snapshot` as the reader
// principal beside a worker, the ranking and an API, copies the served
// topics into Cassandra; an API with --source cassandra then serves the
// same hashtag page (top posts ranked by likes, recent posts, like counts)
// and the same GET /v1/trending as the views, byte for byte, with the same
// caching headers.
func TestAPISourceCassandra(t *testing.T) { eachBackend(t, testAPISourceCassandra) }

func testAPISourceCassandra(t *testing.T, be backend) {
	cass := testCassandra(t)
	dir := t.TempDir()
	snap := cass
	snap.Interval = 200 * time.Millisecond
	var n node
	var apiCluster kafka.Cluster // the cassandra API's Kafka: it still takes posts
	var snapReady string         // the /readyz that reports the snapshotter
	if be.name == "embedded" {
		n = startEmbeddedWith(t, EmbeddedOptions{Data: dir, Cluster: kafka.Cluster{Partitions: 3}, Rank: &testRank, Snapshot: &snap})
		apiCluster = kafka.Cluster{Brokers: []string{n.kafka}, Partitions: 3}
		snapReady = "http://" + n.http + "/readyz"
	} else {
		n = be.start(t, dir, 3, be.namespace(t))
		reader := kafkatest.As(t, topology.RoleReader)
		reader.Partitions = 3
		initSchema(t, snap) // the operator's step: a snapshotter only checks
		snapReady = "http://" + startSnapshotProcess(t, SnapshotOptions{Snapshot: snap, Cluster: reader, Namespace: n.ns}) + "/readyz"
		apiCluster = kafkatest.As(t, topology.RoleAPI)
		apiCluster.Partitions = 3
	}
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
	// Likes once the posts are in (a like of a post the extractor has
	// not seen yet is one of an unknown post), from a plain Kafka client.
	awaitCount(t, n.http, "snapshotted", 3)
	cl, err := n.cluster.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var likes []*kgo.Record
	for _, l := range [][3]string{{"alice", "p0", "bob"}, {"alice", "p0", "carol"}, {"bob", "p1", "dave"}} {
		v, err := json.Marshal(events.LikeEvent{Type: events.Liked, UserID: l[0], PostID: l[1], LikerID: l[2], TS: time.Now().UTC().Truncate(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		likes = append(likes, &kgo.Record{Topic: n.ns.Likes(), Key: []byte(l[0]), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), likes...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The views' page: the top ranked by likes, every list with its likes.
	want := map[string]int64{"p0": 2, "p1": 1, "p2": 0}
	var pg api.PageJSON
	testenv.Await(t, time.Minute, "the views' page with the top ranked by likes and 3 recent posts with their likes", func() bool {
		resp, b := do(t, http.MethodGet, base+"/v1/hashtags/snapshotted", "", "")
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &pg) != nil || len(pg.TopPosts) != 2 || len(pg.RecentPosts) != 3 {
			return false
		}
		for _, p := range append(pg.TopPosts, pg.RecentPosts...) {
			if p.LikeCount != want[p.PostID] {
				return false
			}
		}
		return pg.TopPosts[0].PostID == "p0" && pg.TopPosts[0].ImageURL != ""
	})
	testenv.Await(t, time.Minute, "the views' trending list with snapshotted's 3 posts", func() bool {
		resp, b := do(t, http.MethodGet, base+"/v1/trending", "", "")
		var tr api.TrendingJSON
		return resp.StatusCode == http.StatusOK && json.Unmarshal(b, &tr) == nil &&
			slices.ContainsFunc(tr.Hashtags, func(h events.Trending) bool { return h.Key == "snapshotted" && h.Posts == 3 })
	})

	// The stateless API: pages from Cassandra, image URLs signed with the
	// same keys (from the same data dir; replicas share --image-keys).
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ignoreCanceled(API(ctx, APIOptions{Cluster: apiCluster, Namespace: n.ns,
			HTTP: "127.0.0.1:0", API: api.Config{Secret: testSecret}, Media: MediaOptions{KeysDir: dir},
			Source: SourceCassandra, Snapshot: cass,
			Listening: func(a string) { ready <- [2]string{n.kafka, a} }}))
	}()
	c := awaitNode(t, ready, done, cancel)

	// Same bodies once the snapshotter has flushed (every 200 ms). The
	// trending partials change every second (their computed_at), so the
	// two sources agree between the ranking's refresh and the next flush.
	for _, path := range [][2]string{{"/v1/hashtags/snapshotted", "/v1/hashtags/%23SNAPSHOTTED"}, {"/v1/trending", "/v1/trending"}} {
		var views, cass []byte
		var vr, cr *http.Response
		check := func() bool {
			vr, views = do(t, http.MethodGet, base+path[0], "", "")
			cr, cass = do(t, http.MethodGet, "http://"+c.http+path[1], "", "")
			return vr.StatusCode == 200 && cr.StatusCode == 200 && bytes.Equal(views, cass) && bytes.Contains(cass, []byte(`"snapshotted"`))
		}
		func() {
			// Await fails with Goexit, which runs this: show both bodies.
			defer func() {
				if t.Failed() {
					t.Logf("%s:\nviews     %d %s\ncassandra %d %s", path[0], vr.StatusCode, views, cr.StatusCode, cass)
				}
			}()
			testenv.Await(t, time.Minute, path[0]+" the same from both sources", check)
		}()
		t.Logf("%s from both sources: %s", path[0], cass)
		for _, h := range []string{"Cache-Control", "ETag", "Content-Type"} {
			if vr.Header.Get(h) != cr.Header.Get(h) || cr.Header.Get(h) == "" {
				t.Errorf("%s: %s: views %q, cassandra %q", path[0], h, vr.Header.Get(h), cr.Header.Get(h))
			}
		}
	}
	// The page as the views served it above: likes and recent posts.
	if !bytes.Contains(mustGet(t, "http://"+c.http+"/v1/hashtags/snapshotted"), []byte(`"like_count":2`)) {
		t.Error("the page from Cassandra has no like count of 2")
	}
	resp, _ := do(t, http.MethodGet, base+"/v1/hashtags/snapshotted", "", "")
	if resp, _ := do(t, http.MethodGet, "http://"+c.http+"/v1/hashtags/snapshotted", "", "", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the views' ETag: %d", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodGet, "http://"+c.http+"/v1/hashtags/neverseen", "", ""); resp.StatusCode != http.StatusNotFound ||
		resp.Header.Get("Cache-Control") != "public, max-age=5" {
		t.Errorf("unknown hashtag from cassandra: %d %v", resp.StatusCode, resp.Header)
	}
	resp, b := do(t, http.MethodGet, snapReady, "", "")
	if be.name == "embedded" && !bytes.Contains(b, []byte(`"snapshot":"ok"`)) || resp.StatusCode != http.StatusOK {
		t.Errorf("the snapshotter's /readyz: %d %s", resp.StatusCode, b)
	}
}

// mustGet returns the body of a 200 answer to GET u.
func mustGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, b := do(t, http.MethodGet, u, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// startSnapshotProcess runs `tagstream snapshot` (Snapshot) in-process
// until the test ends and returns its HTTP address.
func startSnapshotProcess(t *testing.T, o SnapshotOptions) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	o.HTTP, o.Listening = "127.0.0.1:0", func(a string) { ready <- a }
	go func() { done <- ignoreCanceled(Snapshot(ctx, o)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("snapshot process: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		done <- err // for the cleanup, which waits for it
		t.Fatalf("snapshot process stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("snapshot process not listening after 30 s")
	}
	return ""
}

// With Cassandra cut off mid-run (a dialer the test owns closes and
// refuses the snapshotter's connections; the shared Cassandra stays up),
// `tagstream run --cassandra` keeps counting and serving pages, /readyz
// stays 200 but names the snapshotter as failing, and once the connections
// are let through again the snapshot row converges to the view's count.
func TestCassandraOutageKeepsServing(t *testing.T) {
	faults := &testenv.Faults{}
	cass := testCassandra(t)
	snap := cass
	snap.Interval, snap.Timeout, snap.RetryMax, snap.Dialer = 200*time.Millisecond, time.Second, 2*time.Second, faults
	n := startEmbeddedWith(t, EmbeddedOptions{Data: t.TempDir(), Cluster: kafka.Cluster{Partitions: 3}, Snapshot: &snap})
	base := "http://" + n.http
	post := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"caption":"#outage %d","post_id":"o%d"}`, i, i)
		if resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, "alice"), body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
	}
	// The embedded snapshotter creates the schema (run needs no steps);
	// a reader needs it there.
	var reader *snapshot.Reader
	testenv.Await(t, time.Minute, "the embedded snapshotter's schema", func() bool {
		var err error
		reader, err = snapshot.NewReader(cass)
		return err == nil
	})
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
	// The row is visible as soon as its write lands; the snapshotter
	// records its flush as a success once the whole flush is done.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, b := do(t, http.MethodGet, base+"/readyz", "", "")
		if bytes.Contains(b, []byte(`"snapshot":"ok"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz 30 s after the snapshot caught up: %d %s", resp.StatusCode, b)
		}
	}
}

// After `tagstream replay`, the snapshotter inside `tagstream run` follows
// the new generation: the row keeps converging to the view, now written
// with generation 1 in its cells' timestamps, which win over generation 0.
func TestSnapshotFollowsReplay(t *testing.T) {
	cass := testCassandra(t)
	ks := cass.Keyspace
	snap := cass
	snap.Interval = 200 * time.Millisecond
	n := startEmbeddedWith(t, EmbeddedOptions{Data: t.TempDir(), Cluster: kafka.Cluster{Partitions: 3}, Snapshot: &snap})
	base := "http://" + n.http
	post := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"caption":"#regen %d","post_id":"r%d"}`, i, i)
		if resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, "alice"), body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
	}
	cl := testenv.GetCassandra(t).NewCluster()
	cl.Timeout = 10 * time.Second
	s, err := cl.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The row's count and its recent list (the newest post first), both
	// written by generation gen.
	awaitRow := func(count int64, gen int) {
		t.Helper()
		var got, wt, rt int64
		var recent []map[string]any
		var err error
		// Await fails with Goexit, which runs this: say what the row held.
		defer func() {
			if t.Failed() {
				t.Logf("last read: post_count %d of generation %d, recent posts %v of generation %d, %v",
					got, snapshot.GenerationOf(wt), recent, snapshot.GenerationOf(rt), err)
			}
		}()
		testenv.Await(t, time.Minute, fmt.Sprintf("the snapshot row at %d posts, written by generation %d", count, gen), func() bool {
			err = s.Query(`SELECT post_count, WRITETIME(post_count), recent_posts, WRITETIME(recent_updated_at) FROM `+ks+`.hashtags WHERE hashtag = 'regen'`).
				Scan(&got, &wt, &recent, &rt)
			return err == nil && got == count && snapshot.GenerationOf(wt) == gen && snapshot.GenerationOf(rt) == gen &&
				len(recent) == int(count) && slices.ContainsFunc(recent, func(p map[string]any) bool { return p["post_id"] == fmt.Sprintf("r%d", count-1) })
		})
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

// An API replica started before `snapshot --init-schema` stays up, not
// ready, its /readyz naming the step to run; once the schema is there it
// becomes ready without a restart.
func TestAPISourceCassandraWaitsForInitSchema(t *testing.T) {
	snap := testCassandra(t)
	addr, _ := startCassandraAPI(t, snap)
	awaitNotReady(t, addr, "tagstream snapshot --init-schema")
	initSchema(t, snap)
	testenv.Await(t, time.Minute, "readyz 200 after --init-schema", func() bool {
		resp, _ := do(t, http.MethodGet, addr+"/readyz", "", "")
		return resp.StatusCode == http.StatusOK
	})
}
