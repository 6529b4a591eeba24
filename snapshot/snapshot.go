// Package snapshot copies the served hashtag tables and the trending
// partials into Cassandra, so that hashtag pages and the trending list can
// be served by stateless processes that hold no goka view (past one
// machine, a full replica of the tables per API process does not fit:
// topology.md, Partition count), and so that Cassandra, the most brittle
// component, sees one write per changed hashtag per interval instead of
// one per event.
//
// # What it does
//
// A Snapshotter follows the topics a generation serves
// (topology.Gen.Served): the changelogs of hashtag-counts-table,
// hashtag-top-table and hashtag-recent-table, and
// hashtag-trending-partials, with franz-go. It keeps, per hashtag, only
// the latest value of each table since the last flush, and per trending
// partition the latest partial (the dirty set: its size is bounded by
// distinct hashtags, never by the event rate). Every Interval (default
// 5 s) it writes those rows, at most Concurrency (default 16) at a time,
// and only the columns of the tables that changed: a count change never
// rewrites the lists, a new recent post never rewrites the count or the
// top list. When every row of a flush is written it stores the changelog
// offsets the flush covers, so a restarted snapshotter resumes there.
//
// # Scaling: one consumer group
//
// Snapshotters share the Kafka consumer group Config.Group, so more
// processes split the partitions. The group only assigns partitions: the
// offsets live in Cassandra next to the rows and are never committed to
// Kafka. A partition that moves mid-interval is dropped from the old
// owner's dirty set (its offsets in Cassandra only cover written rows, so
// the new owner re-reads what was not written), and the write timestamps
// below make any overlap between the two owners harmless.
//
// # Schema
//
// Schema (created by InitSchema, `tagstream snapshot --init-schema`, which
// also brings a keyspace an earlier version created up to date in place;
// a Snapshotter and a Reader only check it is there) holds three tables
// in Config.Keyspace:
//
//	hashtags (hashtag text PRIMARY KEY,
//	          display text, post_count bigint, updated_at timestamp,
//	          top_posts frozen<list<frozen<post_summary>>>, computed_at timestamp,
//	          top_updated_at timestamp,
//	          recent_posts frozen<list<frozen<post_summary>>>, recent_updated_at timestamp)
//	trending_partials (partition int PRIMARY KEY, partitions int,
//	                   computed_at timestamp, computed_at_nanos int, expires_at timestamp,
//	                   hashtags frozen<list<frozen<trending_entry>>>)
//	changelog_offsets (generation int, topic text, partition int,
//	                   next_offset bigint, flushed_at timestamp,
//	                   PRIMARY KEY ((generation), topic, partition))
//
// A hashtags row is the whole hashtag page, in three column groups, one
// per table: hashtag is the normalised key; display, post_count and
// updated_at come from hashtag-counts-table (events.Count; other fields of
// its JSON are ignored); top_posts, computed_at and top_updated_at from
// hashtag-top-table (events.Top, without its Removed and W, which only the
// processor needs); recent_posts and recent_updated_at from
// hashtag-recent-table (events.Recent: its first events.RecentShown posts,
// the ones a page shows). Posts are the user-defined type post_summary
// (post_id, user_id, image_id, caption, created_at, like_count), the
// fields of events.PostSummary but its internal Rev. Rows are only ever
// UPDATEd, never INSERTed, so a row whose columns tombstones deleted
// disappears. Timestamps have millisecond precision (the processors
// truncate the times of the hashtag tables to it).
//
// A trending_partials row is the record of hashtag-trending-partials
// under the key partition (events.TrendingPartial; hashtags as the type
// trending_entry (hashtag, key, posts)). Its computed_at_nanos keeps the
// nanoseconds of ComputedAt past computed_at's millisecond: the ranking
// stamps partials to the nanosecond and GET /v1/trending shows that time,
// which must be the views' to the byte. expires_at keeps milliseconds: it
// is only compared with the time of a read.
//
// changelog_offsets holds, per generation and followed partition, the
// next offset to read: every record before it is in the rows.
//
// # No rewind: write timestamps
//
// Every cell is written USING TIMESTAMP WriteTimestamp(generation, offset)
// = generation<<47 | offset+1, the offset being that of the record the
// value comes from. A hashtag lives in one partition of each changelog
// (and a partial under its key in the one partition of its topic), and
// offsets only grow, so a newer value always has a larger timestamp and
// Cassandra keeps it whatever order writes arrive in: a snapshotter that
// restarts, re-reads after a rebalance or lingers as a zombie can rewrite
// a row with the same value, never with an older one. Offsets are stored
// only after the rows they cover, with the same rule, so the stored offset
// never moves back either.
//
// # Generations
//
// `tagstream replay` rebuilds state into new topics whose offsets restart at
// 0. The rule: every change of the followed topics (a replay's generation,
// a recreated topic, a new partition count) comes with a higher
// Config.Generation. All timestamps of generation g+1 exceed those of g, so
// the new generation's values win over the old ones without any comparison
// of times, and a snapshotter left on the old generation can no longer
// change a row. Offsets are kept per generation, so a new generation starts
// at offset 0 and rewrites every row it has. A Snapshotter refuses to start
// on a generation lower than one already flushed. Rows of hashtags that
// the new generation lacks keep their old values; `SELECT WRITETIME(post_count)`
// >> 47 tells their generation, and `DELETE ... USING TIMESTAMP g<<47`
// removes everything older than generation g. An old generation's partials
// of partitions the new one lacks stop counting at their expires_at.
//
// # When Cassandra is down
//
// Consumption goes on: the dirty set absorbs every change, one entry per
// hashtag. A failed flush puts its unwritten rows back (unless a newer value
// arrived), does not store offsets, and is retried with capped exponential
// backoff (RetryMin doubling to RetryMax). Meanwhile Healthy returns the
// error, for /readyz, and the metrics show flush errors and pending keys.
// When Cassandra answers again, the next flush writes the latest value of
// every pending hashtag. A Snapshotter that starts while Cassandra is down
// waits (unhealthy) before consuming, since it does not know where to start.
package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagstream/tagstream/backoff"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/metrics"
)

