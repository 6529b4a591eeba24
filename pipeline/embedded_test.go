package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/topology"
)

var testSecret = []byte(strings.Repeat("k", token.MinSecretLen))

type node struct {
	kafka, http string
	// cluster is the broker as a test client reaches it: with the admin
	// principal on the real Kafka.
	cluster kafka.Cluster
	// ns is the namespace of the test's topics: its own on the real Kafka.
	ns   topology.Namespace
	stop func()
}

// backend starts the pipeline for a test: on the embedded broker, or as a
// worker and an API against a real Kafka (TAGSTREAM_BROKERS). Every test
// below runs on both (one shared suite, as Watermill does for its pub/subs).
type backend struct {
	name string
	// namespace is where a test's topics live: none on the embedded
	// broker, whose data dir is the test's own; one of the test's own on
	// the real Kafka, which tests share.
	namespace func(t *testing.T) topology.Namespace
	// start runs the pipeline with the given partition count on ns.
	start func(t *testing.T, dir string, partitions int, ns topology.Namespace) node
}

var backends = []backend{
	{"embedded", func(*testing.T) topology.Namespace { return "" }, func(t *testing.T, dir string, partitions int, _ topology.Namespace) node {
		return startEmbedded(t, dir, partitions)
	}},
	{"kafka", func(t *testing.T) topology.Namespace { return kafkatest.Namespace(t) }, startReal},
}

func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// startEmbedded runs `tagstream run` in-process on dir with free ports.
func startEmbedded(t *testing.T, dir string, partitions int) node {
	t.Helper()
	return startEmbeddedWith(t, EmbeddedOptions{Data: dir, Cluster: kafka.Cluster{Partitions: partitions}, Rank: &testRank})
}

// testRank ranks with a short interval, so that a test sees a document
// or a trending refresh within a second of its cause.
var testRank = processors.RankOptions{Interval: time.Second}

// startEmbeddedWith is startEmbedded with more options: o's listen
// addresses, output, secret and Ready are the test's.
func startEmbeddedWith(t *testing.T, o EmbeddedOptions) node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	o.KafkaListen, o.HTTP, o.Out, o.API.Secret = "127.0.0.1:0", "127.0.0.1:0", io.Discard, testSecret
	o.Ready = func(k, h string) { ready <- [2]string{k, h} }
	go func() { done <- Embedded(ctx, o) }()
	n := awaitNode(t, ready, done, cancel)
	n.cluster = kafka.Cluster{Brokers: []string{n.kafka}}
	return n
}

// startReal runs a worker and an API in-process against the real Kafka,
// each as the principal of its role, so every test of the suite also
// checks that the grants of topology.Grants are enough on a real broker.
func startReal(t *testing.T, dir string, partitions int, ns topology.Namespace) node {
	t.Helper()
	return startRealWith(t, dir, partitions, ns, nil)
}

// startRealWith is startReal with the worker running only groups (base
// names; nil: all).
func startRealWith(t *testing.T, dir string, partitions int, ns topology.Namespace, groups []string) node {
	t.Helper()
	admin := kafkatest.Cluster(t)
	admin.Partitions = partitions
	worker, apiP, rank := kafkatest.As(t, topology.RoleWorker), kafkatest.As(t, topology.RoleAPI), kafkatest.As(t, topology.RoleRank)
	worker.Partitions, apiP.Partitions, rank.Partitions = partitions, partitions, partitions
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 3)
	go func() {
		done <- ignoreCanceled(Worker(ctx, worker, processors.Options{Gen: ns.Gen(0), Groups: groups}))
	}()
	ro := testRank
	ro.Gen = ns.Gen(0)
	go func() { done <- ignoreCanceled(Rank(ctx, rank, ro)) }()
	go func() {
		done <- ignoreCanceled(API(ctx, APIOptions{Cluster: apiP, Namespace: ns, HTTP: "127.0.0.1:0", API: api.Config{Secret: testSecret},
			Media:     MediaOptions{EmbeddedDir: filepath.Join(dir, "images"), KeysDir: dir},
			Listening: func(addr string) { ready <- [2]string{strings.Join(admin.Brokers, ","), addr} }}))
	}()
	n := awaitNode(t, ready, done, cancel)
	n.cluster, n.ns = admin, ns
	stop := n.stop
	n.stop = func() { stop(); <-done; <-done }
	return n
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func awaitNode(t *testing.T, ready chan [2]string, done chan error, cancel func()) node {
	t.Helper()
	var n node
	select {
	case a := <-ready:
		n = node{kafka: a[0], http: a[1]}
	case err := <-done:
		cancel()
		t.Fatalf("pipeline stopped before it was ready: %v", err)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatal("pipeline not ready after 90s")
	}
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pipeline: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop within 30s")
		}
	}
	t.Cleanup(n.stop)
	waitReady(t, n.http)
	return n
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("API not ready after 60s")
}

