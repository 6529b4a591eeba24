package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tagstream/tagstream/backoff"
)

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
	// Created topics take a moment to show in every broker's metadata, and
	// a principal that may not create them waits for one that may.
	ctx, cancel := context.WithTimeout(ctx, EnsureTimeout)
	defer cancel()
	err = backoff.Retry(ctx, backoff.Policy{First: 200 * time.Millisecond, Max: 2 * time.Second}, func(ctx context.Context) error {
		err := c.ensure(ctx, adm, specs, parts)
		if errors.Is(err, ErrPartitionMismatch) {
			return backoff.Permanent(err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("kafka: ensure topics on %v: %w", c.Brokers, err)
	}
	return nil
}

// EnsureTimeout bounds EnsureTopics: topics that do not exist after it
// (no principal created them, the cluster is away) are an error.
const EnsureTimeout = time.Minute

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
		resp, err := adm.CreateTopic(ctx, want(s), int16(c.ReplicationFactor()), conf, s.Name)
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
	// Metadata for no topic names is metadata for every topic: the check
	// below would wait for the whole cluster's topics to go.
	if len(topics) == 0 {
		return nil
	}
	if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
		return fmt.Errorf("kafka: delete topics: %w", err)
	}
	return backoff.Retry(ctx, backoff.Policy{}, func(ctx context.Context) error {
		// ListTopics answers for every name asked, with an error for a
		// topic that does not exist: count only the ones that still do.
		left, err := adm.ListTopics(ctx, topics...)
		if err != nil {
			return err
		}
		still := 0
		for _, d := range left {
			if d.Err == nil {
				still++
			}
		}
		if still > 0 {
			return fmt.Errorf("kafka: %d topics still listed after deletion", still)
		}
		return nil
	})
}

func deleteGroups(ctx context.Context, adm *kadm.Client, groups []string) error {
	pending := groups
	return backoff.Retry(ctx, backoff.Policy{}, func(ctx context.Context) error {
		if len(pending) == 0 {
			return nil
		}
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
				return backoff.Permanent(fmt.Errorf("kafka: delete group %s: %w", g, r.Err))
			}
		}
		pending = still
		if len(still) > 0 {
			return fmt.Errorf("kafka: groups %v not deleted: %w", still, last)
		}
		return nil
	})
}

// ErrPartitionMismatch reports a topic whose partition count differs from
// the configured one. It is not retried.
var ErrPartitionMismatch = errors.New("partition count mismatch")

// DeletePrefixed deletes every consumer group and topic whose name starts
// with prefix (Delete), e.g. a namespace a test no longer needs.
func (c Cluster) DeletePrefixed(ctx context.Context, prefix string) error {
	cl, err := c.Client("admin")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("kafka: list topics: %w", err)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("kafka: list groups: %w", err)
	}
	var ts, gs []string
	for _, t := range topics.Names() {
		if strings.HasPrefix(t, prefix) {
			ts = append(ts, t)
		}
	}
	for _, g := range groups.Groups() {
		if strings.HasPrefix(g, prefix) {
			gs = append(gs, g)
		}
	}
	return c.Delete(ctx, ts, gs)
}
