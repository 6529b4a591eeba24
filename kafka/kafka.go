// Package kafka holds how tagstream talks to a Kafka cluster: the broker
// list, the sarama configuration goka runs on, the partitioner every client
// must share, and the creation of tagstream's topics.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/murmur2"
	"github.com/tagstream/tagstream/tablestore"
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
	// StateDir holds goka's local table copies (LevelDB). Empty keeps them in
	// memory, so every start recovers from the changelog.
	StateDir string
	// ClientID prefixes the Kafka client.id of every client (default "tagstream").
	ClientID string
	// SASL is the principal every client authenticates as (zero: none).
	SASL SASL
}

// Hasher is the partitioning hash of every goka processor, view and emitter:
// Kafka's murmur2, so any client's default partitioner agrees with goka.
func Hasher() hash.Hash32 { return murmur2.Hasher() }

func (c Cluster) clientID(role string) string {
	id := c.ClientID
	if id == "" {
		id = "tagstream"
	}
	return id + "-" + role
}

// Sarama returns a fresh sarama configuration for goka.
//
// The protocol version is 2.8: Kafka 4 removed the request versions older
// clients use (KIP-896), and 2.8 is accepted by Kafka 4 and by kfake alike.
// Streams are read from the oldest offset when a group has no commit, because
// goka's default (newest) would skip every post published before the first
// worker started. Producers wait for all in-sync replicas (acks=all).
func (c Cluster) Sarama(role string) *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = c.clientID(role)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	// acks=all: goka's default (leader only) can lose a post the API has
	// answered 202 for, or a changelog write, when a leader fails right
	// after acknowledging; min.insync.replicas only protects acks=all.
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionLZ4
	// Idempotent, hence ordered: a retried batch can neither duplicate nor
	// overtake the next one, so each goka changelog partition holds a
	// prefix of the writes its processor made, which the counter's
	// watermarks rely on after a crash (topology.md, Delivery guarantee).
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	// post-hashtags is written in transactions: aborted deltas must never
	// be counted.
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 500 * time.Millisecond
	if c.SASL.Enabled() {
		// Validate refuses a bad mechanism before any client is made.
		_ = c.SASL.sarama(cfg)
	}
	return cfg
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
		if _, err := c.SASL.mechanism(); err != nil {
			return err
		}
	}
	return nil
}

func (c Cluster) topicManager(role string) goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = c.replication()
	tmc.Stream.Replication = c.replication()
	// Topics are created by EnsureTopics with their retention; goka only
	// checks them, so it can never create posts with its 1 h default.
	tmc.Stream.Retention = 7 * 24 * time.Hour
	return goka.TopicManagerBuilderWithConfig(c.Sarama(role), tmc)
}

func (c Cluster) replication() int {
	if c.Replication < 1 {
		return 1
	}
	return c.Replication
}

func (c Cluster) producer(role string) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		cfg := c.Sarama(role)
		cfg.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		p, err := goka.NewProducer(brokers, cfg)
		if err != nil {
			return nil, err
		}
		return &orderedProducer{Producer: p}, nil
	}
}

func (c Cluster) storage(sub string) storage.Builder {
	if c.StateDir == "" {
		return tablestore.Builder()
	}
	return storage.DefaultBuilder(filepath.Join(c.StateDir, sub))
}

// ProcessorOptions are the goka options of every tagstream processor.
func (c Cluster) ProcessorOptions(group, instanceID string) []goka.ProcessorOption {
	role := "processor-" + group
	groupCfg := c.Sarama(role)
	if instanceID != "" {
		groupCfg.Consumer.Group.InstanceId = instanceID + "-" + group
	}
	return []goka.ProcessorOption{
		goka.WithHasher(Hasher),
		goka.WithLogger(gokaLogger{}),
		goka.WithClientID(c.clientID(role)),
		goka.WithTopicManagerBuilder(c.topicManager(role)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(groupCfg)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(c.Sarama(role))),
		goka.WithProducerBuilder(c.producer(role)),
		goka.WithStorageBuilder(c.storage("processors")),
	}
}

// ViewOptions are the goka options of every tagstream view.
func (c Cluster) ViewOptions(table string) []goka.ViewOption {
	role := "view-" + table
	return []goka.ViewOption{
		goka.WithViewHasher(Hasher),
		goka.WithViewLogger(gokaLogger{}),
		goka.WithViewClientID(c.clientID(role)),
		goka.WithViewTopicManagerBuilder(c.topicManager(role)),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(c.Sarama(role))),
		goka.WithViewStorageBuilder(c.storage("views")),
		goka.WithViewAutoReconnect(),
	}
}

