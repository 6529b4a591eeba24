package snapshot

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/topology"
)

// Default values of Config. Each says what it corresponds to.
const (
	// DefaultCassandra is Cassandra's standard native transport address.
	DefaultCassandra = "127.0.0.1:9042"
	// DefaultBroker is Kafka's bootstrap.servers default, like every
	// --brokers flag of tagstream.
	DefaultBroker = "127.0.0.1:9092"
	// DefaultKeyspace holds the snapshot tables.
	DefaultKeyspace = "tagstream"
	// DefaultReplication is a single copy, in ParseReplication's short
	// form: right for one node; use NetworkTopologyStrategy:dc1=3 (3 per
	// data centre) in production.
	DefaultReplication = "SimpleStrategy:1"
	// DefaultInterval is how often dirty rows are written: the staleness a
	// Cassandra reader accepts, and the window in which repeated changes of
	// one hashtag collapse into one row write.
	DefaultInterval = 5 * time.Second
	// DefaultConcurrency bounds in-flight row writes (gocql's default of 2
	// connections per host times a modest pipeline).
	DefaultConcurrency = 16
	// DefaultRetryMin and DefaultRetryMax bound the exponential backoff of
	// failed flushes: a first retry soon, then no more than one attempt
	// every 30 s against a Cassandra that is down.
	DefaultRetryMin = 500 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
	// DefaultTimeout bounds one CQL request; shorter than gocql's 11 s so a
	// dead node fails a flush quickly.
	DefaultTimeout = 5 * time.Second
	// DefaultShutdownFlush bounds the last flush Run makes when its context
	// ends.
	DefaultShutdownFlush = 10 * time.Second
)

// MaxGeneration is the largest Config.Generation: the generation takes the
// top 16 bits of a 63-bit write timestamp (see WriteTimestamp).
const MaxGeneration = 1<<16 - 1

