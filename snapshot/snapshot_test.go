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

var keyspaceSeq atomic.Int64

// testSession opens a session of the test's own on the test Cassandra at
// addr, logged in as the tests' role.
func testSession(t *testing.T, addr string) *gocql.Session {
	t.Helper()
	c := testenv.GetCassandra(t)
	c.Addr = addr
	cl := c.NewCluster()
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

// setup gives a test its own keyspace, its schema made by InitSchema (the
// operator's --init-schema), and embedded broker with 3-partition topics
// counts, top, recent and partials (plus extra), a producer, and a Config
// using them.
func setup(t *testing.T, extra ...string) (Config, *producer) {
	t.Helper()
	cfg, p := setupBare(t, extra...)
	initSchema(t, cfg)
	return cfg, p
}

// setupBare is setup with an empty keyspace name: no schema.
func setupBare(t *testing.T, extra ...string) (Config, *producer) {
	t.Helper()
	c := testenv.GetCassandra(t)
	ks := testKeyspace(t, c.Addr)
	brokers := testBroker(t, 3, append([]string{"counts", "top", "recent", "partials"}, extra...)...)
	// The test node's data centre (Cassandra's default, as
	// services/cassandra.sh leaves it): every test runs token-aware and
	// DC-aware, as a deployment does.
	return Config{Cassandra: []string{c.Addr}, User: c.User, Password: c.Password, Keyspace: ks, Brokers: brokers,
		CountsTopic: "counts", TopTopic: "top", RecentTopic: "recent", PartialsTopic: "partials", Group: "g-" + ks,
		Interval: 100 * time.Millisecond, LocalDC: "datacenter1"}, newProducer(t, brokers)
}

// initSchema runs InitSchema on cfg's keyspace.
func initSchema(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := InitSchema(ctx, cfg); err != nil {
		t.Fatal(err)
	}
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
	n  int64 // records produced
}

func newProducer(t *testing.T, brokers []string) *producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &producer{t: t, cl: cl}
}

// put produces v (nil: a tombstone) under key and returns the record as
// produced, with its partition and offset.
func (p *producer) put(topic, key string, v any) *kgo.Record {
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
	r, err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).First()
	if err != nil {
		p.t.Fatalf("produce %s/%s: %v", topic, key, err)
	}
	p.n++
	return r
}

// count is a count as the counter writes it, with per-source watermarks
// (field "w") the snapshot does not store.
func count(display string, n int64, at time.Time) events.Count {
	return events.Count{Display: display, PostCount: n, UpdatedAt: at.UTC().Truncate(time.Millisecond),
		Watermarks: map[int32]int64{0: n, 3: 2 * n}}
}

// summaries are posts as the lists hold them, with a Rev the snapshot
// does not store, likes on some and an image and a time on every other.
func summaries(at time.Time, ids ...string) []events.PostSummary {
	out := []events.PostSummary{}
	for i, id := range ids {
		ps := events.PostSummary{PostID: id, UserID: "u" + id, Caption: "caption of " + id, LikeCount: int64(i % 3 * 7), Rev: int64(i + 2)}
		if i%2 == 0 {
			ps.ImageID = "img-" + id
			ps.CreatedAt = at.Add(-time.Duration(i) * time.Minute).UTC().Truncate(time.Millisecond)
		}
		out = append(out, ps)
	}
	return out
}

// top is a top list as the top table writes it, with the removals and
// watermarks the snapshot does not store.
func top(at time.Time, ids ...string) events.Top {
	at = at.UTC().Truncate(time.Millisecond)
	return events.Top{TopPosts: summaries(at, ids...), ComputedAt: at, UpdatedAt: at.Add(time.Second),
		Removed: []events.Removal{{Key: "u/gone", At: at}}, W: events.ChangeWatermarks{1: {Posts: 4, Likes: 2}}}
}

// recent is a recent list as the recent table writes it.
func recent(at time.Time, ids ...string) events.Recent {
	return events.Recent{Posts: summaries(at, ids...), UpdatedAt: at.UTC().Truncate(time.Millisecond),
		W: events.ChangeWatermarks{0: {Posts: 9, Likes: -1}}}
}