func bearer(t *testing.T, user string) string {
	t.Helper()
	tok, err := token.Mint(testSecret, user, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func do(t *testing.T, method, u, tok, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type pageBody struct {
	Hashtag   string          `json:"hashtag"`
	Key       string          `json:"key"`
	PostCount int64           `json:"post_count"`
	TopPosts  []api.PostJSON  `json:"top_posts"`
	UpdatedAt time.Time       `json:"updated_at"`
	Raw       json.RawMessage `json:"-"`
}

// awaitCount polls the page of tag until post_count is want.
func awaitCount(t *testing.T, addr, tag string, want int64) pageBody {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, b := do(t, http.MethodGet, "http://"+addr+"/v1/hashtags/"+url.PathEscape(tag), "", "")
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		if resp.StatusCode == http.StatusOK {
			var p pageBody
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("page of %s: %v: %s", tag, err, b)
			}
			if p.PostCount == want {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("hashtag %q: count never reached %d; last answer %s", tag, want, last)
	return pageBody{}
}

func TestEndToEnd(t *testing.T) { eachBackend(t, testEndToEnd) }

func testEndToEnd(t *testing.T, be backend) {
	n := be.start(t, t.TempDir(), 3, be.namespace(t))
	base := "http://" + n.http
	alice, bob := bearer(t, "alice"), bearer(t, "bob")

	// No image: a post's image must have been uploaded (TestPhotoFlow).
	resp, b := do(t, http.MethodPost, base+"/v1/posts", alice, `{"caption":"Golden hour #Sunset at the #beach #sunset","post_id":"p1"}`)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"hashtags":["sunset","beach"]`) {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	// The display form is the first one counted. Posts of different users
	// travel through different partitions in no set order, so wait for
	// alice's before bob's spells the tag another way.
	awaitCount(t, n.http, "sunset", 1)
	do(t, http.MethodPost, base+"/v1/posts", bob, `{"caption":"#SUNSET again"}`)

	// A third-party producer with franz-go's default partitioner, and a
	// poison record between two valid ones.
	cl, err := n.cluster.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec := func(key, value string) *kgo.Record {
		return &kgo.Record{Topic: n.ns.Posts(), Key: []byte(key), Value: []byte(value)}
	}
	if err := cl.ProduceSync(context.Background(),
		rec("carol", `{"type":"created","post_id":"c1","user_id":"carol","caption":"#ｓｕｎｓｅｔ from kcat"}`),
		rec("carol", `this is not json`),
		rec("dave", `{"type":"created","post_id":"d1","user_id":"dave","caption":"#Straße"}`),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p := awaitCount(t, n.http, "#SunSet", 3)
	if p.Hashtag != "Sunset" || p.Key != "sunset" {
		t.Errorf("page names %q/%q, want display Sunset, key sunset", p.Hashtag, p.Key)
	}
	awaitCount(t, n.http, "STRASSE", 1) // NFKC + case folding: Straße → strasse
	awaitCount(t, n.http, "beach", 1)

	// The poison record is on the dead-letters topic with its reason.
	cl.AddConsumeTopics(n.ns.DeadLetters())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	var dl events.DeadLetter
	if err := json.Unmarshal(fs.Records()[0].Value, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Reason != events.ReasonBadJSON || string(dl.Value) != "this is not json" || dl.Group != n.ns.Gen(0).Extractor() {
		t.Errorf("dead letter = %+v", dl)
	}

	// Top posts join the count on the same page, with derived, signed
	// image URLs (the ranking job's image ids are taken as they come).
	adm, _ := n.cluster.Client("test")
	defer adm.Close()
	doc := `{"hashtag":"#Sunset","computed_at":"2026-11-27T12:00:00Z","posts":[{"post_id":"p1","user_id":"alice","image_id":"img1","caption":"Golden hour"}]}`
	if err := adm.ProduceSync(context.Background(), &kgo.Record{Topic: n.ns.TopPosts(), Key: []byte("sunset"), Value: []byte(doc)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(p.TopPosts) == 0 {
		time.Sleep(100 * time.Millisecond)
		p = awaitCount(t, n.http, "sunset", 3)
	}
	if len(p.TopPosts) != 1 || !strings.HasPrefix(p.TopPosts[0].ImageURL, "/img/alice/img1?w=640&exp=") {
		t.Fatalf("top posts = %+v", p.TopPosts)
	}

	// Caching: ETag round trip gives 304.
	resp, _ = do(t, http.MethodGet, base+"/v1/hashtags/sunset", "", "")
	etag := resp.Header.Get("ETag")
	if !strings.Contains(resp.Header.Get("Cache-Control"), "stale-while-revalidate") || etag == "" {
		t.Fatalf("cache headers: %v", resp.Header)
	}
	resp, b = do(t, http.MethodGet, base+"/v1/hashtags/sunset", "", "", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Fatalf("If-None-Match: %d %q", resp.StatusCode, b)
	}
	resp, _ = do(t, http.MethodGet, base+"/v1/hashtags/neverseen", "", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown tag: %d", resp.StatusCode)
	}

	// Edit and delete move the counts.
	do(t, http.MethodPatch, base+"/v1/posts/p1", alice, `{"caption":"just the #beach now"}`)
	awaitCount(t, n.http, "sunset", 2)
	do(t, http.MethodDelete, base+"/v1/posts/p1", alice, "")
	awaitCount(t, n.http, "beach", 0)
}

// counts reads post_count of every tag through the API.
func countOf(t *testing.T, addr, tag string) int64 {
	resp, b := do(t, http.MethodGet, "http://"+addr+"/v1/hashtags/"+tag, "", "")
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	var p pageBody
	json.Unmarshal(b, &p)
	return p.PostCount
}

func produceN(t *testing.T, c kafka.Cluster, ns topology.Namespace, from, to int, tags ...string) {
	t.Helper()
	cl, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		user := fmt.Sprintf("user%d", i%17)
		caption := "post"
		for _, tag := range tags {
			caption += " #" + tag
		}
		v, _ := json.Marshal(events.PostEvent{Type: events.PostCreated, PostID: fmt.Sprintf("p%d", i), UserID: user, Caption: caption})
		recs = append(recs, &kgo.Record{Topic: ns.Posts(), Key: []byte(user), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Restarting the whole pipeline on its data dir keeps every count, and new
// posts keep counting from there (state recovered from local storage and the
// changelog of the embedded broker).
func TestRestartKeepsCounts(t *testing.T) { eachBackend(t, testRestartKeepsCounts) }

func testRestartKeepsCounts(t *testing.T, b backend) {
	dir := t.TempDir()
	ns := b.namespace(t)
	n := b.start(t, dir, 2, ns)
	produceN(t, n.cluster, n.ns, 0, 50, "persist", "Other")
	awaitCount(t, n.http, "persist", 50)
	n.stop()

	n = b.start(t, dir, 2, ns)
	if got := countOf(t, n.http, "persist"); got != 50 {
		t.Fatalf("after restart the count is %d, want 50", got)
	}
	produceN(t, n.cluster, n.ns, 50, 80, "persist")
	awaitCount(t, n.http, "persist", 80)
	awaitCount(t, n.http, "other", 50)
}

// Two workers in one consumer group split the partitions between them, and
// every post is counted exactly once while both run.
func TestTwoWorkersSplitPartitions(t *testing.T) {
	dir := t.TempDir()
	n := startEmbedded(t, dir, 4)                                 // its own worker is the first member
	c := kafka.Cluster{Brokers: []string{n.kafka}, Partitions: 4} // in-memory state: recovers from changelogs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- processors.Run(ctx, c, processors.Options{InstanceID: "second"}) }()
	defer func() { cancel(); <-done }()

	cl, _ := c.Client("test")
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var owners map[string]int
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		owners = map[string]int{}
		groups, err := adm.DescribeGroups(context.Background(), n.ns.Gen(0).Counts())
		if err == nil {
			for _, m := range groups[n.ns.Gen(0).Counts()].Members {
				if a, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range a.Topics {
						owners[m.MemberID] += len(tp.Partitions)
					}
				}
			}
		}
		if len(owners) == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(owners) != 2 {
		t.Fatalf("group %s has members %v, want 2 sharing partitions", n.ns.Gen(0).Counts(), owners)
	}
	for m, parts := range owners {
		if parts == 0 {
			t.Errorf("member %s owns no partition: %v", m, owners)
		}
	}
	produceN(t, n.cluster, n.ns, 0, 200, "split", "shared")
	awaitCount(t, n.http, "split", 200)
	awaitCount(t, n.http, "shared", 200)
	// Once both workers have processed everything, the count is still the
	// truth: no post was counted by both.
	actx, acancel := context.WithTimeout(context.Background(), time.Minute)
	defer acancel()
	if err := load.AwaitProcessed(actx, n.cluster, []string{n.ns.Gen(0).Extractor(), n.ns.Gen(0).Counts()}, nil); err != nil {
		t.Fatal(err)
	}
	awaitCount(t, n.http, "split", 200)
	if got := countOf(t, n.http, "split"); got != 200 {
		t.Fatalf("count moved past the truth to %d", got)
	}
}
