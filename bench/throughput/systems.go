package throughput

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// Binaries are the programs the standard systems run.
type Binaries struct {
	// Tagstream is bin/tagstream.
	Tagstream string
	// KStreams is bench/kstreams/run.sh (it execs the JVM, so the process
	// measured is the JVM itself).
	KStreams string
	// Limit is a program whose arguments "limit --in T --out T" run
	// Limit (bench/cmd/bench).
	Limit []string
	// WorkerArgs are appended to tagstream worker's arguments (for a
	// profile: --pprof; to try a setting: --commit-interval).
	WorkerArgs []string
}

// Standard returns the comparison of issue 13: tagstream's worker in both
// guarantees, the Kafka Streams application in both, and the stateless
// limit, on cluster c's brokers with partitions partitions.
func Standard(b Binaries, c kafka.Cluster) []System {
	brokers := strings.Join(c.Brokers, ",")
	parts := c.PartitionCount()
	worker := func(eo, countsOnly bool) System {
		// The whole worker also keeps every hashtag's recent and top
		// lists, which the other systems do not: the label says so. With
		// --groups extractor,hashtag-counts it does what Kafka Streams
		// does here, and no more: the like-for-like row.
		name, label, extra := "tagstream", "tagstream worker (counts + recent and top lists)", []string(nil)
		if countsOnly {
			name, label = "tagstream-counts", "tagstream worker --groups extractor,hashtag-counts (counts only, as Kafka Streams)"
			extra = []string{"--groups", "extractor,hashtag-counts"}
		}
		if eo {
			name, label = name+"-eo", label+", exactly-once"
		} else {
			name, label = name+"-alo", label+", --exactly-once=false"
		}
		return System{Name: name, Label: label, Output: CountJSON,
			Topics:      func(ns topology.Namespace) []kafka.TopicSpec { return ns.Gen(0).Topics() },
			OutputTopic: func(ns topology.Namespace) string { return ns.Gen(0).CountsTable() },
			Command: func(ns topology.Namespace, dir string) *exec.Cmd {
				args := append([]string{"worker", "--brokers", brokers, "--namespace", string(ns),
					"--partitions", fmt.Sprint(parts), "--instance-id", "bench", fmt.Sprintf("--exactly-once=%v", eo)}, extra...)
				return exec.Command(b.Tagstream, append(args, b.WorkerArgs...)...)
			},
		}
	}
	// The other systems read posts and write one topic of their own.
	own := func(ns topology.Namespace) []kafka.TopicSpec {
		var specs []kafka.TopicSpec
		for _, t := range ns.Gen(0).Topics() {
			if t.Name == ns.Posts() {
				specs = append(specs, t)
			}
		}
		return append(specs, kafka.TopicSpec{Name: outTopic(ns), Retention: -1})
	}
	kstreams := func(guarantee, name, label string) System {
		return System{Name: name, Label: label, Output: CountDecimal, Topics: own, OutputTopic: outTopic,
			Command: func(ns topology.Namespace, dir string) *exec.Cmd {
				return exec.Command(b.KStreams, "--bootstrap", brokers, "--application-id", string(ns)+"kstreams",
					"--input", ns.Posts(), "--output", outTopic(ns), "--state-dir", dir, "--guarantee", guarantee)
			},
		}
	}
	limit := System{Name: "limit", Label: "the limit: franz-go consume posts, produce one record per hashtag, no state",
		Output: Records, Topics: own, OutputTopic: outTopic,
		Command: func(ns topology.Namespace, dir string) *exec.Cmd {
			args := append(b.Limit[1:len(b.Limit):len(b.Limit)], "limit", "--brokers", brokers, "--group", string(ns)+"limit",
				"--in", ns.Posts(), "--out", outTopic(ns))
			return exec.Command(b.Limit[0], args...)
		},
	}
	return []System{
		worker(true, false), worker(false, false), worker(true, true), worker(false, true),
		kstreams("exactly_once_v2", "kstreams-eos", "Kafka Streams 4.1, tagstream's count semantics (no lists), exactly_once_v2"),
		kstreams("at_least_once", "kstreams-alo", "Kafka Streams 4.1, tagstream's count semantics (no lists), at_least_once"),
		limit,
	}
}

func outTopic(ns topology.Namespace) string { return string(ns) + "bench-out" }