// EmitterOptions are the goka options of every tagstream emitter.
func (c Cluster) EmitterOptions(topic string) []goka.EmitterOption {
	role := "emitter-" + topic
	return []goka.EmitterOption{
		goka.WithEmitterHasher(Hasher),
		goka.WithEmitterLogger(gokaLogger{}),
		goka.WithEmitterClientID(c.clientID(role)),
		goka.WithEmitterTopicManagerBuilder(c.topicManager(role)),
		goka.WithEmitterProducerBuilder(c.producer(role)),
	}
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
		kgo.ClientID(c.clientID(role)),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.WithLogger(kgoLogger{role}),
		kgo.AlwaysRetryEOF(),
	}
	return append(opts, c.AuthOpts()...)
}

// AuthOpts are the franz-go options that authenticate as c's principal,
// for a client built with options of its own (the snapshotter's).
func (c Cluster) AuthOpts() []kgo.Opt {
	if c.SASL.Enabled() {
		if o, err := c.SASL.kgo(); err == nil { // Validate reports the error
			return []kgo.Opt{o}
		}
	}
	return nil
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

// TopicSpec is a topic tagstream needs, with the settings it must have.
type TopicSpec struct {
	Name string
	// Compact marks a goka table changelog (cleanup.policy=compact).
	Compact bool
	// Retention is retention.ms; negative keeps records forever. Ignored
	// for compacted topics.
	Retention time.Duration
	// Partitions overrides the cluster's partition count, for topics
	// outside the co-partitioned pipeline (a single-record pointer).
	Partitions int32
}

// EnsureTopics creates every missing topic of specs with c.Partitions
// partitions, and fails if an existing one has another partition count:
// goka's co-partitioning would otherwise fail later with a less clear error.
func (c Cluster) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	cl, err := c.Client("admin")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts := int32(c.PartitionCount())
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		if last = c.ensure(ctx, adm, specs, parts); last == nil {
			return nil
		}
		if errors.Is(last, ErrPartitionMismatch) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: ensure topics: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("kafka: ensure topics on %v: %w", c.Brokers, last)
}

func (c Cluster) ensure(ctx context.Context, adm *kadm.Client, specs []TopicSpec, parts int32) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	want := func(s TopicSpec) int32 {
		if s.Partitions > 0 {
			return s.Partitions
		}
		return parts
	}
	for _, s := range specs {
		if d, ok := existing[s.Name]; ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got != want(s) {
				return fmt.Errorf("kafka: topic %s has %d partitions, tagstream is configured for %d: %w",
					s.Name, got, want(s), ErrPartitionMismatch)
			}
			continue
		}
		conf := map[string]*string{}
		if s.Compact {
			conf["cleanup.policy"] = kadm.StringPtr("compact")
		} else {
			ms := int64(-1)
			if s.Retention > 0 {
				ms = s.Retention.Milliseconds()
			}
			conf["retention.ms"] = kadm.StringPtr(strconv.FormatInt(ms, 10))
		}
		resp, err := adm.CreateTopic(ctx, want(s), int16(c.replication()), conf, s.Name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
		case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
			// A principal that may not create topics (the API's) waits
			// for one that may (a worker, an operator).
			return fmt.Errorf("topic %s does not exist and %s may not create it; a worker creates it at its start: %w",
				s.Name, c.principal(), err)
		default:
			return fmt.Errorf("create topic %s: %w", s.Name, err)
		}
	}
	// CreateTopics returns before every broker's metadata shows the topic;
	// goka asks a fresh sarama client for its partitions right away and
	// fails on "topic not found". Return only once metadata lists every
	// topic with a leader for each partition.
	ready, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list created topics: %w", err)
	}
	for _, sp := range specs {
		n := sp.Name
		d, ok := ready[n]
		if !ok || d.Err != nil || int32(len(d.Partitions)) != want(sp) {
			return fmt.Errorf("topic %s not yet in metadata", n)
		}
		for _, p := range d.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return fmt.Errorf("topic %s partition %d has no leader yet", n, p.Partition)
			}
		}
	}
	return nil
}

