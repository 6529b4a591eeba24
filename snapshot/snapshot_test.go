package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/testenv"
)

// cassandraAddr is the real Cassandra of the tests, or a skip.
func cassandraAddr(t *testing.T) string {
	t.Helper()
	return testenv.Get(t, "TAGSTREAM_CASSANDRA", "a real Cassandra (services/cassandra.sh up starts one on 127.0.0.1:19042)")
}

var keyspaceSeq atomic.Int64

// testSession opens a session of the test's own.
func testSession(t *testing.T, addr string) *gocql.Session {
	t.Helper()
	cl := gocql.NewCluster(addr)
	cl.Timeout = 30 * time.Second
	cl.ConnectTimeout = 10 * time.Second
	s, err := cl.CreateSession()
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	return s
}

// testKeyspace names a keyspace of the test's own and drops it at the end.
func testKeyspace(t *testing.T, addr string) string {
	t.Helper()
	ks := fmt.Sprintf("snaptest_%d_%d", time.Now().UnixNano(), keyspaceSeq.Add(1))
	t.Cleanup(func() {
		s := testSession(t, addr)
		defer s.Close()
		if err := s.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec(); err != nil {
			t.Logf("drop keyspace %s: %v", ks, err)
		}
	})
	return ks
}

// setup gives a test its own keyspace and embedded broker with 3-partition
// topics counts and top (plus extra), a producer, and a Config using them.
func setup(t *testing.T, extra ...string) (Config, *producer) {
	t.Helper()
	addr := cassandraAddr(t)
	ks := testKeyspace(t, addr)
	brokers := testBroker(t, 3, append([]string{"counts", "top"}, extra...)...)
	return Config{Cassandra: []string{addr}, Keyspace: ks, Brokers: brokers, CountsTopic: "counts", TopTopic: "top",
		Group: "g-" + ks, Interval: 100 * time.Millisecond}, newProducer(t, brokers)
}

// testBroker starts an embedded broker with the given topics.
func testBroker(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// producer produces changelog records with franz-go's default (murmur2)
// partitioner, as goka's changelogs are partitioned.
type producer struct {
	t  *testing.T
	cl *kgo.Client
}

func newProducer(t *testing.T, brokers []string) *producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &producer{t, cl}
}

func (p *producer) put(topic, key string, v any) {
	p.t.Helper()
	var b []byte
	if v != nil {
		var err error
		if b, err = json.Marshal(v); err != nil {
			p.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		p.t.Fatalf("produce %s/%s: %v", topic, key, err)
	}
}

// count is a count as the counter writes it, with per-source watermarks
// (field "w") the snapshot does not store.
func count(display string, n int64, at time.Time) events.Count {
	return events.Count{Display: display, PostCount: n, UpdatedAt: at.UTC().Truncate(time.Millisecond),
		Watermarks: map[int32]int64{0: n, 3: 2 * n}}
}

func top(at time.Time, ids ...string) events.Top {
	t := events.Top{TopPosts: []events.PostSummary{}, ComputedAt: at.UTC().Truncate(time.Millisecond)}
	for i, id := range ids {
		ps := events.PostSummary{PostID: id, UserID: "u" + id, Caption: "caption of " + id}
		if i%2 == 0 {
			ps.ImageID = "img-" + id
			ps.CreatedAt = at.Add(-time.Hour).UTC().Truncate(time.Millisecond)
		}
		t.TopPosts = append(t.TopPosts, ps)
	}
	return t
}

// running is a Snapshotter running in the background.
type running struct {
	*Snapshotter
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			cfg.Logger = slog.Default()
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s, cancel, make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("snapshotter did not stop within 60 s")
		return nil
	}
}

// want is what a hashtag's row must hold; nil fields must be absent.
type want struct {
	count *events.Count
	top   *events.Top
}

