// Package pipeline assembles tagstream's pieces into the processes the
// binary runs: a worker (processors), an API (views or the Cassandra
// snapshot + HTTP + photos), a snapshotter, or everything on an embedded
// broker.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/cors"
	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/emitters"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/site"
	"github.com/tagstream/tagstream/snapshot"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/topology"
	"github.com/tagstream/tagstream/views"
)

// Worker creates missing topics and runs every processor until ctx is done.
//
// It runs the generation of o.Gen's namespace the cluster serves
// (topology.CurrentGen) and, when `tagstream replay` moves it, stops and
// starts again on the new one.
func Worker(ctx context.Context, c kafka.Cluster, o processors.Options) error {
	for {
		g, err := topology.CurrentGen(ctx, c, o.Gen.NS)
		if err != nil {
			return err
		}
		if err := c.EnsureTopics(ctx, g.Topics()); err != nil {
			return err
		}
		o.Gen = g
		gctx, cancel := topology.UntilGenChanges(ctx, c, g, 5*time.Second)
		groups := o.Groups
		if len(groups) == 0 {
			groups = processors.WorkerGroups
		}
		var names []string
		for _, base := range groups {
			names = append(names, g.Group(base))
		}
		err = withLag(gctx, c, "worker", names, func(ctx context.Context) error { return processors.Run(ctx, c, o) })
		moved := gctx.Err() != nil && ctx.Err() == nil
		cancel()
		if !moved {
			return err
		}
		slog.Info("generation moved; restarting the processors on it", "from", g)
	}
}

// Rank creates its missing topics and runs the ranking and the trending
// windows (processors.RunRank) until ctx is done, following the
// generation the cluster serves as Worker does.
func Rank(ctx context.Context, c kafka.Cluster, o processors.RankOptions) error {
	for {
		g, err := topology.CurrentGen(ctx, c, o.Gen.NS)
		if err != nil {
			return err
		}
		if err := c.EnsureTopics(ctx, g.RankTopics()); err != nil {
			return err
		}
		o.Gen = g
		gctx, cancel := topology.UntilGenChanges(ctx, c, g, 5*time.Second)
		err = withLag(gctx, c, "rank", []string{g.Rank(), g.Trending()}, func(ctx context.Context) error { return processors.RunRank(ctx, c, o) })
		moved := gctx.Err() != nil && ctx.Err() == nil
		cancel()
		if !moved {
			return err
		}
		slog.Info("generation moved; restarting the ranking on it", "from", g)
	}
}

// APIOptions configures an API process.
type APIOptions struct {
	Cluster kafka.Cluster
	// Namespace is the deployment served (topology.Namespace).
	Namespace topology.Namespace
	// HTTP is the listen address.
	HTTP string
	API  api.Config
	// Media configures photo storage, uploads and image URLs.
	Media MediaOptions
	// Source is where pages are read: "views" (default: local goka views,
	// a full copy of both tables) or "cassandra" (the snapshot, read with
	// Cassandra's fields of Snapshot: a stateless API).
	Source   string
	Snapshot snapshot.Config
	// Listening, if set, is called with the bound address once the server
	// accepts connections.
	Listening func(addr string)
	// MaxConnections bounds the open HTTP connections (0: no bound).
	MaxConnections int
	// Edge, if set, purges the edge in front of the API when pages
	// change (views only: the snapshot has no change feed).
	Edge *EdgeOptions
}

// EdgeOptions configures the purges of the edges (package edge).
type EdgeOptions struct {
	// Purgers are the edges, each with a queue of its own: an edge that
	// is down retries its own keys without re-purging the others'.
	Purgers []edge.Purger
	Queue   edge.QueueConfig
}

// Page sources of APIOptions.Source.
const (
	SourceViews     = "views"
	SourceCassandra = "cassandra"
)