// ErrOldGeneration is returned by Run when Cassandra already holds offsets
// of a newer generation than Config.Generation: its writes would all lose.
var ErrOldGeneration = errors.New("snapshot: generation older than one already flushed")

// errNotConnected is the health of a Snapshotter before its first session.
var errNotConnected = errors.New("snapshot: not connected to Cassandra yet")

// Snapshotter copies the served topics into Cassandra.
type Snapshotter struct {
	cfg     Config
	log     *slog.Logger
	stmt    statements
	m       meters
	groupOf map[string]group // the column group of each table's changelog

	mu    sync.Mutex
	dirty *dirtySet
	hwm   map[partition]int64 // high watermark of each owned partition

	session  atomic.Pointer[gocql.Session]
	inFlight atomic.Int64 // rows being written
	lastOK   atomic.Int64 // unix nanoseconds of the last successful flush

	hmu       sync.Mutex
	health    error
	failing   int       // consecutive failed flushes
	failSince time.Time // first of them
}

// meters are the Snapshotter's metrics in its registry.
type meters struct {
	records, decodeErrors, rows, partials, flushes *metrics.CounterVec
	flushSeconds                                   *prometheus.HistogramVec
}

// Stats is a snapshot of a Snapshotter's counters and gauges.
type Stats struct {
	// Records are changelog records consumed; DecodeErrors those skipped as
	// unreadable.
	Records, DecodeErrors int64
	// RowsWritten counts hashtags row writes: one per hashtag per flush,
	// whichever column groups it carried. CountWrites, TopWrites and
	// RecentWrites count the column groups written (a row with several
	// counts in each of them).
	RowsWritten, CountWrites, TopWrites, RecentWrites int64
	// PartialsWritten counts trending_partials rows written.
	PartialsWritten int64
	// Flushes succeeded; FlushErrors failed.
	Flushes, FlushErrors int64
	// KeysPending are hashtags and trending partials waiting for a write,
	// including a flush in progress.
	KeysPending int
	// Lag is the records between the positions read and the partitions'
	// high watermarks; Unflushed the records read whose offsets are not yet
	// stored in Cassandra.
	Lag, Unflushed int64
	// LastFlush is when the last successful flush ended (zero before one).
	LastFlush time.Time
}