// Delete deletes the consumer groups and the topics and waits until Kafka
// no longer lists them, so that a fresh start can see neither their data
// nor their committed offsets. Missing groups and topics are not an error.
//
// A group still holding members is waited for: a static member
// (group.instance.id) of a process that stopped stays in its group until
// its session times out (10 s), and a group that survived its topics would
// hand its old committed offsets to the next consumers of topics of the
// same name, which then skip records. Delete fails, naming the group, if
// it is still not empty when ctx ends.
func (c Cluster) Delete(ctx context.Context, topics, groups []string) error {
	cl, err := c.Client("admin")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := deleteGroups(ctx, adm, groups); err != nil {
		return err
	}
	if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
		return fmt.Errorf("kafka: delete topics: %w", err)
	}
	for {
		// ListTopics answers for every name asked, with an error for a
		// topic that does not exist: count only the ones that still do.
		left, err := adm.ListTopics(ctx, topics...)
		still := 0
		for _, d := range left {
			if d.Err == nil {
				still++
			}
		}
		if err == nil && still == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: %d topics still listed after deletion: %w", still, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func deleteGroups(ctx context.Context, adm *kadm.Client, groups []string) error {
	pending := groups
	for len(pending) > 0 {
		resp, err := adm.DeleteGroups(ctx, pending...)
		var still []string
		var last error
		if err != nil {
			still, last = pending, err
		}
		for _, g := range pending {
			r, ok := resp[g]
			switch {
			case err != nil:
			case !ok:
				still, last = append(still, g), fmt.Errorf("no answer for group %s", g)
			case r.Err == nil, errors.Is(r.Err, kerr.GroupIDNotFound):
			case errors.Is(r.Err, kerr.NonEmptyGroup), errors.Is(r.Err, kerr.CoordinatorLoadInProgress),
				errors.Is(r.Err, kerr.CoordinatorNotAvailable), errors.Is(r.Err, kerr.NotCoordinator):
				still, last = append(still, g), r.Err
			default:
				return fmt.Errorf("kafka: delete group %s: %w", g, r.Err)
			}
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: groups %v not deleted: %w (last error: %v)", pending, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// ErrPartitionMismatch reports a topic whose partition count differs from
// the configured one. It is not retried.
var ErrPartitionMismatch = errors.New("partition count mismatch")

// gokaLogger sends goka's chatter (rebalances, recovery) to slog at Info, so
// it follows the process's log level instead of always reaching stderr.
type gokaLogger struct{}

func (gokaLogger) Print(v ...any)   { slog.Info(fmt.Sprint(v...), "source", "goka") }
func (gokaLogger) Println(v ...any) { slog.Info(fmt.Sprint(v...), "source", "goka") }
func (gokaLogger) Printf(format string, v ...any) {
	slog.Info(fmt.Sprintf(format, v...), "source", "goka")
}

// Lag returns the records the groups have not committed yet, summed over
// their partitions. Zero means every input record is processed and its
// offset committed, so a crash now replays nothing.
//
// A transactional topic ends each transaction with a marker that takes an
// offset but is never delivered, so a consumer that commits "last record +
// 1" (goka, sarama) stays one offset short of the end for good, or more
// after an aborted transaction. Lag therefore reads the few records of a
// partition that seems behind by at most maxVerify and counts only the
// committed data records among them.
func (c Cluster) Lag(ctx context.Context, groups ...string) (int64, error) {
	cl, err := c.Client("admin")
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	lags, err := kadm.NewClient(cl).Lag(ctx, groups...)
	if err != nil {
		return 0, fmt.Errorf("kafka: lag of %v: %w", groups, err)
	}
	var total int64
	verify := map[string]map[int32]span{}
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			return 0, fmt.Errorf("kafka: lag of %s: group not described", g)
		}
		if err := l.Error(); err != nil {
			return 0, fmt.Errorf("kafka: lag of %s: %w", g, err)
		}
		for _, pl := range l.Lag.Sorted() {
			switch {
			case pl.Lag <= 0:
			case pl.Lag <= maxVerify:
				if verify[pl.Topic] == nil {
					verify[pl.Topic] = map[int32]span{}
				}
				verify[pl.Topic][pl.Partition] = span{pl.End.Offset - pl.Lag, pl.End.Offset}
			default:
				total += pl.Lag
			}
		}
	}
	return total + c.dataRecords(ctx, verify), nil
}

// maxVerify bounds the records Lag reads to tell markers from data.
const maxVerify = 1000

// span is a range [from, end) of offsets.
type span struct{ from, end int64 }

// dataRecords counts the committed data records in the spans, reading them
// all with one client. Where it cannot tell (an open transaction holds the
// records back, or the read fails) it counts a span whole: not caught up.
func (c Cluster) dataRecords(ctx context.Context, spans map[string]map[int32]span) int64 {
	if len(spans) == 0 {
		return 0
	}
	from := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]span{}
	for t, ps := range spans {
		from[t], remaining[t] = map[int32]kgo.Offset{}, map[int32]span{}
		for p, s := range ps {
			from[t][p], remaining[t][p] = kgo.NewOffset().At(s.from), s
		}
	}
	unknown := func() (n int64) {
		for _, ps := range remaining {
			for _, s := range ps {
				n += s.end - s.from
			}
		}
		return n
	}
	rc, err := c.Client("lag",
		kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return unknown()
	}
	defer rc.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var data int64
	for len(remaining) > 0 {
		f := rc.PollFetches(ctx)
		if ctx.Err() != nil || len(f.Errors()) > 0 {
			return data + unknown()
		}
		f.EachRecord(func(r *kgo.Record) {
			s, ok := remaining[r.Topic][r.Partition]
			if !ok {
				return
			}
			if !r.Attrs.IsControl() && r.Offset < s.end {
				data++
			}
			if r.Offset >= s.end-1 {
				delete(remaining[r.Topic], r.Partition)
				if len(remaining[r.Topic]) == 0 {
					delete(remaining, r.Topic)
				}
			}
		})
	}
	return data
}
