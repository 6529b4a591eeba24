package snapshot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gocql/gocql"
)

// Schema is the CQL InitSchema runs (`tagstream snapshot --init-schema`),
// each statement idempotent. {keyspace} and {replication} stand for Config.Keyspace and
// Config.Replication. The package documentation describes every column.
//
// The CREATE statements make the current schema in a new keyspace; the
// ALTER ... IF NOT EXISTS statements after them bring a keyspace made by
// an earlier version up to it in place (an existing CREATE ... IF NOT
// EXISTS changes nothing), one column a statement so that each is a no-op
// on its own once applied. Columns are only ever added: a snapshotter of
// the previous version still writes the columns it knows, and a row it
// writes keeps the new columns' cells.
const Schema = `CREATE KEYSPACE IF NOT EXISTS {keyspace}
  WITH replication = {replication};

CREATE TYPE IF NOT EXISTS {keyspace}.post_summary (
  post_id    text,
  user_id    text,
  image_id   text,
  caption    text,
  created_at timestamp,
  like_count bigint
);

ALTER TYPE {keyspace}.post_summary ADD IF NOT EXISTS like_count bigint;

CREATE TYPE IF NOT EXISTS {keyspace}.trending_entry (
  hashtag text,
  key     text,
  posts   bigint
);

CREATE TABLE IF NOT EXISTS {keyspace}.hashtags (
  hashtag           text PRIMARY KEY,
  display           text,
  post_count        bigint,
  updated_at        timestamp,
  top_posts         frozen<list<frozen<post_summary>>>,
  computed_at       timestamp,
  top_updated_at    timestamp,
  recent_posts      frozen<list<frozen<post_summary>>>,
  recent_updated_at timestamp
);

ALTER TABLE {keyspace}.hashtags ADD IF NOT EXISTS top_updated_at timestamp;

ALTER TABLE {keyspace}.hashtags ADD IF NOT EXISTS recent_posts frozen<list<frozen<post_summary>>>;

ALTER TABLE {keyspace}.hashtags ADD IF NOT EXISTS recent_updated_at timestamp;

CREATE TABLE IF NOT EXISTS {keyspace}.trending_partials (
  partition         int PRIMARY KEY,
  partitions        int,
  computed_at       timestamp,
  computed_at_nanos int,
  expires_at        timestamp,
  hashtags          frozen<list<frozen<trending_entry>>>
);

CREATE TABLE IF NOT EXISTS {keyspace}.changelog_offsets (
  generation  int,
  topic       text,
  partition   int,
  next_offset bigint,
  flushed_at  timestamp,
  PRIMARY KEY ((generation), topic, partition)
);`

// SchemaStatements returns Schema for a keyspace and replication map, one
// statement a string.
func SchemaStatements(keyspace, replication string) []string {
	r := strings.NewReplacer("{keyspace}", keyspace, "{replication}", replication)
	var out []string
	for _, s := range strings.Split(Schema, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, r.Replace(s))
		}
	}
	return out
}

// ErrNoSchema is the error of a Snapshotter or Reader whose keyspace lacks
// a table, a column or a type of Schema: InitSchema has not been run on
// it, or was run by an older version.
var ErrNoSchema = errors.New("snapshot: the keyspace lacks the snapshot's schema")

// InitSchema creates cfg's keyspace (with cfg.Replication), its types and
// tables, or brings a keyspace an earlier version made up to date in
// place, and returns once Cassandra's nodes agree on the schema (gocql
// waits for agreement after each statement). Running it again changes
// nothing: every statement is IF NOT EXISTS. An existing keyspace's
// replication is never altered. ctx bounds the whole.
func InitSchema(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	sess, err := cfg.cluster().CreateSession()
	if err != nil {
		return cfg.connectError(err)
	}
	defer sess.Close()
	return createSchema(ctx, sess, cfg)
}

func createSchema(ctx context.Context, sess *gocql.Session, cfg Config) error {
	for _, q := range SchemaStatements(cfg.Keyspace, cfg.Replication) {
		if err := sess.Query(q).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("snapshot: create schema: %s: %w", q, err)
		}
	}
	return nil
}

// schemaColumns are the columns of each table and the fields of each type
// of Schema, what checkSchema requires (TestSchemaColumns holds it to
// Schema).
var schemaColumns = map[string][]string{
	"hashtags": {"hashtag", "display", "post_count", "updated_at", "top_posts", "computed_at",
		"top_updated_at", "recent_posts", "recent_updated_at"},
	"trending_partials":   {"partition", "partitions", "computed_at", "computed_at_nanos", "expires_at", "hashtags"},
	"changelog_offsets":   {"generation", "topic", "partition", "next_offset", "flushed_at"},
	"type post_summary":   {"post_id", "user_id", "image_id", "caption", "created_at", "like_count"},
	"type trending_entry": {"hashtag", "key", "posts"},
}

