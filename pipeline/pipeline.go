// Package pipeline assembles tagstream's pieces into the processes the
// binary runs: a worker (processors), an API (views + HTTP), or everything
// on an embedded broker.
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
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/emitters"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/views"
)

// Worker creates missing topics and runs every processor until ctx is done.
func Worker(ctx context.Context, c kafka.Cluster, o processors.Options) error {
	if err := c.EnsureTopics(ctx, processors.Topics()); err != nil {
		return err
	}
	return processors.Run(ctx, c, o)
}

// APIOptions configures an API process.
type APIOptions struct {
	Cluster kafka.Cluster
	// HTTP is the listen address.
	HTTP string
	API  api.Config
	// Listening, if set, is called with the bound address once the server
	// accepts connections.
	Listening func(addr string)
}

// API runs the views and the HTTP API until ctx is done.
func API(ctx context.Context, o APIOptions) error {
	if err := o.Cluster.EnsureTopics(ctx, processors.Topics()); err != nil {
		return err
	}
	v, err := views.New(o.Cluster)
	if err != nil {
		return err
	}
	posts, err := emitters.NewPosts(o.Cluster)
	if err != nil {
		return err
	}
	defer posts.Close()
	ln, err := net.Listen("tcp", o.HTTP)
	if err != nil {
		return fmt.Errorf("pipeline: listen on %s: %w", o.HTTP, err)
	}
	srv := &http.Server{
		Handler:           api.New(o.API, v, posts),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return v.Run(ctx) })
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
		return srv.Shutdown(sctx)
	})
	if o.Listening != nil {
		o.Listening(ln.Addr().String())
	}
	return g.Wait()
}

// EmbeddedOptions configures `tagstream run`.
type EmbeddedOptions struct {
	// Processors configures the worker; its InstanceID defaults to "embedded".
	Processors processors.Options
	// Data holds the broker's log, goka's state and the token secret.
	Data string
	// KafkaListen is where the embedded broker listens for any Kafka client.
	KafkaListen string
	Cluster     kafka.Cluster
	HTTP        string
	API         api.Config
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
	if err := c.EnsureTopics(ctx, processors.Topics()); err != nil {
		return err
	}
	if o.Processors.InstanceID == "" {
		// One worker, restarted on the same data: a stable id fences
		// the killed predecessor's transaction at once.
		o.Processors.InstanceID = "embedded"
	}
	demo, err := token.Mint(o.API.Secret, "demo", 30*24*time.Hour)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return Worker(ctx, c, o.Processors) })
	g.Go(func() error {
		return API(ctx, APIOptions{Cluster: c, HTTP: o.HTTP, API: o.API, Listening: func(addr string) {
			fmt.Fprintf(o.Out, "tagstream is running\n"+
				"  kafka broker (embedded): %s   data: %s\n"+
				"  HTTP API:                http://%s\n"+
				"  demo bearer token (user demo, 30 days):\n    %s\n"+
				"  try: curl -s -H 'Authorization: Bearer %s' -d '{\"caption\":\"hello #tagstream\"}' http://%s/v1/posts\n"+
				"       curl -s http://%s/v1/hashtags/tagstream\n",
				b.Addr(), o.Data, addr, demo, demo, addr, addr)
			if o.Ready != nil {
				o.Ready(b.Addr(), addr)
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

// ServePprof serves net/http/pprof on addr in the background. It is on its
// own listener so that profiling is never exposed on the API's address.
func ServePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pipeline: pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
	return nil
}