// New checks cfg and returns a Snapshotter; Run starts it. New registers
// the tagstream_snapshot_* metrics in cfg.Metrics.
func New(cfg Config) (*Snapshotter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Snapshotter{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "snapshot"),
		stmt:   newStatements(cfg.Keyspace),
		dirty:  newDirtySet(),
		hwm:    map[partition]int64{},
		health: errNotConnected,
		groupOf: map[string]group{
			cfg.CountsTopic: groupCount,
			cfg.TopTopic:    groupTop,
			cfg.RecentTopic: groupRecent,
		},
	}
	r := cfg.Metrics
	s.m = meters{
		records:      r.NewCounterVec("tagstream_snapshot_records_total", "Changelog records the snapshotter consumed.", "topic"),
		decodeErrors: r.NewCounterVec("tagstream_snapshot_decode_errors_total", "Changelog records skipped as unreadable.", "topic"),
		// One series per combination of groups, so that the sum over
		// the label is the rows written (scripts/snapshot-amplification.sh).
		rows: r.NewCounterVec("tagstream_snapshot_rows_written_total",
			"Hashtag rows written to Cassandra, by the column groups written: count, top, recent, or several joined by + (count+recent).", "columns"),
		partials: r.NewCounterVec("tagstream_snapshot_partials_written_total",
			"Trending partials written to Cassandra, by kind (value or deleted).", "kind"),
		flushes: r.NewCounterVec("tagstream_snapshot_flushes_total", "Flushes to Cassandra, by result (ok or error).", "result"),
		flushSeconds: r.NewHistogramVec("tagstream_snapshot_flush_duration_seconds",
			"Time a flush to Cassandra took, rows, partials and offsets, by result (ok or error).", nil, "result"),
	}
	r.NewGaugeFunc("tagstream_snapshot_keys_pending", "Hashtags changed and not yet written to Cassandra.",
		func() float64 { return float64(s.Stats().KeysPending) })
	r.NewGaugeFunc("tagstream_snapshot_lag_records", "Changelog records not yet read by the snapshotter.",
		func() float64 { return float64(s.Stats().Lag) })
	r.NewGaugeFunc("tagstream_snapshot_last_flush_timestamp_seconds", "Unix time of the last successful flush (0 before one).",
		func() float64 {
			if ns := s.lastOK.Load(); ns != 0 {
				return float64(ns) / 1e9
			}
			return 0
		})
	r.NewGaugeFunc("tagstream_snapshot_healthy", "1 if the last flush (or connection attempt) succeeded, else 0.",
		func() float64 {
			if s.Healthy() == nil {
				return 1
			}
			return 0
		})
	return s, nil
}

// Healthy returns nil when the Snapshotter is connected and its last flush
// succeeded, else why not: the error for /readyz.
func (s *Snapshotter) Healthy() error {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.health
}

func (s *Snapshotter) setHealth(err error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if err == nil {
		s.health, s.failing = nil, 0
		return
	}
	if s.failing == 0 {
		s.failSince = time.Now()
	}
	s.failing++
	s.health = fmt.Errorf("snapshot: %d attempt(s) failing since %s: %w",
		s.failing, s.failSince.UTC().Format(time.RFC3339), err)
}

// Stats returns the current counters and gauges.
func (s *Snapshotter) Stats() Stats {
	st := Stats{
		Flushes:         s.m.flushes.Value("ok"),
		FlushErrors:     s.m.flushes.Value("error"),
		PartialsWritten: s.m.partials.Value("value") + s.m.partials.Value("deleted"),
	}
	for _, t := range s.cfg.topics() {
		st.Records += s.m.records.Value(t)
		st.DecodeErrors += s.m.decodeErrors.Value(t)
	}
	// Every combination of groups a row can carry is one label value.
	for set := 1; set < 1<<groups; set++ {
		var p pending
		for g := range groups {
			if set&(1<<g) != 0 {
				p[g] = &change{}
			}
		}
		n := s.m.rows.Value(p.columns())
		st.RowsWritten += n
		for g, w := range map[group]*int64{groupCount: &st.CountWrites, groupTop: &st.TopWrites, groupRecent: &st.RecentWrites} {
			if p[g] != nil {
				*w += n
			}
		}
	}
	if ns := s.lastOK.Load(); ns != 0 {
		st.LastFlush = time.Unix(0, ns)
	}
	s.mu.Lock()
	st.KeysPending = s.dirty.len() + int(s.inFlight.Load())
	for p, next := range s.dirty.pos {
		if h, ok := s.hwm[p]; ok && h > next {
			st.Lag += h - next
		}
		st.Unflushed += next - s.dirty.flushed[p]
	}
	s.mu.Unlock()
	return st
}

