// Package gokaopts configures goka's processors, views and emitters, which
// run on sarama, for a kafka.Cluster: the same brokers, principal, TLS and
// partitioner as tagstream's franz-go clients, acks=all and idempotent
// producers whose promises complete in order, read_committed consumers,
// and tagstream's table storage.
package gokaopts

import (
	"context"
	"fmt"
	"hash"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/murmur2"
	"github.com/tagstream/tagstream/tablestore"
)

// Hasher is the partitioning hash of every goka processor, view and emitter:
// Kafka's murmur2, so any client's default partitioner agrees with goka.
func Hasher() hash.Hash32 { return murmur2.Hasher() }

// Sarama returns a fresh sarama configuration for goka.
//
// The protocol version is 2.8: Kafka 4 removed the request versions older
// clients use (KIP-896), and 2.8 is accepted by Kafka 4 and by kfake alike.
// Streams are read from the oldest offset when a group has no commit, because
// goka's default (newest) would skip every post published before the first
// worker started. Producers wait for all in-sync replicas (acks=all).
func Sarama(c kafka.Cluster, role string) *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = c.ClientIDFor(role)
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
		_ = setSASL(cfg, c.SASL)
	}
	if c.TLS != nil {
		// sarama names the broker it dials as the server unless
		// ServerName is set, as franz-go does; a clone, because sarama
		// and goka keep configurations of their own.
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = c.TLS.Clone()
	}
	return cfg
}

func topicManager(c kafka.Cluster, role string) goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = c.ReplicationFactor()
	tmc.Stream.Replication = c.ReplicationFactor()
	// Topics are created by EnsureTopics with their retention; goka only
	// checks them, so it can never create posts with its 1 h default.
	tmc.Stream.Retention = 7 * 24 * time.Hour
	return goka.TopicManagerBuilderWithConfig(Sarama(c, role), tmc)
}

func producer(c kafka.Cluster, role string) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		cfg := Sarama(c, role)
		cfg.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		p, err := goka.NewProducer(brokers, cfg)
		if err != nil {
			return nil, err
		}
		return newOrderedProducer(p), nil
	}
}

func storageFor(c kafka.Cluster, sub string) storage.Builder {
	if c.StateDir == "" {
		return tablestore.Builder()
	}
	return tablestore.Durable(filepath.Join(c.StateDir, sub), sub == "processors", journalBounds(c))
}

// journalBounds lists a changelog's offsets once for the partitions a
// start opens together (within boundsFresh), with one client: a client
// per partition (SASL included) took a second of each partition's
// recovery under make chaos.
func journalBounds(c kafka.Cluster) tablestore.Bounds {
	const boundsFresh = 2 * time.Second
	type listed struct {
		at          time.Time
		starts, end map[int32]int64
	}
	var mu sync.Mutex
	cache := map[string]listed{}
	return func(topic string, p int32) (int64, int64, error) {
		mu.Lock()
		defer mu.Unlock()
		l, ok := cache[topic]
		if !ok || time.Since(l.at) > boundsFresh {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			starts, ends, err := c.Bounds(ctx, topic)
			if err != nil {
				return 0, 0, err
			}
			l = listed{time.Now(), starts, ends}
			cache[topic] = l
		}
		end, ok := l.end[p]
		if !ok {
			return 0, 0, fmt.Errorf("gokaopts: %s has no partition %d", topic, p)
		}
		return l.starts[p], end, nil
	}
}

// Processor returns the goka options of a tagstream processor of group.
func Processor(c kafka.Cluster, group, instanceID string) []goka.ProcessorOption {
	role := "processor-" + group
	groupCfg := Sarama(c, role)
	if instanceID != "" {
		groupCfg.Consumer.Group.InstanceId = instanceID + "-" + group
	}
	return []goka.ProcessorOption{
		goka.WithHasher(Hasher),
		goka.WithLogger(gokaLogger{}),
		goka.WithClientID(c.ClientIDFor(role)),
		goka.WithTopicManagerBuilder(topicManager(c, role)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(groupCfg)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(Sarama(c, role))),
		goka.WithProducerBuilder(producer(c, role)),
		goka.WithStorageBuilder(storageFor(c, "processors")),
	}
}

// View returns the goka options of a tagstream view of table.
func View(c kafka.Cluster, table string) []goka.ViewOption {
	role := "view-" + table
	return []goka.ViewOption{
		goka.WithViewHasher(Hasher),
		goka.WithViewLogger(gokaLogger{}),
		goka.WithViewClientID(c.ClientIDFor(role)),
		goka.WithViewTopicManagerBuilder(topicManager(c, role)),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(Sarama(c, role))),
		goka.WithViewStorageBuilder(storageFor(c, "views")),
		goka.WithViewAutoReconnect(),
	}
}

// Emitter returns the goka options of a tagstream emitter to topic.
func Emitter(c kafka.Cluster, topic string) []goka.EmitterOption {
	role := "emitter-" + topic
	return []goka.EmitterOption{
		goka.WithEmitterHasher(Hasher),
		goka.WithEmitterLogger(gokaLogger{}),
		goka.WithEmitterClientID(c.ClientIDFor(role)),
		goka.WithEmitterTopicManagerBuilder(topicManager(c, role)),
		goka.WithEmitterProducerBuilder(producer(c, role)),
	}
}

// gokaLogger sends goka's chatter (rebalances, recovery) to slog at Info, so
// it follows the process's log level instead of always reaching stderr.
type gokaLogger struct{}

func (gokaLogger) Print(v ...any)   { slog.Info(fmt.Sprint(v...), "source", "goka") }
func (gokaLogger) Println(v ...any) { slog.Info(fmt.Sprint(v...), "source", "goka") }
func (gokaLogger) Printf(format string, v ...any) {
	slog.Info(fmt.Sprintf(format, v...), "source", "goka")
}
