package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/backoff"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/snapshot"
	"github.com/tagstream/tagstream/topology"
)

// SnapshotOptions configures a `tagstream snapshot` process.
type SnapshotOptions struct {
	// Snapshot configures the snapshotter; its Metrics default to the
	// registry /metrics serves.
	Snapshot snapshot.Config
	// Cluster is the Kafka the tables are read from, with the principal
	// the snapshotter authenticates as; its Brokers win over Snapshot's.
	Cluster kafka.Cluster
	// Namespace is the deployment followed (topology.Namespace).
	Namespace topology.Namespace
	// HTTP is the listen address of /healthz, /readyz and /metrics.
	HTTP string
	// Listening, if set, is called with the bound address once the server
	// accepts connections.
	Listening func(addr string)
}

// Snapshot runs a snapshotter and its health and metrics endpoints until
// ctx is done. /readyz answers 503 with the reason while the snapshotter
// cannot write to Cassandra, so an orchestrator sees it; the snapshotter
// itself keeps consuming and retries.
func Snapshot(ctx context.Context, o SnapshotOptions) error {
	if o.Snapshot.Metrics == nil {
		o.Snapshot.Metrics = metrics.Default
	}
	s := newFollowingSnapshot(o.Snapshot.Metrics)
	ln, err := net.Listen("tcp", o.HTTP)
	if err != nil {
		return fmt.Errorf("pipeline: listen on %s: %w", o.HTTP, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Healthy(); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeStatus(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", metrics.Default)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(ctx, o.Snapshot, o.Cluster, o.Namespace) })
	serve(ctx, g, ln, mux)
	if o.Listening != nil {
		o.Listening(ln.Addr().String())
	}
	return g.Wait()
}

func writeStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// followingSnapshot runs a snapshotter on the tables of the generation the
// cluster serves, and a new one on the new generation's tables when
// `tagstream replay` moves it. The write timestamps of a newer generation
// win over every older one (package snapshot), so rows move over as the
// new snapshotter rewrites them.
type followingSnapshot struct {
	cur      atomic.Pointer[snapshot.Snapshotter]
	starting atomic.Pointer[error]
}

var errSnapshotStarting = errors.New("pipeline: snapshotter starting")

// Healthy is the current snapshotter's Healthy, or why there is none yet.
func (f *followingSnapshot) Healthy() error {
	if s := f.cur.Load(); s != nil {
		return s.Healthy()
	}
	if err := f.starting.Load(); err != nil {
		return *err
	}
	return errSnapshotStarting
}

// newFollowingSnapshot returns a snapshotter that follows the generation.
// Until its first snapshotter registers its own metrics in reg, it reports
// itself unhealthy there: with Kafka down the generation, hence the
// tables, are unknown.
func newFollowingSnapshot(reg *metrics.Registry) *followingSnapshot {
	f := &followingSnapshot{}
	reg.NewGaugeFunc("tagstream_snapshot_healthy", "1 if the last flush (or connection attempt) succeeded, else 0.",
		func() float64 {
			if f.Healthy() == nil {
				return 1
			}
			return 0
		})
	return f
}

// Run runs until ctx is done. cfg's topics, group and generation are set
// from the current generation; its Metrics default to /metrics' registry.
func (f *followingSnapshot) Run(ctx context.Context, cfg snapshot.Config, c kafka.Cluster, ns topology.Namespace) error {
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Default
	}
	group := cfg.Group
	if group == "" {
		group = ns.SnapshotGroup()
	}
	if len(c.Brokers) == 0 {
		c.Brokers = cfg.Brokers
	}
	cfg.Brokers = c.Brokers
	cfg.KafkaOpts = append(cfg.KafkaOpts, c.AuthOpts()...)
	wait := backoff.New(backoff.Policy{First: 500 * time.Millisecond, Max: 10 * time.Second})
	for ctx.Err() == nil {
		g, err := topology.CurrentGen(ctx, c, ns)
		if err != nil {
			err = fmt.Errorf("pipeline: snapshot: waiting for Kafka to learn the generation: %w", err)
			f.starting.Store(&err)
			if wait.Wait(ctx) != nil {
				return nil
			}
			continue
		}
		wait.Reset()
		gc := cfg.WithGen(g) // the topics g serves: tables and trending partials
		gc.Group = group
		if g.N > 0 {
			gc.Group = fmt.Sprintf("%s.g%d", group, g.N)
		}
		s, err := snapshot.New(gc)
		if err != nil {
			return err
		}
		f.cur.Store(s)
		gctx, cancel := topology.UntilGenChanges(ctx, c, g, 5*time.Second)
		err = s.Run(gctx)
		moved := gctx.Err() != nil && ctx.Err() == nil
		cancel()
		if !moved {
			return err
		}
		slog.Info("snapshot: generation moved; following it", "from", g)
	}
	return nil
}

// cassandraPages serves pages from the snapshot for `tagstream api
// --source cassandra`. It connects in the background and keeps retrying, so
// a stateless API replica starts while Cassandra is down and answers
// /readyz and pages with 503 until it is back, rather than exiting.
type cassandraPages struct {
	cfg    snapshot.Config
	reader atomic.Pointer[snapshot.Reader]
	last   atomic.Pointer[error]
}

var errCassandraConnecting = errors.New("pipeline: connecting to Cassandra")

// Run connects, retrying with backoff (0.5 s doubling to 30 s), and holds
// the connection until ctx is done.
func (c *cassandraPages) Run(ctx context.Context) error {
	var r *snapshot.Reader
	err := backoff.Retry(ctx, backoff.Policy{First: 500 * time.Millisecond, Max: 30 * time.Second}, func(context.Context) error {
		var err error
		if r, err = snapshot.NewReader(c.cfg); err != nil {
			err = fmt.Errorf("pipeline: api --source cassandra: %w", err)
			c.last.Store(&err)
			slog.Warn("cannot reach Cassandra; retrying", "err", err)
		}
		return err
	})
	if err != nil {
		return nil // ctx ended
	}
	c.reader.Store(r)
	<-ctx.Done()
	r.Close()
	return nil
}

func (c *cassandraPages) notConnected() error {
	if err := c.last.Load(); err != nil {
		return *err
	}
	return errCassandraConnecting
}

// Page reads the snapshot's page of key.
func (c *cassandraPages) Page(ctx context.Context, key string) (page.Page, error) {
	if r := c.reader.Load(); r != nil {
		return r.Page(ctx, key)
	}
	return page.Page{}, c.notConnected()
}

// Ready is nil once connected and Cassandra answers.
func (c *cassandraPages) Ready(ctx context.Context) error {
	if r := c.reader.Load(); r != nil {
		return r.Ready(ctx)
	}
	return c.notConnected()
}

// describeSnapshot says, in one line for a start-up banner, where the
// snapshot goes.
func describeSnapshot(cfg snapshot.Config) string {
	ks, every := cfg.Keyspace, cfg.Interval
	if ks == "" {
		ks = snapshot.DefaultKeyspace
	}
	if every <= 0 {
		every = snapshot.DefaultInterval
	}
	return fmt.Sprintf("Cassandra at %s, keyspace %s, every %s", strings.Join(cfg.Cassandra, ","), ks, every)
}

// Trending reads the snapshot's trending partials.
func (c *cassandraPages) Trending(ctx context.Context) (page.Trending, error) {
	if r := c.reader.Load(); r != nil {
		return r.Trending(ctx)
	}
	return page.Trending{}, c.notConnected()
}