// storedTop and storedRecent are what a Reader returns of a value: no
// Removed, no W, no Rev, recent posts cut to what a page shows, and lists
// never nil (an absent list and an empty one make the same page).
func storedTop(t events.Top) events.Top {
	return events.Top{TopPosts: stored(t.TopPosts), ComputedAt: t.ComputedAt, UpdatedAt: t.UpdatedAt}
}

func storedRecent(r events.Recent) events.Recent {
	return events.Recent{Posts: stored(r.Posts[:min(len(r.Posts), events.RecentShown)]), UpdatedAt: r.UpdatedAt}
}

func stored(posts []events.PostSummary) []events.PostSummary {
	out := make([]events.PostSummary, len(posts))
	for i, p := range posts {
		p.Rev = 0
		out[i] = p
	}
	return out
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
	count  *events.Count
	top    *events.Top
	recent *events.Recent
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
	if w.count == nil && w.top == nil && w.recent == nil {
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
	case (w.recent == nil) != (row.Recent == nil):
		return fmt.Sprintf("%s: recent %+v, want %+v", key, row.Recent, w.recent)
	}
	if w.top != nil {
		if got, exp := jsonOf(storedTop(*row.Top)), jsonOf(storedTop(*w.top)); got != exp || row.Top.Removed != nil || row.Top.W != nil {
			return fmt.Sprintf("%s: top %s (removed %v, w %v), want %s", key, got, row.Top.Removed, row.Top.W, exp)
		}
	}
	if w.recent != nil {
		if got, exp := jsonOf(*row.Recent), jsonOf(storedRecent(*w.recent)); got != exp {
			return fmt.Sprintf("%s: recent %s, want %s", key, got, exp)
		}
	}
	// The page is the views' join of the same values, Rev aside (the API
	// never shows it).
	if got, exp := jsonOf(row.Page()), jsonOf(wantPage(key, w)); got != exp {
		return fmt.Sprintf("%s: page %s, want %s", key, got, exp)
	}
	return ""
}