// checkSchema returns nil if keyspace ks has every table, column and type
// of Schema, else an ErrNoSchema saying what is missing and what to run.
// It only reads system_schema: no DDL.
func checkSchema(ctx context.Context, sess *gocql.Session, ks string) error {
	have := map[string]map[string]bool{}
	add := func(table, col string) {
		if have[table] == nil {
			have[table] = map[string]bool{}
		}
		have[table][col] = true
	}
	var table, col string
	iter := sess.Query(`SELECT table_name, column_name FROM system_schema.columns WHERE keyspace_name = ?`, ks).WithContext(ctx).Idempotent(true).Iter()
	for iter.Scan(&table, &col) {
		add(table, col)
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("snapshot: read the schema of keyspace %s: %w", ks, err)
	}
	var fields []string
	iter = sess.Query(`SELECT type_name, field_names FROM system_schema.types WHERE keyspace_name = ?`, ks).WithContext(ctx).Idempotent(true).Iter()
	for iter.Scan(&table, &fields) {
		for _, f := range fields {
			add("type "+table, f)
		}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("snapshot: read the types of keyspace %s: %w", ks, err)
	}
	var missing []string
	for _, t := range slices.Sorted(maps.Keys(schemaColumns)) {
		if have[t] == nil {
			missing = append(missing, t)
			continue
		}
		for _, c := range schemaColumns[t] {
			if !have[t][c] {
				missing = append(missing, t+"."+c)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	what := "lacks " + strings.Join(missing, ", ")
	if len(have) == 0 {
		what = "does not exist or is empty"
	}
	return fmt.Errorf("%w: keyspace %s %s: run `tagstream snapshot --init-schema` with the same --cassandra and --keyspace "+
		"(it creates the keyspace and tables, or brings an older version's up to date, then exits)", ErrNoSchema, ks, what)
}

// offsetBits is the width of the offset part of a write timestamp; the
// generation takes the 16 bits above it, and the sign bit stays clear.
const offsetBits = 47

// MaxOffset is the largest changelog offset WriteTimestamp can encode
// (1.4e14: 4,400 years of 1,000 records/s per partition).
const MaxOffset = 1<<offsetBits - 2

// WriteTimestamp is the CQL write timestamp (USING TIMESTAMP) of the cells
// derived from the changelog record at offset of generation gen:
//
//	gen << 47 | (offset + 1)
//
// Within a generation a hashtag lives in one partition of each changelog,
// whose offsets only grow, so a later value of a hashtag always carries a
// larger timestamp, and a stale writer (a restarted or zombie snapshotter,
// a re-read after a rebalance) writes the same value with the same
// timestamp or loses. Every timestamp of generation g+1 exceeds every one
// of generation g, so switching to a replay's topics, whose offsets start
// again at 0, never rewinds a row either. The same rule orders the stored
// offsets (with offset the next offset to read).
func WriteTimestamp(gen int, offset int64) int64 {
	return int64(gen)<<offsetBits | (offset + 1)
}

// GenerationOf returns the generation of a write timestamp: with CQL
// `SELECT WRITETIME(post_count)`, which generation last wrote a row.
func GenerationOf(ts int64) int { return int(ts >> offsetBits) }

// statements are the CQL requests of a keyspace, built once.
type statements struct {
	// set and unset write and delete each column group of a hashtags row.
	set, unset                              [groups]string
	partial, partialDelete, partials        string
	offset, offsets, generations, get, ping string
}

func newStatements(ks string) statements {
	update := func(cols string) string {
		return fmt.Sprintf(`UPDATE %s.hashtags USING TIMESTAMP ? SET %s WHERE hashtag = ?`, ks, cols)
	}
	del := func(cols string) string {
		return fmt.Sprintf(`DELETE %s FROM %s.hashtags USING TIMESTAMP ? WHERE hashtag = ?`, cols, ks)
	}
	return statements{
		set: [groups]string{
			groupCount:  update(`display = ?, post_count = ?, updated_at = ?`),
			groupTop:    update(`top_posts = ?, computed_at = ?, top_updated_at = ?`),
			groupRecent: update(`recent_posts = ?, recent_updated_at = ?`),
		},
		unset: [groups]string{
			groupCount:  del(`display, post_count, updated_at`),
			groupTop:    del(`top_posts, computed_at, top_updated_at`),
			groupRecent: del(`recent_posts, recent_updated_at`),
		},
		partial: fmt.Sprintf(`UPDATE %s.trending_partials USING TIMESTAMP ? `+
			`SET partitions = ?, computed_at = ?, computed_at_nanos = ?, expires_at = ?, hashtags = ? WHERE partition = ?`, ks),
		partialDelete: fmt.Sprintf(`DELETE FROM %s.trending_partials USING TIMESTAMP ? WHERE partition = ?`, ks),
		partials: fmt.Sprintf(`SELECT partition, partitions, computed_at, computed_at_nanos, expires_at, hashtags `+
			`FROM %s.trending_partials`, ks),
		offset: fmt.Sprintf(`UPDATE %s.changelog_offsets USING TIMESTAMP ? SET next_offset = ?, flushed_at = ? `+
			`WHERE generation = ? AND topic = ? AND partition = ?`, ks),
		offsets:     fmt.Sprintf(`SELECT partition, next_offset FROM %s.changelog_offsets WHERE generation = ? AND topic = ?`, ks),
		generations: fmt.Sprintf(`SELECT DISTINCT generation FROM %s.changelog_offsets`, ks),
		// The write times say which groups the row has: a group's
		// columns are written and deleted together, and a value may
		// leave one of its times zero (a top list only post changes
		// touched has no computed_at), which reads back like a null.
		get: fmt.Sprintf(`SELECT display, post_count, updated_at, top_posts, computed_at, top_updated_at, `+
			`recent_posts, recent_updated_at, WRITETIME(computed_at), WRITETIME(recent_updated_at) `+
			`FROM %s.hashtags WHERE hashtag = ?`, ks),
		ping: `SELECT release_version FROM system.local`,
	}
}
