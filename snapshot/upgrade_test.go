package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/page"
)

// previousSchema is the schema of the version before recent lists, like
// counts and trending partials, as it created keyspaces: a keyspace made
// by it must be brought up to date in place.
const previousSchema = `CREATE KEYSPACE IF NOT EXISTS {keyspace}
  WITH replication = {replication};

CREATE TYPE IF NOT EXISTS {keyspace}.post_summary (
  post_id    text,
  user_id    text,
  image_id   text,
  caption    text,
  created_at timestamp
);

CREATE TABLE IF NOT EXISTS {keyspace}.hashtags (
  hashtag     text PRIMARY KEY,
  display     text,
  post_count  bigint,
  updated_at  timestamp,
  top_posts   frozen<list<frozen<post_summary>>>,
  computed_at timestamp
);

CREATE TABLE IF NOT EXISTS {keyspace}.changelog_offsets (
  generation  int,
  topic       text,
  partition   int,
  next_offset bigint,
  flushed_at  timestamp,
  PRIMARY KEY ((generation), topic, partition)
);`

// previousPostUDT is post_summary as the previous version wrote it.
type previousPostUDT struct {
	PostID    string    `cql:"post_id"`
	UserID    string    `cql:"user_id"`
	ImageID   string    `cql:"image_id"`
	Caption   string    `cql:"caption"`
	CreatedAt time.Time `cql:"created_at"`
}

