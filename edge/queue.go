package edge

// The queue between the tables' changes and the edge.
//
// Invariants, checked by queue_test.go:
//   - a key added is purged at most Interval later, plus the purge's own
//     time, unless the purge fails, in which case it is tried again at
//     each following interval until it succeeds or the queue stops;
//   - a key purged is purged once more at the next interval: a fetch the
//     edge had in flight when the change was applied (the origin read the
//     old page) may be cached after the first purge, and an xkey purge
//     reaches only objects already in the cache;
//   - however often a key is added within one interval, it is purged once
//     in it (twice with the echo above): a hot hashtag under a write storm
//     costs the edge one purge per interval, not one per event;
//   - the queue holds at most MaxPending keys; past that it drops them and
//     purges PagesKey instead, which every page carries (nothing is left
//     stale, the edge just refetches more);
//   - Add never blocks: it is called from the views' update callbacks,
//     which must never wait on an edge.

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tagstream/tagstream/metrics"
)

// Defaults of QueueConfig.
const (
	DefaultInterval   = time.Second
	DefaultMaxPending = 100_000
	DefaultTimeout    = 30 * time.Second
)

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Interval is how long keys are collected before one purge of them
	// all, hence the longest a key waits. Default DefaultInterval (1 s).
	Interval time.Duration
	// MaxPending bounds the distinct keys waiting. Default
	// DefaultMaxPending (100,000 keys, a few MiB).
	MaxPending int
	// Timeout bounds one purge of an interval's keys, every request of it
	// (each also has its own, edge.Varnish's client: 5 s). Default
	// DefaultTimeout (30 s).
	Timeout time.Duration
}

func (c *QueueConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
}

var (
	purgedKeys = metrics.Default.NewCounterVec("tagstream_edge_purged_keys_total",
		"Surrogate keys purged at the edge, by result: ok, or error (tried again at the next interval).", "result")
	purges = metrics.Default.NewCounterVec("tagstream_edge_purges_total",
		"Purges of one interval's keys, by result: ok or error.", "result")
	purgeOverflows = metrics.Default.NewCounterVec("tagstream_edge_purge_overflows_total",
		"Intervals in which more keys changed than the queue holds (MaxPending), so every page was purged.")
	purgeSeconds = metrics.Default.NewHistogramVec("tagstream_edge_purge_duration_seconds",
		"Time one interval's purge took, every edge included.", nil)
)

// Queue collects surrogate keys and purges them together once per
// interval (the invariants above). Run owns its goroutine.
type Queue struct {
	p   Purger
	cfg QueueConfig

	mu       sync.Mutex
	pending  map[string]struct{}
	overflow bool

	// echo are the keys the last successful purge sent, sent again at the
	// next interval (Run's goroutine only).
	echo []string

	// failing counts consecutive failed purges (Run's goroutine only):
	// an edge that stays down is logged once a minute, not every interval.
	failing int
}

// NewQueue returns a queue purging through p; Run starts it.
func NewQueue(p Purger, cfg QueueConfig) *Queue {
	cfg.defaults()
	return &Queue{p: p, cfg: cfg, pending: map[string]struct{}{}}
}

// Add queues keys for the next purge. It never blocks.
func (q *Queue) Add(keys ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(keys)
}

func (q *Queue) addLocked(keys []string) {
	if q.overflow {
		return
	}
	for _, k := range keys {
		q.pending[k] = struct{}{}
	}
	if len(q.pending) > q.cfg.MaxPending {
		q.overflow = true
		clear(q.pending)
	}
}

// take empties the queue and returns what to purge: its keys (fresh) and
// the last purge's echo, all sorted (one order in logs and tests). The
// pending set is swapped under the lock and read outside it, so that Add
// waits only for the swap.
func (q *Queue) take() (all, fresh []string) {
	q.mu.Lock()
	pending, overflow := q.pending, q.overflow
	if len(pending) > 0 {
		q.pending = map[string]struct{}{}
	}
	q.overflow = false
	q.mu.Unlock()
	if overflow {
		purgeOverflows.Inc()
		fresh = []string{PagesKey, TrendingKey}
	} else {
		for k := range pending {
			fresh = append(fresh, k)
		}
		slices.Sort(fresh)
	}
	seen := make(map[string]struct{}, len(fresh)+len(q.echo))
	for _, k := range append(slices.Clone(fresh), q.echo...) {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			all = append(all, k)
		}
	}
	slices.Sort(all)
	return all, fresh
}

// Run purges the queued keys every interval until ctx is done, then once
// more (within Timeout) so that a stopping API leaves nothing unpurged it
// could still tell.
func (q *Queue) Run(ctx context.Context) error {
	t := time.NewTicker(q.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.Timeout)
			defer cancel()
			q.flush(last)
			return nil
		case <-t.C:
			q.flush(ctx)
		}
	}
}

// flush purges what is queued; on failure the keys go back in the queue.
func (q *Queue) flush(ctx context.Context) {
	keys, fresh := q.take()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := q.p.Purge(ctx, keys)
	q.echo = nil
	purgeSeconds.WithLabelValues().Observe(time.Since(start).Seconds())
	if err != nil {
		purges.Inc("error")
		purgedKeys.Add(int64(len(keys)), "error")
		if q.failing%max(1, int(time.Minute/q.cfg.Interval)) == 0 {
			slog.Warn("edge purge failed; trying again every interval", "keys", len(keys), "failed_in_a_row", q.failing+1, "err", err)
		}
		q.failing++
		q.Add(keys...)
		return
	}
	if q.failing > 0 {
		slog.Info("edge purges go through again", "after_failures", q.failing)
		q.failing = 0
	}
	// Echo what this purge sent that was new, not what was itself an
	// echo: one more purge per change, not one per interval forever.
	q.echo = fresh
	purges.Inc("ok")
	purgedKeys.Add(int64(len(keys)), "ok")
	slog.Debug("edge purged", "keys", len(keys), "took", time.Since(start).Round(time.Millisecond))
}