// Run connects to Cassandra (waiting while it is unreachable), checks the
// schema (creates it with Config.CreateSchema), then follows the
// changelogs and flushes every Interval until ctx ends. It then makes a
// last flush (bounded by DefaultShutdownFlush) and returns nil; it returns
// an error only if it cannot run at all (a bad Kafka configuration,
// ErrOldGeneration, ErrNoSchema).
func (s *Snapshotter) Run(ctx context.Context) error {
	sess, err := s.connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.session.Store(sess)
	defer sess.Close()

	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.topics()...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.startOffsets),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.revoked),
	}, s.cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("snapshot: kafka client for %v: %w", s.cfg.Brokers, err)
	}

	flushCtx, stopFlush := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.flushLoop(flushCtx) })

	s.consume(ctx, cl)

	stopFlush()
	wg.Wait()
	cl.CloseAllowingRebalance()
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultShutdownFlush)
	defer cancel()
	if err := s.flush(final); err != nil {
		s.log.Warn("last flush failed; the next snapshotter re-reads from the stored offsets", "err", err)
	}
	return nil
}

// connect opens a session and checks the schema, retrying with backoff.
func (s *Snapshotter) connect(ctx context.Context) (*gocql.Session, error) {
	return retry(ctx, s, "connect to Cassandra", func() (*gocql.Session, error) { return s.open(ctx) })
}

// retry calls fn until it succeeds, ctx ends or fn returns ErrOldGeneration,
// backing off between failures (RetryMin to RetryMax) and reporting each in
// Healthy.
func retry[T any](ctx context.Context, s *Snapshotter, what string, fn func() (T, error)) (T, error) {
	var v T
	err := backoff.Retry(ctx, s.retryPolicy(), func(context.Context) error {
		var err error
		v, err = fn()
		s.setHealth(err)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrOldGeneration), errors.Is(err, ErrNoSchema):
			return backoff.Permanent(err)
		}
		s.log.Warn(what+" failed; retrying", "err", err)
		return err
	})
	if err != nil && !errors.Is(err, ErrOldGeneration) && !errors.Is(err, ErrNoSchema) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return v, err
}

func (s *Snapshotter) retryPolicy() backoff.Policy {
	return backoff.Policy{First: s.cfg.RetryMin, Max: s.cfg.RetryMax}
}

func (s *Snapshotter) open(ctx context.Context) (*gocql.Session, error) {
	sess, err := s.cfg.cluster().CreateSession()
	if err != nil {
		return nil, s.cfg.connectError(err)
	}
	check := checkSchema
	if s.cfg.CreateSchema {
		check = func(ctx context.Context, sess *gocql.Session, _ string) error { return createSchema(ctx, sess, s.cfg) }
	}
	if err := check(ctx, sess, s.cfg.Keyspace); err != nil {
		sess.Close()
		return nil, err
	}
	iter := sess.Query(s.stmt.generations).WithContext(ctx).Idempotent(true).Iter()
	var g, newest int
	for iter.Scan(&g) {
		newest = max(newest, g)
	}
	if err := iter.Close(); err != nil {
		sess.Close()
		return nil, fmt.Errorf("snapshot: read generations: %w", err)
	}
	if newest > s.cfg.Generation {
		sess.Close()
		return nil, fmt.Errorf("%w: configured %d, Cassandra holds offsets of %d", ErrOldGeneration, s.cfg.Generation, newest)
	}
	return sess, nil
}

// startOffsets replaces the group's offsets (never committed) by those
// stored in Cassandra, waiting while Cassandra is unreachable: starting
// anywhere else could skip unwritten records.
func (s *Snapshotter) startOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, parts := range offsets {
		stored, err := s.loadOffsets(ctx, topic)
		if err != nil {
			return nil, err
		}
		for p := range parts {
			next, ok := stored[p]
			if ok {
				parts[p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				parts[p] = kgo.NewOffset().AtStart()
			}
			s.mu.Lock()
			s.dirty.assign(partition{topic, p}, next)
			s.mu.Unlock()
		}
		s.log.Info("resuming changelog", "topic", topic, "generation", s.cfg.Generation, "stored_offsets", stored)
	}
	return offsets, nil
}

func (s *Snapshotter) loadOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	return retry(ctx, s, "read stored offsets", func() (map[int32]int64, error) {
		out := map[int32]int64{}
		iter := s.session.Load().Query(s.stmt.offsets, s.cfg.Generation, topic).WithContext(ctx).Idempotent(true).Iter()
		var p int32
		var next int64
		for iter.Scan(&p, &next) {
			out[p] = next
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("snapshot: read offsets of %s: %w", topic, err)
		}
		return out, nil
	})
}