// awaitRows waits until the Reader returns exactly the wanted rows.
func awaitRows(t *testing.T, r *Reader, rows map[string]want, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		last = ""
		for k, w := range rows {
			if msg := checkRow(r, k, w); msg != "" {
				last = msg
				break
			}
		}
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows did not converge within %s: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkRow(r *Reader, key string, w want) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	row, err := r.Get(ctx, key)
	if w.count == nil && w.top == nil {
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, page.ErrNotFound) {
			return fmt.Sprintf("%s: got %+v, %v; want not found", key, row, err)
		}
		return ""
	}
	if err != nil {
		return fmt.Sprintf("%s: %v", key, err)
	}
	switch {
	case (w.count == nil) != (row.Count == nil):
		return fmt.Sprintf("%s: count %+v, want %+v", key, row.Count, w.count)
	case w.count != nil && (row.Count.Display != w.count.Display || row.Count.PostCount != w.count.PostCount ||
		!row.Count.UpdatedAt.Equal(w.count.UpdatedAt) || row.Count.Watermarks != nil):
		return fmt.Sprintf("%s: count %+v, want %+v without watermarks", key, *row.Count, *w.count)
	case (w.top == nil) != (row.Top == nil):
		return fmt.Sprintf("%s: top %+v, want %+v", key, row.Top, w.top)
	}
	if w.top != nil {
		got, _ := json.Marshal(row.Top)
		exp, _ := json.Marshal(w.top)
		if string(got) != string(exp) {
			return fmt.Sprintf("%s: top %s, want %s", key, got, exp)
		}
	}
	return ""
}

