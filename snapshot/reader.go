package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/page"
)

// ErrNotFound reports a hashtag with no row: no post or ranking ever
// mentioned it (or the snapshot has not caught up). errors.Is also matches
// page.ErrNotFound, so an API maps both sources to 404 with one check.
var ErrNotFound = fmt.Errorf("snapshot: hashtag not found: %w", page.ErrNotFound)

// Row is a hashtag's row: what the goka views hold for the key, as far as
// a page shows it.
type Row struct {
	// Key is the normalised hashtag.
	Key string
	// Count is the hashtag-counts-table value, without its watermarks;
	// nil if that table has none.
	Count *events.Count
	// Top is the hashtag-top-table value, without Removed and W; nil if
	// that table has none.
	Top *events.Top
	// Recent is the hashtag-recent-table value, its first
	// events.RecentShown posts, without W; nil if that table has none.
	Recent *events.Recent
}

// Page joins the row's values as the goka views join theirs (page.Join).
func (r Row) Page() page.Page { return page.Join(r.Key, r.Count, r.Top, r.Recent) }

// Reader reads hashtag rows and trending partials from Cassandra: the read
// side of a stateless API, which needs no goka view.
type Reader struct {
	sess *gocql.Session
	stmt statements
}

// NewReader connects to Cassandra with cfg's Cassandra fields (Cassandra,
// Keyspace, Consistency, Timeout, the login and TLS). It fails if no node
// answers now (gocql reconnects by itself after that), and with
// ErrNoSchema if the keyspace lacks the schema InitSchema makes.
func NewReader(cfg Config) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sess, err := cfg.cluster().CreateSession()
	if err != nil {
		return nil, cfg.connectError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	if err := checkSchema(ctx, sess, cfg.Keyspace); err != nil {
		sess.Close()
		return nil, err
	}
	return &Reader{sess: sess, stmt: newStatements(cfg.Keyspace)}, nil
}

// Get returns the row of the normalised hashtag key, or ErrNotFound.
func (r *Reader) Get(ctx context.Context, key string) (Row, error) {
	var (
		display                          *string
		count, topWritten, recentWritten *int64
		updated, computed, topUpdated    time.Time
		recentUpdated                    time.Time
		top, recent                      []postUDT
	)
	err := r.sess.Query(r.stmt.get, key).WithContext(ctx).Idempotent(true).
		Scan(&display, &count, &updated, &top, &computed, &topUpdated, &recent, &recentUpdated, &topWritten, &recentWritten)
	if errors.Is(err, gocql.ErrNotFound) {
		return Row{}, ErrNotFound
	}
	if err != nil {
		return Row{}, fmt.Errorf("snapshot: get %q: %w", key, err)
	}
	row := Row{Key: key}
	if count != nil {
		c := events.Count{PostCount: *count, UpdatedAt: updated}
		if display != nil {
			c.Display = *display
		}
		row.Count = &c
	}
	if topWritten != nil {
		row.Top = &events.Top{TopPosts: fromUDTs(top), ComputedAt: computed, UpdatedAt: topUpdated}
	}
	if recentWritten != nil {
		row.Recent = &events.Recent{Posts: fromUDTs(recent), UpdatedAt: recentUpdated}
	}
	if row.Count == nil && row.Top == nil && row.Recent == nil {
		return Row{}, ErrNotFound
	}
	return row, nil
}

// Page returns the hashtag page of key, joined as the goka views join it,
// or ErrNotFound.
func (r *Reader) Page(ctx context.Context, key string) (page.Page, error) {
	row, err := r.Get(ctx, key)
	if err != nil {
		return page.Page{}, err
	}
	return row.Page(), nil
}

// Partials returns every trending partial stored, in no order.
func (r *Reader) Partials(ctx context.Context) ([]events.TrendingPartial, error) {
	iter := r.sess.Query(r.stmt.partials).WithContext(ctx).Idempotent(true).Iter()
	var (
		out                []events.TrendingPartial
		part, parts, nanos int32
		computed, expires  time.Time
		entries            []trendingUDT
	)
	for iter.Scan(&part, &parts, &computed, &nanos, &expires, &entries) {
		p := events.TrendingPartial{Partition: part, Partitions: parts, ExpiresAt: expires,
			Hashtags: make([]events.Trending, len(entries))}
		if !computed.IsZero() {
			p.ComputedAt = computed.Add(time.Duration(nanos))
		}
		for i, e := range entries {
			p.Hashtags[i] = events.Trending{Hashtag: e.Hashtag, Key: e.Key, Posts: e.Posts}
		}
		out = append(out, p)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("snapshot: read trending partials: %w", err)
	}
	return out, nil
}

// Trending merges the stored partials at the current time, as the views
// merge theirs (page.MergeTrending): an expired partial no longer counts.
func (r *Reader) Trending(ctx context.Context) (page.Trending, error) {
	partials, err := r.Partials(ctx)
	if err != nil {
		return page.Trending{}, err
	}
	return page.MergeTrending(partials, time.Now()), nil
}

// Ping returns nil if Cassandra answers a query: the Reader's /readyz.
func (r *Reader) Ping(ctx context.Context) error {
	if err := r.sess.Query(r.stmt.ping).WithContext(ctx).Idempotent(true).Exec(); err != nil {
		return fmt.Errorf("snapshot: ping Cassandra: %w", err)
	}
	return nil
}

// Ready is Ping under the name the API's page sources share (views.Views
// has it too): the API's /readyz.
func (r *Reader) Ready(ctx context.Context) error { return r.Ping(ctx) }

// Close closes the session.
func (r *Reader) Close() { r.sess.Close() }
