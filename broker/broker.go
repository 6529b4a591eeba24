// Package broker runs the embedded Kafka-protocol broker of `tagstream run`:
// franz-go's kfake, persisted to a directory, on a fixed address, so that
// tagstream's own clients and any other Kafka client (kcat, a Python job)
// can use it with zero setup.
package broker

import (
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is a running single-node broker.
type Embedded struct {
	c    *kfake.Cluster
	addr string
}

// Start starts the broker on listen (host:port), persisting every topic,
// offset and group under dir. A restart with the same dir keeps all data.
//
// kfake writes each batch to the OS page cache as it is produced and fsyncs
// on segment roll and shutdown, like Kafka with its default flush settings:
// a killed process loses nothing, a power cut can lose the last batches.
func Start(dir, listen string) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: create %s: %w", dir, err)
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, fmt.Errorf("broker: listen address %q: %w", listen, err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.ClusterID("tagstream-embedded"),
		// kfake asks for 127.0.0.1:<port>; listen where the user asked instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, listen) }),
	)
	if err != nil {
		return nil, fmt.Errorf("broker: start on %s (data %s): %w", listen, dir, err)
	}
	return &Embedded{c: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr is the address clients bootstrap from.
func (e *Embedded) Addr() string { return e.addr }

// Close stops the broker and flushes its data to disk.
func (e *Embedded) Close() { e.c.Close() }
