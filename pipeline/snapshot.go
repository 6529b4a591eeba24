package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/snapshot"
)

// SnapshotOptions configures a `tagstream snapshot` process.
type SnapshotOptions struct {
	// Snapshot configures the snapshotter; its Metrics default to the
	// registry /metrics serves.
	Snapshot snapshot.Config
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
	if o.Snapshot.CountsTopic == "" && o.Snapshot.TopTopic == "" {
		o.Snapshot.CountsTopic, o.Snapshot.TopTopic = string(processors.TableCounts), string(processors.TableTop)
	}
	s, err := snapshot.New(o.Snapshot)
	if err != nil {
		return err
	}
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
	g.Go(func() error { return s.Run(ctx) })
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

// embeddedSnapshotter is the snapshotter of `tagstream run`: it follows the
// tables on the embedded broker and reports into the /metrics registry.
func embeddedSnapshotter(cfg snapshot.Config, c kafka.Cluster) (*snapshot.Snapshotter, error) {
	cfg.Brokers = c.Brokers
	cfg.CountsTopic, cfg.TopTopic = string(processors.TableCounts), string(processors.TableTop)
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Default
	}
	return snapshot.New(cfg)
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