// wantPage is the page the views make of w's values, without Rev.
func wantPage(key string, w want) page.Page {
	p := page.Join(key, w.count, w.top, w.recent)
	p.TopPosts, p.RecentPosts = stored(p.TopPosts), stored(p.RecentPosts)
	return p
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
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

// writeTimes returns the WRITETIME of each column group of key's row, 0
// for a group it does not have. Each group's columns are written together,
// so one column of each tells.
func writeTimes(t *testing.T, addr, ks, key string) [groups]int64 {
	t.Helper()
	s := testSession(t, addr)
	defer s.Close()
	var ts [groups]*int64
	if err := s.Query(`SELECT WRITETIME(post_count), WRITETIME(computed_at), WRITETIME(recent_updated_at) FROM `+ks+`.hashtags WHERE hashtag = ?`, key).
		Scan(&ts[groupCount], &ts[groupTop], &ts[groupRecent]); err != nil {
		t.Fatal(err)
	}
	var out [groups]int64
	for g, p := range ts {
		if p != nil {
			out[g] = *p
		}
	}
	return out
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
		if i%4 == 1 {
			rc := recent(now, k+"-r1", k+"-r2", k+"-r3")
			p.put("recent", k, rc)
			w.recent = &rc
		}
		rows[k] = w
	}
	// A recent list longer than a page: only what the page shows is kept.
	var ids []string
	for i := range events.RecentKept {
		ids = append(ids, fmt.Sprintf("long-%03d", i))
	}
	long := recent(now, ids...)
	p.put("recent", "tag01", long)
	rows["tag01"] = want{count: rows["tag01"].count, recent: &long}
	// A hashtag only the ranking job knows; one only the recent list
	// knows; a top list only post changes touched (no document yet, so no
	// computed_at: it must still read back as a top list); a count the
	// table deleted; a recent list the table deleted beside a count.
	onlyTop := top(now, "x1")
	p.put("top", "onlytop", onlyTop)
	rows["onlytop"] = want{top: &onlyTop}
	onlyRecent := recent(now, "y1")
	p.put("recent", "onlyrecent", onlyRecent)
	rows["onlyrecent"] = want{recent: &onlyRecent}
	changesOnly := events.Top{UpdatedAt: now.UTC().Truncate(time.Millisecond), Removed: []events.Removal{{Key: "u/z", At: now}}}
	p.put("top", "changesonly", changesOnly)
	rows["changesonly"] = want{top: &changesOnly}
	p.put("counts", "gone", count("Gone", 1, now))
	p.put("counts", "gone", nil)
	rows["gone"] = want{}
	rg := count("RecentGone", 2, now)
	p.put("counts", "recentgone", rg)
	p.put("recent", "recentgone", recent(now, "z1"))
	p.put("recent", "recentgone", nil)
	rows["recentgone"] = want{count: &rg}

	// Trending partials: times to the nanosecond, as the ranking stamps
	// them; one expired; one its topic deleted.
	computed := now.UTC().Truncate(time.Second).Add(123456789 * time.Nanosecond)
	partials := []events.TrendingPartial{
		{Partition: 0, Partitions: 3, ComputedAt: computed, ExpiresAt: now.Add(time.Hour).UTC().Truncate(time.Millisecond),
			Hashtags: []events.Trending{{Hashtag: "Sun", Key: "sun", Posts: 9}, {Hashtag: "Sea", Key: "sea", Posts: 4}}},
		{Partition: 1, Partitions: 3, ComputedAt: computed.Add(-time.Millisecond + 7), ExpiresAt: now.Add(time.Hour).UTC().Truncate(time.Millisecond),
			Hashtags: []events.Trending{{Hashtag: "Moon", Key: "moon", Posts: 6}}},
		{Partition: 2, Partitions: 3, ComputedAt: computed.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour).UTC().Truncate(time.Millisecond),
			Hashtags: []events.Trending{{Hashtag: "Old", Key: "old", Posts: 99}}},
	}
	p.put("partials", "5", events.TrendingPartial{Partition: 5, Partitions: 6, ComputedAt: computed, ExpiresAt: now.Add(time.Hour)})
	p.put("partials", "5", nil)
	for _, tp := range partials {
		p.put("partials", fmt.Sprint(tp.Partition), tp)
	}

	s := start(t, cfg)
	r := newReader(t, cfg)
	awaitRows(t, r, rows, 60*time.Second)
	if err := s.Healthy(); err != nil {
		t.Fatalf("healthy after convergence: %v", err)
	}
	awaitPartials(t, r, partials)
	// The trending list is the views' merge of the same partials.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := r.Trending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := jsonOf(tr), jsonOf(page.MergeTrending(partials, time.Now())); got != exp || len(tr.Hashtags) != 3 || !tr.ComputedAt.Equal(partials[1].ComputedAt) {
		t.Fatalf("trending %s, want %s (3 hashtags, computed at %s)", got, exp, partials[1].ComputedAt)
	}

	// Each change rewrites its own column group only, and a tombstone
	// deletes only its own.
	before := writeTimes(t, addr, ks, "tag09") // count, top and recent
	for g, ts := range before {
		if ts == 0 || GenerationOf(ts) != 0 {
			t.Fatalf("write times %v: %s missing", before, group(g))
		}
	}
	c := count("Tagtag09", 42, now.Add(time.Minute))
	p.put("counts", "tag09", c)
	rows["tag09"] = want{count: &c, top: rows["tag09"].top, recent: rows["tag09"].recent}
	before = expectWrites(t, r, rows, addr, ks, "tag09", before, groupCount)
	rc := recent(now.Add(time.Minute), "tag09-r0", "tag09-r1")
	p.put("recent", "tag09", rc)
	rows["tag09"] = want{count: &c, top: rows["tag09"].top, recent: &rc}
	before = expectWrites(t, r, rows, addr, ks, "tag09", before, groupRecent)
	tp := top(now.Add(time.Minute), "tag09-p9")
	p.put("top", "tag09", tp)
	rows["tag09"] = want{count: &c, top: &tp, recent: &rc}
	before = expectWrites(t, r, rows, addr, ks, "tag09", before, groupTop)
	p.put("recent", "tag09", nil)
	rows["tag09"] = want{count: &c, top: &tp}
	expectWrites(t, r, rows, addr, ks, "tag09", before, groupRecent)

	// Two groups changed within an interval: one row written, both groups.
	w0 := s.Stats()
	c13 := count("Tagtag13", 50, now.Add(time.Minute))
	rc13 := recent(now.Add(time.Minute), "tag13-new")
	p.put("counts", "tag13", c13)
	p.put("recent", "tag13", rc13)
	rows["tag13"] = want{count: &c13, recent: &rc13}
	awaitRows(t, r, rows, 30*time.Second)
	if w1 := s.Stats(); w1.RowsWritten-w0.RowsWritten != 1 || w1.CountWrites-w0.CountWrites != 1 || w1.RecentWrites-w0.RecentWrites != 1 {
		// The two records may straddle a flush (every 100 ms): then two
		// rows of one group each. Anything else is a bug.
		if w1.RowsWritten-w0.RowsWritten != 2 || w1.CountWrites+w1.RecentWrites-w0.CountWrites-w0.RecentWrites != 2 {
			t.Fatalf("a count and a recent change: stats %+v, then %+v", w0, w1)
		}
	}

	// Offsets are stored once the rows are: wait for them to reach the end.
	testenv.Await(t, 30*time.Second, "every offset flushed", func() bool {
		st := s.Stats()
		return st.Unflushed == 0 && st.KeysPending == 0 && st.Lag == 0
	})
	for _, topic := range []string{"counts", "top", "recent", "partials"} {
		if got, end := storedOffsets(t, addr, ks, 0, topic), endOffsets(t, brokers, topic); fmt.Sprint(got) != fmt.Sprint(nonZero(end)) {
			t.Fatalf("%s: stored offsets %v, end offsets %v", topic, got, end)
		}
	}
	st := s.Stats()
	if st.Records != p.n || st.RowsWritten == 0 || st.PartialsWritten == 0 || st.Flushes == 0 || st.LastFlush.IsZero() {
		t.Fatalf("stats %+v, want %d records", st, p.n)
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
		rows[k] = want{count: &c, top: rows[k].top, recent: rows[k].recent}
	}
	p.put("partials", "1", nil)
	s2 := start(t, cfg)
	awaitRows(t, r, rows, 60*time.Second)
	awaitPartials(t, r, []events.TrendingPartial{partials[0], partials[2]})
	if got := s2.Stats().Records; got != 6 {
		t.Fatalf("restarted snapshotter read %d records, want the 6 new ones", got)
	}

	// A stale writer (a zombie owner, a re-read) cannot rewind a row: its
	// older record has an older write timestamp.
	stale := pending{groupCount: countChange(0, 1), groupRecent: recentChange(0, "stale")}
	stale[groupCount].count.Display = "stale"
	if err := s2.writeRow(context.Background(), s2.session.Load(), "tag01", stale); err != nil {
		t.Fatal(err)
	}
	if err := s2.writePartial(context.Background(), s2.session.Load(), 0, partialChange(0, 1000)); err != nil {
		t.Fatal(err)
	}
	awaitRows(t, r, map[string]want{"tag01": rows["tag01"]}, time.Second)
	awaitPartials(t, r, []events.TrendingPartial{partials[0], partials[2]})
}