func newReader(t *testing.T, cfg Config) *Reader {
	t.Helper()
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// writeTimes returns WRITETIME of post_count and of computed_at.
func writeTimes(t *testing.T, addr, ks, key string) (countTS, topTS int64) {
	t.Helper()
	s := testSession(t, addr)
	defer s.Close()
	var c, tp *int64
	if err := s.Query(`SELECT WRITETIME(post_count), WRITETIME(computed_at) FROM `+ks+`.hashtags WHERE hashtag = ?`, key).
		Scan(&c, &tp); err != nil {
		t.Fatal(err)
	}
	if c != nil {
		countTS = *c
	}
	if tp != nil {
		topTS = *tp
	}
	return countTS, topTS
}

func storedOffsets(t *testing.T, addr, ks string, gen int, topic string) map[int32]int64 {
	t.Helper()
	s := testSession(t, addr)
	defer s.Close()
	out := map[int32]int64{}
	iter := s.Query(`SELECT partition, next_offset FROM `+ks+`.changelog_offsets WHERE generation = ? AND topic = ?`, gen, topic).Iter()
	var p int32
	var n int64
	for iter.Scan(&p, &n) {
		out[p] = n
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func endOffsets(t *testing.T, brokers []string, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func TestSnapshotterWritesChangedColumnsAndResumes(t *testing.T) {
	cfg, p := setup(t)
	addr, ks, brokers := cfg.Cassandra[0], cfg.Keyspace, cfg.Brokers
	now := time.Now()

	rows := map[string]want{}
	for i := range 20 {
		k := fmt.Sprintf("tag%02d", i)
		var c events.Count
		for n := int64(1); n <= int64(i%4+1); n++ {
			c = count("Tag"+k, n, now.Add(time.Duration(n)*time.Second))
			p.put("counts", k, c)
		}
		w := want{count: &c}
		if i%3 == 0 {
			tp := top(now, k+"-p1", k+"-p2")
			p.put("top", k, tp)
			w.top = &tp
		}
		rows[k] = w
	}
	// A hashtag only the ranking job knows, and a count the table deleted.
	onlyTop := top(now, "x1")
	p.put("top", "onlytop", onlyTop)
	rows["onlytop"] = want{top: &onlyTop}
	p.put("counts", "gone", count("Gone", 1, now))
	p.put("counts", "gone", nil)
	rows["gone"] = want{}

	s := start(t, cfg)
	r := newReader(t, cfg)
	awaitRows(t, r, rows, 60*time.Second)
	if err := s.Healthy(); err != nil {
		t.Fatalf("healthy after convergence: %v", err)
	}

	// A count change rewrites the count columns only.
	c0, t0 := writeTimes(t, addr, ks, "tag00")
	if c0 == 0 || t0 == 0 || GenerationOf(c0) != 0 {
		t.Fatalf("write times %d, %d", c0, t0)
	}
	c := count("Tagtag00", 42, now.Add(time.Minute))
	p.put("counts", "tag00", c)
	rows["tag00"] = want{count: &c, top: rows["tag00"].top}
	awaitRows(t, r, rows, 30*time.Second)
	c1, t1 := writeTimes(t, addr, ks, "tag00")
	if c1 <= c0 || t1 != t0 {
		t.Fatalf("after a count change: count written at %d (was %d), top at %d (was %d): want the top untouched", c1, c0, t1, t0)
	}

	// Offsets are stored once the rows are: wait for them to reach the end.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.Stats()
		if st.Unflushed == 0 && st.KeysPending == 0 && st.Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offsets not flushed: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, topic := range []string{"counts", "top"} {
		if got, end := storedOffsets(t, addr, ks, 0, topic), endOffsets(t, brokers, topic); fmt.Sprint(got) != fmt.Sprint(nonZero(end)) {
			t.Fatalf("%s: stored offsets %v, end offsets %v", topic, got, end)
		}
	}
	st := s.Stats()
	if st.Records != 50+7+1+2+1 || st.RowsWritten == 0 || st.Flushes == 0 || st.LastFlush.IsZero() {
		t.Fatalf("stats %+v", st)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}

	// Changes while no snapshotter runs; the next one resumes at the
	// stored offsets and reads only those.
	for i := range 5 {
		k := fmt.Sprintf("tag%02d", i)
		c := count("Tag"+k, 100+int64(i), now.Add(2*time.Minute))
		p.put("counts", k, c)
		rows[k] = want{count: &c, top: rows[k].top}
	}
	s2 := start(t, cfg)
	awaitRows(t, r, rows, 60*time.Second)
	if got := s2.Stats().Records; got != 5 {
		t.Fatalf("restarted snapshotter read %d records, want the 5 new ones", got)
	}

	// A stale writer (a zombie owner, a re-read) cannot rewind a row: its
	// older record has an older write timestamp.
	stale := pending{count: countChange(0, 1)}
	stale.count.count.Display = "stale"
	if err := s2.writeRow(context.Background(), s2.session.Load(), "tag01", stale); err != nil {
		t.Fatal(err)
	}
	awaitRows(t, r, map[string]want{"tag01": rows["tag01"]}, time.Second)
}

// nonZero drops partitions that never received a record: nothing is
// stored for them.
func nonZero(m map[int32]int64) map[int32]int64 {
	out := map[int32]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestGenerationSwitchNeverRewinds(t *testing.T) {
	cfg, p := setup(t, "counts-g1", "top-g1")
	addr, ks := cfg.Cassandra[0], cfg.Keyspace
	now := time.Now()

	// Generation 0 reaches high offsets for "a".
	var c0 events.Count
	for n := int64(1); n <= 50; n++ {
		c0 = count("A", n, now)
		p.put("counts", "a", c0)
	}
	t0 := top(now, "old")
	p.put("top", "a", t0)
	p.put("counts", "b", count("B", 7, now))
	s0 := start(t, cfg)
	r := newReader(t, cfg)
	b0 := count("B", 7, now)
	awaitRows(t, r, map[string]want{"a": {count: &c0, top: &t0}, "b": {count: &b0}}, 60*time.Second)
	if err := s0.stop(t); err != nil {
		t.Fatal(err)
	}

	// A replay rebuilt generation 1, whose offsets start again at 0.
	c1 := count("A", 3, now.Add(time.Second))
	p.put("counts-g1", "a", c1)
	t1 := top(now.Add(time.Second), "new")
	p.put("top-g1", "a", t1)
	cfg1 := cfg
	cfg1.CountsTopic, cfg1.TopTopic, cfg1.Generation = "counts-g1", "top-g1", 1
	s1 := start(t, cfg1)
	// "b" is not in generation 1: it keeps its generation-0 row.
	awaitRows(t, r, map[string]want{"a": {count: &c1, top: &t1}, "b": {count: &b0}}, 60*time.Second)
	if ct, tt := writeTimes(t, addr, ks, "a"); GenerationOf(ct) != 1 || GenerationOf(tt) != 1 {
		t.Fatalf("write times %d, %d: want generation 1", ct, tt)
	}

	// A generation-0 writer still around loses whatever its offset.
	old := pending{count: &change{ts: WriteTimestamp(0, MaxOffset), src: pc, count: countColumns{c0.Display, c0.PostCount, c0.UpdatedAt}}}
	if err := s1.writeRow(context.Background(), s1.session.Load(), "a", old); err != nil {
		t.Fatal(err)
	}
	awaitRows(t, r, map[string]want{"a": {count: &c1, top: &t1}}, time.Second)

	// And a snapshotter configured with generation 0 refuses to start.
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, ErrOldGeneration) {
		t.Fatalf("generation-0 snapshotter after generation 1: %v, want ErrOldGeneration", err)
	}
}
