package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
)

// restartingListener behaves like a Kafka broker restarting: on restart it
// drops every open connection and stops listening (connections are
// refused, as while the JVM is down), then listens again but for a while
// accepts connections only to close them at once, before the client's
// first request (ApiVersions) gets an answer, as a broker that is starting
// or stopping does.
type restartingListener struct {
	addr    string
	mu      sync.Mutex
	inner   net.Listener
	ready   chan struct{} // closed when inner listens again
	conns   []net.Conn
	closing atomic.Bool
	refused atomic.Int64 // connections closed while starting
}

func (l *restartingListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		inner := l.inner
		l.mu.Unlock()
		c, err := inner.Accept()
		if err != nil {
			l.mu.Lock()
			ready := l.ready
			l.mu.Unlock()
			if ready == nil {
				return nil, err // closed for good
			}
			<-ready
			continue
		}
		if l.closing.Load() {
			l.refused.Add(1)
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
		return c, nil
	}
}

func (l *restartingListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ready = nil
	return l.inner.Close()
}

func (l *restartingListener) Addr() net.Addr { return l.inner.Addr() }

// restart refuses connections for down, then closes every new one for
// starting, then serves again.
func (l *restartingListener) restart(t *testing.T, down, starting time.Duration) {
	l.mu.Lock()
	l.ready = make(chan struct{})
	ready := l.ready
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
	_ = l.inner.Close()
	l.mu.Unlock()
	l.closing.Store(true)
	time.AfterFunc(down, func() {
		inner, err := net.Listen("tcp", l.addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", l.addr, err)
			return
		}
		l.mu.Lock()
		l.inner = inner
		l.mu.Unlock()
		close(ready)
		time.AfterFunc(starting, func() { l.closing.Store(false) })
	})
}

// A broker that shuts down closes new connections before it answers their
// first request. franz-go takes that first-read EOF for a TLS or SASL
// misconfiguration and, by default, fails buffered records at once instead
// of retrying: during `services/kafka.sh restart` that failed 815 records
// of a chaos run's load, and it can fail the records of an open extractor
// transaction. Every tagstream client retries it (kgo.AlwaysRetryEOF).
// This test restarts the listener three times while 900 records are
// produced and expects every one delivered.
func TestClientsRetryABrokerClosingNewConnections(t *testing.T) {
	var ln *restartingListener
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(12, "t"),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			inner, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			ln = &restartingListener{addr: inner.Addr().String(), inner: inner}
			return ln, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	c := kafka.Cluster{Brokers: cluster.ListenAddrs()}
	cl, err := c.Client("test", kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Whether a restart meets a buffered batch that no request holds yet
	// is a matter of timing: three restarts, so the old behaviour fails
	// this test nearly every time (one restart: four runs in five).
	var failed atomic.Int64
	var first atomic.Value
	for range 3 {
		ln.restart(t, 0, time.Second)
		for i := range 300 {
			cl.Produce(ctx, &kgo.Record{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("during")}, func(_ *kgo.Record, err error) {
				if err != nil && failed.Add(1) == 1 {
					first.Store(err)
				}
			})
			time.Sleep(5 * time.Millisecond)
			// A dropped connection makes the client reload metadata; the
			// reload meeting a closed connection is what fails records.
			cl.ForceMetadataRefresh()
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("the broker closed %d new connections while it restarted", ln.refused.Load())
	if n := failed.Load(); n > 0 {
		err, _ := first.Load().(error)
		var eof *kgo.ErrFirstReadEOF
		t.Fatalf("%d of 900 records failed while the broker restarted (first-read EOF: %v): %v", n, errors.As(err, &eof), err)
	}
}