// expectWrites waits for rows, then checks that of key's column groups
// only changed has a new write time, and returns the write times.
func expectWrites(t *testing.T, r *Reader, rows map[string]want, addr, ks, key string, before [groups]int64, changed group) [groups]int64 {
	t.Helper()
	awaitRows(t, r, rows, 30*time.Second)
	after := writeTimes(t, addr, ks, key)
	for g := range groups {
		switch {
		case g == changed && rows[key].isDeleted(g) && after[g] != 0:
			t.Fatalf("after a %s tombstone: write times %v, want the group gone", g, after)
		case g == changed && !rows[key].isDeleted(g) && after[g] <= before[g]:
			t.Fatalf("after a %s change: write times %v (were %v), want it rewritten", g, after, before)
		case g != changed && after[g] != before[g]:
			t.Fatalf("after a %s change: write times %v (were %v), want %s untouched", changed, after, before, g)
		}
	}
	return after
}

// isDeleted reports whether w has no value of group g.
func (w want) isDeleted(g group) bool {
	return [groups]bool{w.count == nil, w.top == nil, w.recent == nil}[g]
}

// awaitPartials waits until the Reader returns exactly the partials, by
// partition, each time to the nanosecond but expires_at (milliseconds).
func awaitPartials(t *testing.T, r *Reader, want []events.TrendingPartial) {
	t.Helper()
	exp := map[int32]string{}
	for _, p := range want {
		exp[p.Partition] = jsonOf(p)
	}
	var last string
	// Await fails the test with Goexit, which runs this: say what differed.
	defer func() {
		if t.Failed() {
			t.Logf("last read: %s", last)
		}
	}()
	testenv.Await(t, 30*time.Second, "the trending partials", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := r.Partials(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		m := map[int32]string{}
		for _, p := range got {
			m[p.Partition] = jsonOf(p)
		}
		last = fmt.Sprintf("%v, want %v", m, exp)
		return fmt.Sprint(m) == fmt.Sprint(exp)
	})
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
	cfg, p := setup(t, "counts-g1", "top-g1", "recent-g1", "partials-g1")
	addr, ks := cfg.Cassandra[0], cfg.Keyspace
	now := time.Now()
	later := now.Add(time.Hour).UTC().Truncate(time.Millisecond)

	// Generation 0 reaches high offsets for "a" and the partial.
	var c0 events.Count
	var tp0 events.TrendingPartial
	for n := int64(1); n <= 50; n++ {
		c0 = count("A", n, now)
		p.put("counts", "a", c0)
		tp0 = events.TrendingPartial{Partitions: 1, ComputedAt: now.UTC(), ExpiresAt: later, Hashtags: []events.Trending{{Hashtag: "A", Key: "a", Posts: n}}}
		p.put("partials", "0", tp0)
	}
	t0 := top(now, "old")
	p.put("top", "a", t0)
	r0 := recent(now, "old")
	p.put("recent", "a", r0)
	p.put("counts", "b", count("B", 7, now))
	s0 := start(t, cfg)
	r := newReader(t, cfg)
	b0 := count("B", 7, now)
	awaitRows(t, r, map[string]want{"a": {count: &c0, top: &t0, recent: &r0}, "b": {count: &b0}}, 60*time.Second)
	awaitPartials(t, r, []events.TrendingPartial{tp0})
	if err := s0.stop(t); err != nil {
		t.Fatal(err)
	}

	// A replay rebuilt generation 1, whose offsets start again at 0.
	c1 := count("A", 3, now.Add(time.Second))
	p.put("counts-g1", "a", c1)
	t1 := top(now.Add(time.Second), "new")
	p.put("top-g1", "a", t1)
	r1 := recent(now.Add(time.Second), "new")
	p.put("recent-g1", "a", r1)
	tp1 := events.TrendingPartial{Partitions: 1, ComputedAt: now.Add(time.Second).UTC(), ExpiresAt: later, Hashtags: []events.Trending{{Hashtag: "A", Key: "a", Posts: 3}}}
	p.put("partials-g1", "0", tp1)
	cfg1 := cfg
	cfg1.CountsTopic, cfg1.TopTopic, cfg1.RecentTopic, cfg1.PartialsTopic, cfg1.Generation = "counts-g1", "top-g1", "recent-g1", "partials-g1", 1
	s1 := start(t, cfg1)
	// "b" is not in generation 1: it keeps its generation-0 row.
	awaitRows(t, r, map[string]want{"a": {count: &c1, top: &t1, recent: &r1}, "b": {count: &b0}}, 60*time.Second)
	awaitPartials(t, r, []events.TrendingPartial{tp1})
	if ts := writeTimes(t, addr, ks, "a"); GenerationOf(ts[groupCount]) != 1 || GenerationOf(ts[groupTop]) != 1 || GenerationOf(ts[groupRecent]) != 1 {
		t.Fatalf("write times %v: want generation 1", ts)
	}

	// A generation-0 writer still around loses whatever its offset.
	old := pending{groupCount: &change{ts: WriteTimestamp(0, MaxOffset), src: pc, count: &countColumns{c0.Display, c0.PostCount, c0.UpdatedAt}}}
	if err := s1.writeRow(context.Background(), s1.session.Load(), "a", old); err != nil {
		t.Fatal(err)
	}
	awaitRows(t, r, map[string]want{"a": {count: &c1, top: &t1, recent: &r1}}, time.Second)

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