// revoked forgets partitions another snapshotter now owns.
func (s *Snapshotter) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := map[partition]bool{}
	for t, ps := range lost {
		for _, p := range ps {
			parts[partition{t, p}] = true
		}
	}
	s.mu.Lock()
	s.dirty.drop(parts)
	for p := range parts {
		delete(s.hwm, p)
	}
	s.mu.Unlock()
}

// record is a decoded record of a followed topic.
type record struct {
	key     string
	group   group
	partial int32 // the trending partition of a partial
	src     partition
	offset  int64
	c       *change // nil for an unreadable record
}

// consume polls until ctx ends, folding records into the dirty set.
func (s *Snapshotter) consume(ctx context.Context, cl *kgo.Client) {
	var recs []record
	for {
		fetches := cl.PollRecords(ctx, 10_000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			s.log.Warn("changelog fetch failed", "topic", t, "partition", p, "err", err)
		})
		recs = recs[:0]
		hwm := map[partition]int64{}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			src := partition{fp.Topic, fp.Partition}
			hwm[src] = fp.HighWatermark
			for _, r := range fp.Records {
				recs = append(recs, s.decode(src, r))
			}
		})
		s.mu.Lock()
		for p, h := range hwm {
			if _, owned := s.dirty.pos[p]; owned {
				s.hwm[p] = h
			}
		}
		for _, r := range recs {
			switch {
			case r.c == nil:
				s.dirty.seen(r.src, r.offset)
			case r.src.topic == s.cfg.PartialsTopic:
				s.dirty.addPartial(r.partial, r.c, r.offset)
			default:
				s.dirty.add(r.key, r.group, r.c, r.offset)
			}
		}
		s.mu.Unlock()
		cl.AllowRebalance()
	}
}

// decode turns a record into the change of one column group, or of one
// trending partial. A nil value is goka's tombstone: the key was deleted
// from the table.
func (s *Snapshotter) decode(src partition, r *kgo.Record) record {
	s.m.records.Inc(src.topic)
	out := record{key: string(r.Key), src: src, offset: r.Offset}
	c := &change{ts: WriteTimestamp(s.cfg.Generation, r.Offset), src: src, deleted: r.Value == nil}
	var err error
	switch g, table := s.groupOf[src.topic]; {
	case len(r.Key) == 0:
		err = errors.New("empty key")
	case r.Offset > MaxOffset:
		err = fmt.Errorf("offset %d over %d", r.Offset, int64(MaxOffset))
	case !table:
		// A partial's key is the trending table's partition, the row it
		// replaces; a tombstone has nothing else.
		var p int64
		if p, err = strconv.ParseInt(out.key, 10, 32); err == nil && p < 0 {
			err = fmt.Errorf("partition %d", p)
		}
		out.partial = int32(p)
		if err == nil && !c.deleted {
			c.partial = new(events.TrendingPartial)
			err = json.Unmarshal(r.Value, c.partial)
		}
	case c.deleted:
		out.group = g
	default:
		out.group = g
		err = decodeColumns(g, r.Value, c)
	}
	if err != nil {
		s.m.decodeErrors.Inc(src.topic)
		s.log.Warn("skipping unreadable record", "topic", src.topic, "partition", src.part,
			"offset", r.Offset, "err", err)
		c = nil
	}
	out.c = c
	return out
}

// decodeColumns decodes a table value into the columns of its group.
func decodeColumns(g group, v []byte, c *change) error {
	switch g {
	case groupCount:
		c.count = new(countColumns)
		return json.Unmarshal(v, c.count)
	case groupTop:
		c.top = new(topColumns)
		return json.Unmarshal(v, c.top)
	default:
		c.recent = new(recentColumns)
		if err := json.Unmarshal(v, c.recent); err != nil {
			return err
		}
		// Only what a page shows: the rest is never read, and a
		// copy lets the kept posts past it go.
		if len(c.recent.Posts) > events.RecentShown {
			c.recent.Posts = slices.Clone(c.recent.Posts[:events.RecentShown])
		}
		return nil
	}
}

