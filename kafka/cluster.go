// Package kafka holds how tagstream talks to a Kafka cluster with
// franz-go: the cluster and the principal its clients use (cluster.go,
// sasl.go), topic and ACL administration (admin.go, acls.go), reading
// ranges of offsets (read.go) and consumer lag (lag.go). goka's clients,
// on sarama, are configured for the same cluster in kafka/gokaopts.
package kafka

import (
	"crypto/tls"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster describes the Kafka cluster tagstream runs on and how it uses it.
type Cluster struct {
	// Brokers are the seed brokers. Default 127.0.0.1:9092
	// (Kafka's bootstrap.servers).
	Brokers []string
	// Partitions is the partition count of every topic tagstream creates.
	// All topics of a goka group must be co-partitioned, so there is one
	// number. Default 12; topology.md says why.
	Partitions int
	// Replication is the replication factor of created topics. Default 1,
	// right for one broker; use 3 in production (Kafka's
	// default.replication.factor).
	Replication int
	// StateDir holds the journals of this process's goka tables
	// (tablestore.Durable) and of the extractor's post states, so a restart
	// reads only the changelogs' tails. Empty keeps them in memory only,
	// so every start reads the changelogs whole.
	StateDir string
	// ClientID prefixes the Kafka client.id of every client (default "tagstream").
	ClientID string
	// SASL is the principal every client authenticates as (zero: none).
	SASL SASL
	// TLS, when set, is the client side of every connection to the
	// brokers: Kafka's security.protocol SSL, or SASL_SSL with SASL. The
	// clients clone it and name the broker dialled as its server unless
	// ServerName is set. Default nil: plaintext (PLAINTEXT or
	// SASL_PLAINTEXT).
	TLS *tls.Config
}

// Protocol is Kafka's security.protocol of c's clients: PLAINTEXT, SSL,
// SASL_PLAINTEXT or SASL_SSL.
func (c Cluster) Protocol() string {
	switch {
	case c.SASL.Enabled() && c.TLS != nil:
		return "SASL_SSL"
	case c.SASL.Enabled():
		return "SASL_PLAINTEXT"
	case c.TLS != nil:
		return "SSL"
	}
	return "PLAINTEXT"
}

// ClientID is the Kafka client.id of a client of role: ClientID (default
// "tagstream") and the role.
func (c Cluster) ClientIDFor(role string) string {
	id := c.ClientID
	if id == "" {
		id = "tagstream"
	}
	return id + "-" + role
}

func (c Cluster) principal() string {
	if c.SASL.Enabled() {
		return "User:" + c.SASL.User
	}
	return "this client"
}

// Validate reports a setting no client can be made with.
func (c Cluster) Validate() error {
	if c.SASL.Enabled() {
		if _, err := c.SASL.MechanismName(); err != nil {
			return err
		}
	}
	return nil
}

// ReplicationFactor is Replication, at least 1.
func (c Cluster) ReplicationFactor() int {
	if c.Replication < 1 {
		return 1
	}
	return c.Replication
}

// Opts returns the franz-go options every tagstream client of the cluster
// starts from: the seed brokers, a client id naming the role, acks=all
// (franz-go's default), LZ4 batches like the goka producers, franz-go's
// warnings in slog, and retries of a connection the broker closes before
// answering its first request.
//
// That last one is kgo.AlwaysRetryEOF. A broker that is stopping or
// starting accepts connections and closes them at once; franz-go takes
// such a first-read EOF for a TLS or SASL mismatch and by default fails
// the records still buffered, at once. During a broker restart that lost
// records of the chaos load, and it can fail records of an open extractor
// transaction. A real TLS or SASL mismatch now shows as franz-go's warning
// about it, repeated, instead of an error.
func (c Cluster) Opts(role string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientIDFor(role)),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.WithLogger(kgoLogger{role}),
		kgo.AlwaysRetryEOF(),
	}
	return append(opts, c.AuthOpts()...)
}

// AuthOpts are the franz-go options that connect as c's principal, over
// TLS if c has it, for a client built with options of its own (the
// snapshotter's).
func (c Cluster) AuthOpts() []kgo.Opt {
	var opts []kgo.Opt
	if c.TLS != nil {
		// franz-go clones it at every dial and sets ServerName to the
		// broker's host; the handshake is part of the dial, within its
		// 10 s timeout.
		opts = append(opts, kgo.DialTLSConfig(c.TLS))
	}
	if c.SASL.Enabled() {
		if o, err := c.SASL.kgo(); err == nil { // Validate reports the error
			opts = append(opts, o)
		}
	}
	return opts
}

// PartitionCount is the partition count of every topic: Partitions, or 12.
func (c Cluster) PartitionCount() int {
	if c.Partitions < 1 {
		return 12
	}
	return c.Partitions
}

// Client returns a franz-go client for the cluster. franz-go's default
// partitioner is Kafka's murmur2, so its records land where goka looks.
func (c Cluster) Client(role string, opts ...kgo.Opt) (*kgo.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(c.Opts(role), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: client for %v: %w", c.Brokers, err)
	}
	return cl, nil
}