// A keyspace the previous version created and filled is refused by a new
// Snapshotter and Reader (ErrNoSchema, naming what is missing), then
// upgraded in place by InitSchema (--init-schema): its rows stay as they
// are (not rewritten, their posts with no like count reading as 0 likes),
// the snapshotter resumes at the offsets the previous version stored, the
// new columns and table fill, and the schema is then exactly that of a
// new keyspace.
func TestSchemaUpgradesPreviousKeyspace(t *testing.T) {
	cfg, p := setupBare(t)
	addr, ks := cfg.Cassandra[0], cfg.Keyspace
	sess := testSession(t, addr)
	defer sess.Close()
	for _, q := range strings.Split(previousSchema, ";") {
		q = strings.NewReplacer("{keyspace}", ks, "{replication}", cqlReplication(t)).Replace(strings.TrimSpace(q))
		if q == "" {
			continue
		}
		if err := sess.Query(q).Exec(); err != nil {
			t.Fatalf("previous schema: %s: %v", q, err)
		}
	}

	// The previous version's snapshotter followed counts and top, wrote
	// the row of "old" and stored the offsets after it.
	now := time.Now().UTC().Truncate(time.Millisecond)
	oldCount := count("Old", 7, now)
	cr := p.put("counts", "old", oldCount)
	oldTop := top(now, "o1", "o2")
	tr := p.put("top", "old", oldTop)
	prevPosts := make([]previousPostUDT, len(oldTop.TopPosts))
	for i, ps := range oldTop.TopPosts {
		prevPosts[i] = previousPostUDT{ps.PostID, ps.UserID, ps.ImageID, ps.Caption, ps.CreatedAt}
	}
	for _, w := range []struct {
		q    string
		args []any
	}{
		{`UPDATE ` + ks + `.hashtags USING TIMESTAMP ? SET display = ?, post_count = ?, updated_at = ? WHERE hashtag = ?`,
			[]any{WriteTimestamp(0, cr.Offset), oldCount.Display, oldCount.PostCount, oldCount.UpdatedAt, "old"}},
		{`UPDATE ` + ks + `.hashtags USING TIMESTAMP ? SET top_posts = ?, computed_at = ? WHERE hashtag = ?`,
			[]any{WriteTimestamp(0, tr.Offset), prevPosts, oldTop.ComputedAt, "old"}},
		{`UPDATE ` + ks + `.changelog_offsets USING TIMESTAMP ? SET next_offset = ?, flushed_at = ? WHERE generation = 0 AND topic = ? AND partition = ?`,
			[]any{WriteTimestamp(0, cr.Offset+1), cr.Offset + 1, now, "counts", cr.Partition}},
		{`UPDATE ` + ks + `.changelog_offsets USING TIMESTAMP ? SET next_offset = ?, flushed_at = ? WHERE generation = 0 AND topic = ? AND partition = ?`,
			[]any{WriteTimestamp(0, tr.Offset+1), tr.Offset + 1, now, "top", tr.Partition}},
	} {
		if err := sess.Query(w.q, w.args...).Exec(); err != nil {
			t.Fatalf("previous version's write: %s: %v", w.q, err)
		}
	}
	var before [groups]int64
	if err := sess.Query(`SELECT WRITETIME(post_count), WRITETIME(computed_at) FROM `+ks+`.hashtags WHERE hashtag = 'old'`).
		Scan(&before[groupCount], &before[groupTop]); err != nil {
		t.Fatal(err)
	}

	// An API replica or a snapshotter of the new version that starts
	// before --init-schema refuses the previous schema, saying what is
	// missing and what to run.
	for _, what := range []string{"reader", "snapshotter"} {
		var err error
		if what == "reader" {
			_, err = NewReader(cfg)
		} else {
			var s *Snapshotter
			if s, err = New(cfg); err == nil {
				err = s.Run(context.Background())
			}
		}
		if !errors.Is(err, ErrNoSchema) || !strings.Contains(err.Error(), "hashtags.recent_posts") ||
			!strings.Contains(err.Error(), "type post_summary.like_count") || !strings.Contains(err.Error(), "--init-schema") {
			t.Fatalf("%s on the previous schema: %v, want ErrNoSchema naming the missing columns and --init-schema", what, err)
		}
	}
	initSchema(t, cfg)
	initSchema(t, cfg) // again: nothing to do
	r := newReader(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// New records of every served topic, for "old" and a new hashtag.
	rc := recent(now, "o2", "o1")
	p.put("recent", "old", rc)
	newTop := top(now.Add(time.Second), "n1", "n2", "n3")
	p.put("top", "new", newTop)
	tp := events.TrendingPartial{Partition: 0, Partitions: 1, ComputedAt: now, ExpiresAt: now.Add(time.Hour),
		Hashtags: []events.Trending{{Hashtag: "Old", Key: "old", Posts: 2}}}
	p.put("partials", "0", tp)

	s := start(t, cfg)
	// The previous row as it was, the posts' like counts 0, and the recent
	// list beside it.
	oldTop.UpdatedAt = time.Time{} // the previous version stored no top_updated_at
	for i := range oldTop.TopPosts {
		oldTop.TopPosts[i].LikeCount = 0
	}
	awaitRows(t, r, map[string]want{"old": {count: &oldCount, top: &oldTop, recent: &rc}, "new": {top: &newTop}}, 60*time.Second)
	awaitPartials(t, r, []events.TrendingPartial{tp})
	after := writeTimes(t, addr, ks, "old")
	if after[groupCount] != before[groupCount] || after[groupTop] != before[groupTop] || after[groupRecent] == 0 {
		t.Fatalf("write times %v, were %v: want count and top untouched (resumed past them), recent written", after, before)
	}
	if st := s.Stats(); st.Records != 3 {
		t.Fatalf("upgraded snapshotter read %d records, want the 3 after the stored offsets", st.Records)
	}
	pg, err := r.Page(ctx, "new")
	if err != nil {
		t.Fatal(err)
	}
	if got := pg.TopPosts[1].LikeCount; got != newTop.TopPosts[1].LikeCount || got == 0 {
		t.Fatalf("like count of a new post: %d, want %d", got, newTop.TopPosts[1].LikeCount)
	}
	tr2, err := r.Trending(ctx)
	if err != nil || jsonOf(tr2) != jsonOf(page.MergeTrending([]events.TrendingPartial{tp}, time.Now())) {
		t.Fatalf("trending %s, %v", jsonOf(tr2), err)
	}

	// Upgraded, the keyspace has the schema a new one gets.
	fresh := testKeyspace(t, addr)
	for _, q := range SchemaStatements(fresh, cqlReplication(t)) {
		if err := sess.Query(q).Exec(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got, want := schemaOf(t, sess, ks), schemaOf(t, sess, fresh); !slices.Equal(got, want) {
		t.Fatalf("upgraded schema:\n%s\nnew keyspace's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// schemaOf lists the columns and user types of keyspace ks, one line each,
// sorted.
func schemaOf(t *testing.T, s *gocql.Session, ks string) []string {
	t.Helper()
	var out []string
	iter := s.Query(`SELECT table_name, column_name, kind, type FROM system_schema.columns WHERE keyspace_name = ?`, ks).Iter()
	var table, column, kind, typ string
	for iter.Scan(&table, &column, &kind, &typ) {
		out = append(out, fmt.Sprintf("column %s.%s %s %s", table, column, kind, typ))
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	iter = s.Query(`SELECT type_name, field_names, field_types FROM system_schema.types WHERE keyspace_name = ?`, ks).Iter()
	var name string
	var names, types []string
	for iter.Scan(&name, &names, &types) {
		out = append(out, fmt.Sprintf("type %s %v %v", name, names, types))
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	if len(out) == 0 {
		t.Fatalf("keyspace %s has no schema", ks)
	}
	return out
}

// What a Snapshotter and a Reader check is exactly what InitSchema makes:
// every table and type of a new keyspace, each with all its columns or
// fields, and nothing more; a keyspace that does not exist gets
// ErrNoSchema saying so and naming --init-schema.
func TestSchemaCheckIsSchema(t *testing.T) {
	cfg, _ := setup(t)
	sess := testSession(t, cfg.Cassandra[0])
	defer sess.Close()
	var got []string
	for _, line := range schemaOf(t, sess, cfg.Keyspace) {
		f := strings.Fields(line) // column table.col kind type | type name [fields] [types]
		if f[0] == "column" {
			got = append(got, f[1])
			continue
		}
		for _, field := range strings.Fields(strings.Trim(line[strings.Index(line, "["):strings.Index(line, "]")+1], "[]")) {
			got = append(got, "type "+f[1]+"."+field)
		}
	}
	var want []string
	for table, cols := range schemaColumns {
		for _, c := range cols {
			want = append(want, table+"."+c)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("InitSchema makes\n%s\nthe check requires\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := checkSchema(ctx, sess, cfg.Keyspace); err != nil {
		t.Fatal(err)
	}
	missing := cfg
	missing.Keyspace = "no_such_keyspace_" + fmt.Sprint(time.Now().UnixNano())
	if _, err := NewReader(missing); !errors.Is(err, ErrNoSchema) || !strings.Contains(err.Error(), "does not exist") ||
		!strings.Contains(err.Error(), "tagstream snapshot --init-schema") {
		t.Fatalf("reader of a missing keyspace: %v", err)
	}
}

// cqlReplication is DefaultReplication as a CQL map.
func cqlReplication(t *testing.T) string {
	t.Helper()
	r, err := ParseReplication(DefaultReplication)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