// API runs the page source and the HTTP API until ctx is done.
func API(ctx context.Context, o APIOptions) error {
	// api.New panics on a bad origin, a programming error there; here it
	// is a configuration one.
	if _, err := cors.Parse(o.API.CORSOrigins); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if err := o.Cluster.EnsureTopics(ctx, o.Namespace.Gen(0).APITopics()); err != nil {
		return err
	}
	var (
		pages api.Pages
		run   func(context.Context) error
	)
	switch o.Source {
	case "", SourceViews:
		v := views.Follow(o.Cluster, o.Namespace, 0)
		pages, run = v, v.Run
		if o.Edge != nil {
			// Each replica purges once its own views hold the change:
			// the last replica to apply it purges last, after which the
			// edge's fetch gets the new page whichever replica serves it.
			var queues []*edge.Queue
			for _, p := range o.Edge.Purgers {
				queues = append(queues, edge.NewQueue(p, o.Edge.Queue))
			}
			v.OnChange(func(keys ...string) {
				for _, q := range queues {
					q.Add(keys...)
				}
			})
			run = func(ctx context.Context) error {
				g, ctx := errgroup.WithContext(ctx)
				for _, q := range queues {
					g.Go(func() error { return q.Run(ctx) })
				}
				g.Go(func() error { return v.Run(ctx) })
				return g.Wait()
			}
		}
	case SourceCassandra:
		if o.Edge != nil {
			return errors.New("pipeline: --edge-purge needs --source views: the snapshot tells no changes, so pages would only expire by max-age")
		}
		r := &cassandraPages{cfg: o.Snapshot}
		pages, run = r, r.Run
	default:
		return fmt.Errorf("pipeline: unknown page source %q (want %s or %s)", o.Source, SourceViews, SourceCassandra)
	}
	posts, err := emitters.NewPosts(o.Cluster, o.Namespace)
	if err != nil {
		return err
	}
	defer posts.Close()
	ln, err := net.Listen("tcp", o.HTTP)
	if err != nil {
		return fmt.Errorf("pipeline: listen on %s: %w", o.HTTP, err)
	}
	cfg, err := withMedia(ctx, o.Media, o.API, ln.Addr())
	if err == nil && cfg.Site == nil {
		cfg.Site, err = site.New(site.Config{CDNBase: cfg.CDNBase})
	}
	if err != nil {
		ln.Close()
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return run(ctx) })
	serve(ctx, g, limitListen(ln, o.MaxConnections), api.New(cfg, pages, posts))
	if o.Listening != nil {
		o.Listening(ln.Addr().String())
	}
	return g.Wait()
}

// serve serves h on ln in g until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, g *errgroup.Group, ln net.Listener, h http.Handler) {
	// Short deadlines for every route: a page, a post or a resized image
	// is read and answered in far less. The upload endpoint of the
	// embedded store sets longer ones of its own, sized to the upload
	// (media.Local), so a slow link can send the largest allowed file.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("pipeline: http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// A request still running after 5 s (a client that went away
			// mid-resize, a slow upload) must not turn a requested stop
			// into a failure: cut it, and say so.
			slog.Warn("http: requests still running 5 s after the stop; closing their connections", "err", err)
			return srv.Close()
		}
		return nil
	})
}

// EmbeddedOptions configures `tagstream run`.
type EmbeddedOptions struct {
	// Processors configures the worker; its InstanceID defaults to "embedded".
	Processors processors.Options
	// Rank, if set, runs the ranking and the trending windows; nil leaves
	// hashtag-top-posts to an outside ranking job.
	Rank *processors.RankOptions
	// Data holds the broker's log, goka's state and the token secret.
	Data string
	// KafkaListen is where the embedded broker listens for any Kafka client.
	KafkaListen string
	Cluster     kafka.Cluster
	HTTP        string
	API         api.Config
	// Media configures photos; without an S3 endpoint, originals are kept
	// in the embedded store under Data/images, and generated signing keys
	// in Data.
	Media MediaOptions
	// Snapshot, if set, runs a snapshotter into its Cassandra, following
	// the embedded broker (its Brokers are ignored), which creates the
	// schema if it is missing (CreateSchema is set).
	Snapshot *snapshot.Config
	// MaxConnections bounds the open HTTP connections (0: no bound).
	MaxConnections int
	// Demo seeds the demo's posts, photos and likes (package demo) once
	// the API listens, unless Data records an earlier seeding (DemoMarker).
	Demo bool
	// Edge, if set, purges the edge in front of the API (APIOptions.Edge).
	Edge *EdgeOptions
	// Out receives the start-up banner.
	Out io.Writer
	// Ready, if set, is called with the broker's and the API's addresses
	// once both accept connections.
	Ready func(kafkaAddr, httpAddr string)
}