// flushLoop flushes every Interval, or after a backoff when the last flush
// failed, until ctx ends.
func (s *Snapshotter) flushLoop(ctx context.Context) {
	t := time.NewTimer(s.cfg.Interval)
	defer t.Stop()
	wait := backoff.New(s.retryPolicy())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.flush(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d := wait.Next()
			s.log.Warn("flush failed; rows stay pending", "err", err, "retry_in", d, "pending", s.Stats().KeysPending)
			t.Reset(d)
			continue
		}
		wait.Reset()
		t.Reset(s.cfg.Interval)
	}
}

// flush writes the dirty rows and partials, then the offsets they cover.
// What it could not write goes back to the dirty set; offsets are only
// stored when everything is written.
func (s *Snapshotter) flush(ctx context.Context) (err error) {
	start := time.Now()
	var nRows, nPartials int
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
			s.m.flushes.Inc("error")
		} else {
			s.m.flushes.Inc("ok")
			s.lastOK.Store(time.Now().UnixNano())
		}
		took := time.Since(start)
		if nRows+nPartials > 0 {
			s.m.flushSeconds.WithLabelValues(result).Observe(took.Seconds())
			if err == nil {
				s.log.Info("snapshot flushed", "rows", nRows, "partials", nPartials, "took", took.Round(time.Millisecond))
			}
		}
		s.setHealth(err)
	}()
	sess := s.session.Load()
	s.mu.Lock()
	b := s.dirty.take()
	s.mu.Unlock()
	nRows, nPartials = len(b.rows), len(b.partials)
	if len(b.rows) == 0 && len(b.partials) == 0 && len(b.offsets) == 0 {
		// Nothing to write; still tell /readyz whether Cassandra answers.
		if err := sess.Query(s.stmt.ping).WithContext(ctx).Idempotent(true).Exec(); err != nil {
			return fmt.Errorf("snapshot: ping Cassandra: %w", err)
		}
		return nil
	}
	s.inFlight.Store(int64(len(b.rows) + len(b.partials)))
	rows, err := writeAll(ctx, s.cfg.Concurrency, b.rows, func(ctx context.Context, key string, p pending) error {
		if err := s.writeRow(ctx, sess, key, p); err != nil {
			return fmt.Errorf("snapshot: write hashtag %q: %w", key, err)
		}
		return nil
	})
	partials := b.partials
	if err == nil {
		partials, err = writeAll(ctx, s.cfg.Concurrency, b.partials, func(ctx context.Context, part int32, c *change) error {
			if err := s.writePartial(ctx, sess, part, c); err != nil {
				return fmt.Errorf("snapshot: write trending partial %d: %w", part, err)
			}
			return nil
		})
	}
	s.inFlight.Store(0)
	if err != nil {
		s.mu.Lock()
		s.dirty.restore(rows, partials)
		s.mu.Unlock()
		return err
	}
	if err := s.writeOffsets(ctx, sess, b.offsets); err != nil {
		return err
	}
	s.mu.Lock()
	s.dirty.markFlushed(b.offsets)
	s.mu.Unlock()
	return nil
}

// writeAll calls write for every item with at most limit in flight,
// stopping at the first error, and returns the items it did not write.
func writeAll[K comparable, V any](ctx context.Context, limit int, items map[K]V, write func(context.Context, K, V) error) (map[K]V, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	var mu sync.Mutex
	written := make(map[K]bool, len(items))
	for k, v := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if err := write(gctx, k, v); err != nil {
				return err
			}
			mu.Lock()
			written[k] = true
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	if err == nil && len(written) < len(items) {
		err = fmt.Errorf("snapshot: flush interrupted: %w", ctx.Err())
	}
	if err == nil {
		return nil, nil
	}
	unwritten := map[K]V{}
	for k, v := range items {
		if !written[k] {
			unwritten[k] = v
		}
	}
	return unwritten, err
}

// postUDT is events.PostSummary as the post_summary type. Rev is not
// stored: it only orders summaries inside the processors.
type postUDT struct {
	PostID    string    `cql:"post_id"`
	UserID    string    `cql:"user_id"`
	ImageID   string    `cql:"image_id"`
	Caption   string    `cql:"caption"`
	CreatedAt time.Time `cql:"created_at"`
	// LikeCount is null in a summary written before the column existed,
	// which reads as 0: a post nobody liked then.
	LikeCount int64 `cql:"like_count"`
}

// trendingUDT is events.Trending as the trending_entry type.
type trendingUDT struct {
	Hashtag string `cql:"hashtag"`
	Key     string `cql:"key"`
	Posts   int64  `cql:"posts"`
}

