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

// Row is a hashtag's row: what the two goka views hold for the key.
type Row struct {
	// Key is the normalised hashtag.
	Key string
	// Count is the hashtag-counts-table value; nil if that table has none.
	Count *events.Count
	// Top is the hashtag-top-table value; nil if that table has none.
	Top *events.Top
}

// Page joins the row's two values as the goka views join theirs
// (page.Join).
func (r Row) Page() page.Page { return page.Join(r.Key, r.Count, r.Top, nil) }

// Reader reads hashtag rows from Cassandra: the read side of a stateless
// API, which needs no goka view.
type Reader struct {
	sess *gocql.Session
	stmt statements
}

// NewReader connects to Cassandra with cfg's Cassandra fields (Cassandra,
// Keyspace, Consistency, Timeout). It fails if no node answers now; gocql
// reconnects by itself after that. The keyspace need not exist yet: Get
// fails until a Snapshotter has created it.
func NewReader(cfg Config) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sess, err := cfg.cluster().CreateSession()
	if err != nil {
		return nil, fmt.Errorf("snapshot: connect to %v: %w", cfg.Cassandra, err)
	}
	return &Reader{sess: sess, stmt: newStatements(cfg.Keyspace)}, nil
}

// Get returns the row of the normalised hashtag key, or ErrNotFound.
func (r *Reader) Get(ctx context.Context, key string) (Row, error) {
	var (
		display           *string
		count             *int64
		updated, computed time.Time
		posts             []postUDT
	)
	err := r.sess.Query(r.stmt.get, key).WithContext(ctx).Idempotent(true).
		Scan(&display, &count, &updated, &posts, &computed)
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
	if !computed.IsZero() {
		row.Top = &events.Top{TopPosts: fromUDT(posts), ComputedAt: computed}
	}
	if row.Count == nil && row.Top == nil {
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

// Ping returns nil if Cassandra answers a query: the Reader's /readyz.
func (r *Reader) Ping(ctx context.Context) error {
	if err := r.sess.Query(r.stmt.ping).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("snapshot: ping Cassandra: %w", err)
	}
	return nil
}

// Ready is Ping under the name the API's page sources share (views.Views
// has it too): the API's /readyz.
func (r *Reader) Ready(ctx context.Context) error { return r.Ping(ctx) }

// Close closes the session.
func (r *Reader) Close() { r.sess.Close() }

// Trending is not stored yet.
func (r *Reader) Trending(ctx context.Context) (page.Trending, error) {
	return page.Trending{}, errors.New("snapshot: trending is not stored in Cassandra yet")
}