// Embedded runs the whole pipeline in one process on an embedded broker
// persisted under Data. Killed and restarted on the same Data, it resumes
// with every count intact.
func Embedded(ctx context.Context, o EmbeddedOptions) error {
	if err := privateDir(o.Data); err != nil {
		return err
	}
	seed := false
	if o.Demo {
		var why string
		if seed, why = demoWanted(o.Data); why != "" {
			fmt.Fprintln(o.Out, "demo:", why)
		}
	}
	b, err := broker.Start(filepath.Join(o.Data, "kafka"), o.KafkaListen)
	if err != nil {
		return err
	}
	defer b.Close()
	if len(o.API.Secret) == 0 {
		if o.API.Secret, err = token.LoadOrCreateSecret(o.Data); err != nil {
			return err
		}
	}
	c := o.Cluster
	c.Brokers = []string{b.Addr()}
	c.Replication = 1
	// goka creates its group tables on first start; creating all topics
	// first avoids a race between the processors and the views.
	ns := o.Processors.Gen.NS
	if err := c.EnsureTopics(ctx, ns.Gen(0).Topics()); err != nil {
		return err
	}
	if o.Processors.InstanceID == "" {
		// One worker, restarted on the same data: a stable id fences
		// the killed predecessor's transaction at once.
		o.Processors.InstanceID = "embedded"
	}
	demoTTL := o.API.TokenMaxTTL
	if demoTTL <= 0 {
		demoTTL = token.DefaultMaxTTL
	}
	demo, err := token.Mint(o.API.Secret, "demo", demoTTL, demoTTL)
	if err != nil {
		return err
	}
	if o.Media.S3.Endpoint == "" && o.Media.EmbeddedDir == "" {
		o.Media.EmbeddedDir = filepath.Join(o.Data, "images")
	}
	if o.Media.KeysDir == "" {
		o.Media.KeysDir = o.Data
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return Worker(ctx, c, o.Processors) })
	rank := "off (--rank=false: hashtag-top-posts is left to an outside job)"
	if o.Rank != nil {
		ro := *o.Rank
		ro.Gen, ro.InstanceID = o.Processors.Gen, o.Processors.InstanceID
		g.Go(func() error { return Rank(ctx, c, ro) })
		rank = fmt.Sprintf("top posts by likes, half-life %s, published at most every %s", ro.HalfLife, ro.Interval)
	}
	snap := "off (no --cassandra)"
	if o.Snapshot != nil {
		cfg := *o.Snapshot
		cfg.Brokers = c.Brokers
		// run is the one setup that needs no steps: its snapshotter
		// creates the schema, which `snapshot --init-schema` does for
		// every other deployment.
		cfg.CreateSchema = true
		if cfg.Metrics == nil {
			cfg.Metrics = metrics.Default
		}
		s := newFollowingSnapshot(cfg.Metrics)
		// Reported, not required: pages come from the views, so the API
		// keeps serving while Cassandra is down.
		o.API.Status = map[string]func() error{"snapshot": s.Healthy}
		g.Go(func() error { return s.Run(ctx, cfg, c, ns) })
		snap = describeSnapshot(*o.Snapshot)
	}
	g.Go(func() error {
		return API(ctx, APIOptions{Cluster: c, Namespace: ns, HTTP: o.HTTP, API: o.API, Media: o.Media, MaxConnections: o.MaxConnections, Edge: o.Edge, Listening: func(addr string) {
			page := reachable(addr)
			fmt.Fprintf(o.Out, "tagstream is running\n"+
				"  kafka broker (embedded): %s   data: %s\n"+
				"  HTTP API:                http://%s\n"+
				"  storage:                 %s\n"+
				"  ranking:                 %s\n"+
				"  snapshot:                %s\n"+
				"  demo bearer token (user demo, %s):\n    %s\n"+
				"  the page:                http://%s/\n"+
				"  try: curl -s -H 'Authorization: Bearer %s' -d '{\"caption\":\"hello #tagstream\"}' http://%s/v1/posts\n"+
				"       curl -s http://%s/v1/hashtags/tagstream\n"+
				"  photos: README.md, \"Photos\"\n",
				b.Addr(), o.Data, addr, o.Media.Describe(), rank, snap, demoTTL, demo, page, demo, addr, addr)
			if o.Ready != nil {
				o.Ready(b.Addr(), addr)
			}
			if seed {
				g.Go(func() error { return seedDemo(ctx, o.Out, o.Data, "http://"+reachable(addr), o.API.Secret) })
			}
		}})
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	slog.Debug("pipeline stopped", "err", err)
	return err
}

// privateDir makes dir, the data of `tagstream run`, private to its user:
// it holds the token secret, the image keys, every post and photo. The
// directory is 0700, and the process's umask becomes 077 so that whatever
// is written under it (the broker's log segments, tables, images) is 0600
// or 0700, however the library writing it asks.
func privateDir(dir string) error {
	syscall.Umask(0o077)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pipeline: data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pipeline: data dir: %w", err)
	}
	return nil
}

// ServeMetrics serves /metrics (metrics.Default) and /healthz on addr in
// the background until stop, which closes it and waits: the endpoint of a
// process with no HTTP API of its own (worker, rank).
func ServeMetrics(addr string) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Default)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return serveAside("metrics", addr, mux)
}

// ServePprof serves net/http/pprof on addr in the background until stop,
// which closes it and waits. It is on its own listener so that profiling
// is never exposed on the API's address.
func ServePprof(addr string) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serveAside("pprof", addr, mux)
}

// serveAside serves h on a listener of its own at addr until stop, which
// closes it and waits. No write deadline: a CPU profile takes as long as
// its client asks.
func serveAside(what, addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s listen on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	return func() { srv.Close(); wg.Wait() }, nil
}