// Config configures a Snapshotter and a Reader. The zero value of every
// field means its default. A Reader uses only the Cassandra fields.
type Config struct {
	// Cassandra are the contact points, host:port. Default DefaultCassandra.
	Cassandra []string
	// Keyspace holds the tables, which InitSchema creates. Default
	// "tagstream".
	Keyspace string
	// Replication is the replication of the keyspace InitSchema creates,
	// in a form ParseReplication takes (SimpleStrategy:N,
	// NetworkTopologyStrategy:dc1=N,..., or the CQL map). Default
	// DefaultReplication (SimpleStrategy, replication_factor 1). An
	// existing keyspace is never altered.
	Replication string
	// Consistency of reads and writes. Default LOCAL_QUORUM (with one
	// replica, the one replica): a quorum of the local data centre's
	// replicas, which only means something with LocalDC set.
	Consistency gocql.Consistency
	// LocalDC is the data centre this process runs in: requests go to its
	// nodes first, token-aware (the replicas of a row's key first), and
	// to other data centres' only when none of its own answers. Default
	// empty: every node is local, token-aware round robin.
	LocalDC string
	// Timeout bounds each CQL request. Default 5 s.
	Timeout time.Duration
	// Dialer, if set, makes every connection to Cassandra (gocql's
	// ClusterConfig.Dialer): a tunnel, or a test's fault injection.
	Dialer gocql.Dialer

	// User and Password log in to a Cassandra with
	// authenticator: PasswordAuthenticator (cassandra.yaml). Default
	// empty: no login, which only a Cassandra with AllowAllAuthenticator
	// (its default) lets in. A Password without a User is an error.
	User, Password string
	// TLS, if set, encrypts every connection (Cassandra's
	// client_encryption_options) with this client configuration (its
	// CAs, its client certificate for require_client_auth: true; the
	// --cassandra-* files config.TLS loads), verifying each node's
	// certificate and that it names the address dialled. Default nil:
	// plaintext.
	TLS *tls.Config

	// CreateSchema makes a Snapshotter create the schema itself when it
	// connects, as InitSchema does, rather than fail on a missing one.
	// Default false: the schema is an operator's step (`tagstream
	// snapshot --init-schema`), and a process that runs DDL on every start
	// races its replicas' DDL into schema disagreements. `tagstream run`
	// sets it: it is the one-process setup that needs no steps.
	CreateSchema bool

	// Brokers are the Kafka seed brokers. Default DefaultBroker.
	Brokers []string
	// KafkaOpts are extra franz-go options (client id, TLS, SASL, ...).
	KafkaOpts []kgo.Opt
	// CountsTopic, TopTopic and RecentTopic are the changelogs of the
	// tables a hashtags row joins, PartialsTopic the trending partials:
	// the topics topology.Gen.Served lists. Defaults: generation 0's
	// (topology.Gen). A replay's generation has its own topics; see
	// Generation.
	CountsTopic, TopTopic, RecentTopic, PartialsTopic string
	// Generation numbers the topics' generation, 0..MaxGeneration. Every
	// change of the followed topics (a replay's new generation, a
	// recreated topic, a new partition count) must come with a higher
	// Generation; a Snapshotter refuses to run on a generation lower than
	// one already flushed. Default 0.
	Generation int
	// Group is the Kafka consumer group. Default
	// topology.Namespace.SnapshotGroup of the default namespace.
	// Offsets are kept in Cassandra, not committed to Kafka.
	Group string

	// Interval between flushes. Default 5 s.
	Interval time.Duration
	// Concurrency bounds row writes in flight. Default 16.
	Concurrency int
	// RetryMin and RetryMax bound the exponential backoff after a failed
	// flush. Defaults 500 ms and 30 s.
	RetryMin, RetryMax time.Duration

	// Metrics receives the tagstream_snapshot_* metrics. Default: a private
	// registry (Stats still works). Register one Snapshotter per registry.
	Metrics *metrics.Registry
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

var identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// withDefaults returns c with every zero field set to its default, or an
// error for a value that cannot work.
func (c Config) withDefaults() (Config, error) {
	if len(c.Cassandra) == 0 {
		c.Cassandra = []string{DefaultCassandra}
	}
	if c.Keyspace == "" {
		c.Keyspace = DefaultKeyspace
	}
	if !identifier.MatchString(c.Keyspace) {
		return c, fmt.Errorf("snapshot: keyspace %q is not a CQL identifier (a letter, then up to 47 letters, digits or _)", c.Keyspace)
	}
	if c.Replication == "" {
		c.Replication = DefaultReplication
	}
	repl, err := ParseReplication(c.Replication)
	if err != nil {
		return c, err
	}
	c.Replication = repl
	if c.Password != "" && c.User == "" {
		return c, errors.New("snapshot: a Cassandra password without a user: name the role to log in as")
	}
	if c.Consistency == 0 {
		c.Consistency = gocql.LocalQuorum
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBroker}
	}
	g0 := topology.Gen{}
	for _, t := range []struct {
		topic *string
		def   string
	}{
		{&c.CountsTopic, g0.CountsTable()},
		{&c.TopTopic, g0.TopTable()},
		{&c.RecentTopic, g0.RecentTable()},
		{&c.PartialsTopic, g0.TrendingPartials()},
	} {
		if *t.topic == "" {
			*t.topic = t.def
		}
	}
	// A record's topic says what it holds: one topic cannot be two.
	seen := map[string]bool{}
	for _, t := range c.topics() {
		if seen[t] {
			return c, fmt.Errorf("snapshot: topic %q is followed twice (counts %q, top %q, recent %q, partials %q)",
				t, c.CountsTopic, c.TopTopic, c.RecentTopic, c.PartialsTopic)
		}
		seen[t] = true
	}
	if c.Generation < 0 || c.Generation > MaxGeneration {
		return c, fmt.Errorf("snapshot: generation %d outside 0..%d", c.Generation, MaxGeneration)
	}
	if c.Group == "" {
		c.Group = topology.Namespace("").SnapshotGroup()
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// topics lists the followed topics.
func (c Config) topics() []string {
	return []string{c.CountsTopic, c.TopTopic, c.RecentTopic, c.PartialsTopic}
}

// WithGen returns c following generation g's served topics
// (topology.Gen.Served), with g's number as Generation.
func (c Config) WithGen(g topology.Gen) Config {
	c.CountsTopic, c.TopTopic, c.RecentTopic, c.PartialsTopic = g.CountsTable(), g.TopTable(), g.RecentTable(), g.TrendingPartials()
	c.Generation = g.N
	return c
}

// Retries of a failed request, each on the next host of the policy's
// plan: every statement tagstream sends is idempotent (a read, or a row's
// whole value written at a fixed timestamp), so a retry cannot apply
// twice. gocql retries only statements marked Idempotent(true): every one
// is, reads included, or a read sent to a node that just died fails
// instead of moving on (make cassandra-cluster found the flush's ping).
const (
	retries  = 2
	retryMin = 50 * time.Millisecond
	retryMax = 500 * time.Millisecond
)

// No speculative execution: gocql 1.7 answers with the first attempt to
// finish, and a speculative attempt that finds no replica left (one node,
// or a replication factor of one) finishes at once with an error, turning
// a read slower than the speculation's delay into a failed one.

// cluster is the gocql configuration shared by the Snapshotter and Reader.
func (c Config) cluster() *gocql.ClusterConfig {
	cl := gocql.NewCluster(c.Cassandra...)
	cl.Consistency = c.Consistency
	// gocql's default is round robin over every node: neither the replicas
	// of a key nor the local data centre first.
	fallback := gocql.RoundRobinHostPolicy()
	if c.LocalDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(c.LocalDC)
	}
	cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	// gocql's default retries nothing.
	cl.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: retries, Min: retryMin, Max: retryMax}
	cl.Timeout = c.Timeout
	cl.ConnectTimeout = c.Timeout
	// gocql retries a node it marked down every ReconnectInterval (60 s by
	// default): a restarted Cassandra would sit unused for up to a minute.
	cl.ReconnectInterval = time.Second
	if c.Dialer != nil {
		cl.Dialer = c.Dialer
	}
	if c.User != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{
			Username: c.User, Password: c.Password,
			// gocql's default list names a dozen vendors' authenticators;
			// a node asking for another one is not ours to answer.
			AllowedAuthenticators: allowedAuthenticators,
		}
	}
	if c.TLS != nil {
		// EnableHostVerification: gocql's SslOptions skip verification
		// unless it is set, whatever the tls.Config says.
		cl.SslOpts = &gocql.SslOptions{Config: c.TLS, EnableHostVerification: true}
	}
	return cl
}

// connectError is the error of a session that could not be created,
// with a hint when the cause is the one setting the operator left out.
func (c Config) connectError(err error) error {
	if c.User == "" && strings.Contains(err.Error(), "authentication required") {
		return fmt.Errorf("snapshot: connect to %v: %w (the nodes require a login: set --cassandra-user and --cassandra-password-file)", c.Cassandra, err)
	}
	return fmt.Errorf("snapshot: connect to %v: %w", c.Cassandra, err)
}