// writeRow writes the changed column groups of one hashtag: one statement,
// or an unlogged single-partition batch (one mutation) when several changed.
func (s *Snapshotter) writeRow(ctx context.Context, sess *gocql.Session, key string, p pending) error {
	type stmt struct {
		q    string
		args []any
	}
	var stmts []stmt
	for g, c := range p {
		switch {
		case c == nil:
		case c.deleted:
			stmts = append(stmts, stmt{s.stmt.unset[g], []any{c.ts, key}})
		case c.count != nil:
			stmts = append(stmts, stmt{s.stmt.set[g], []any{c.ts, c.count.Display, c.count.PostCount, c.count.UpdatedAt, key}})
		case c.top != nil:
			stmts = append(stmts, stmt{s.stmt.set[g], []any{c.ts, toUDTs(c.top.TopPosts), c.top.ComputedAt, c.top.UpdatedAt, key}})
		case c.recent != nil:
			stmts = append(stmts, stmt{s.stmt.set[g], []any{c.ts, toUDTs(c.recent.Posts), c.recent.UpdatedAt, key}})
		default:
			return fmt.Errorf("snapshot: %s change of %q holds no value", group(g), key)
		}
	}
	var err error
	switch len(stmts) {
	case 0:
		return nil
	case 1:
		err = sess.Query(stmts[0].q, stmts[0].args...).WithContext(ctx).Idempotent(true).Exec()
	default:
		b := sess.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		for _, st := range stmts {
			b.Query(st.q, st.args...)
		}
		err = sess.ExecuteBatch(b)
	}
	if err != nil {
		return err
	}
	s.m.rows.Inc(p.columns())
	return nil
}

// writePartial writes, or deletes, the trending partial of partition part.
func (s *Snapshotter) writePartial(ctx context.Context, sess *gocql.Session, part int32, c *change) error {
	var q *gocql.Query
	kind := "deleted"
	if c.deleted {
		q = sess.Query(s.stmt.partialDelete, c.ts, part)
	} else {
		tp := c.partial
		entries := make([]trendingUDT, len(tp.Hashtags))
		for i, h := range tp.Hashtags {
			entries[i] = trendingUDT{Hashtag: h.Hashtag, Key: h.Key, Posts: h.Posts}
		}
		ms := tp.ComputedAt.Truncate(time.Millisecond)
		q = sess.Query(s.stmt.partial, c.ts, tp.Partitions, ms, int32(tp.ComputedAt.Sub(ms)), tp.ExpiresAt, entries, part)
		kind = "value"
	}
	if err := q.WithContext(ctx).Idempotent(true).Exec(); err != nil {
		return err
	}
	s.m.partials.Inc(kind)
	return nil
}

// writeOffsets stores the next offset of each partition a flush covered.
func (s *Snapshotter) writeOffsets(ctx context.Context, sess *gocql.Session, offsets map[partition]int64) error {
	now := time.Now()
	for p, next := range offsets {
		err := sess.Query(s.stmt.offset, WriteTimestamp(s.cfg.Generation, next), next, now,
			s.cfg.Generation, p.topic, p.part).WithContext(ctx).Idempotent(true).Exec()
		if err != nil {
			return fmt.Errorf("snapshot: store offset %d of %s/%d: %w", next, p.topic, p.part, err)
		}
	}
	return nil
}

// fromUDTs converts a stored list back into events.PostSummary values.
func fromUDTs(posts []postUDT) []events.PostSummary {
	if posts == nil {
		return nil
	}
	out := make([]events.PostSummary, len(posts))
	for i, p := range posts {
		out[i] = events.PostSummary{PostID: p.PostID, UserID: p.UserID, ImageID: p.ImageID, Caption: p.Caption,
			CreatedAt: p.CreatedAt, LikeCount: p.LikeCount}
	}
	return out
}

// toUDTs converts summaries into post_summary values: never nil, since a
// null would write a tombstone where an empty list is a plain value.
func toUDTs(posts []events.PostSummary) []postUDT {
	out := make([]postUDT, len(posts))
	for i, p := range posts {
		out[i] = postUDT{PostID: p.PostID, UserID: p.UserID, ImageID: p.ImageID, Caption: p.Caption,
			CreatedAt: p.CreatedAt, LikeCount: p.LikeCount}
	}
	return out
}
