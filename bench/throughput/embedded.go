package throughput

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tagstream/tagstream/backoff"
	"github.com/tagstream/tagstream/bench/harness"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// An EmbeddedSystem is one process that hosts its own broker (kfake, as
// `tagstream run` does): the log is produced into it from outside once it
// is ready, and it is timed from the first record produced until its
// output is exact. This is issue 13's "embedded tagstream run against an
// in-process pass-through": the broker's work lands on the same process
// and cores for both.
type EmbeddedSystem struct {
	Name, Label string
	Output      Output
	// OutputTopic is read, on the process's own broker.
	OutputTopic string
	// Command starts the process: dir is a fresh data directory, kafka
	// and http free loopback addresses it must listen on.
	Command func(dir, kafka, http string) *exec.Cmd
	// Ready returns once the process can take the log on c (its topics
	// exist and its processors run), polled until ctx ends.
	Ready func(ctx context.Context, c kafka.Cluster, http string) error
}

// EmbeddedSystems are `tagstream run` on its defaults (the API, the
// ranking and the image origin included: what `make run` starts) and
// `bench passthrough`, an embedded broker with Limit inside the same
// process. limit is the bench program (its arguments before
// "passthrough"), partitions that of every topic.
func EmbeddedSystems(tagstream string, limit []string, partitions int) []EmbeddedSystem {
	return []EmbeddedSystem{
		{
			Name: "run", Label: "tagstream run (its own broker, worker, ranking and API in one process), exactly-once",
			Output: CountJSON, OutputTopic: topology.Namespace("").Gen(0).CountsTable(),
			Command: func(dir, kafkaAddr, httpAddr string) *exec.Cmd {
				return exec.Command(tagstream, "run", "--data", dir, "--kafka-listen", kafkaAddr, "--http", httpAddr,
					"--partitions", fmt.Sprint(partitions))
			},
			Ready: func(ctx context.Context, c kafka.Cluster, httpAddr string) error {
				return poll(ctx, func() error {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/readyz", nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("readyz: %s", resp.Status)
					}
					return groupsStable(ctx, c, topology.Namespace("").Gen(0).Groups()...)
				})
			},
		},
		{
			Name: "passthrough", Label: "in-process pass-through: an embedded broker and the limit's consumer in one process, no state",
			Output: Records, OutputTopic: "bench-out",
			Command: func(dir, kafkaAddr, _ string) *exec.Cmd {
				args := append(slices.Clone(limit[1:]), "passthrough", "--data", dir, "--listen", kafkaAddr,
					"--partitions", fmt.Sprint(partitions))
				return exec.Command(limit[0], args...)
			},
			Ready: func(ctx context.Context, c kafka.Cluster, _ string) error {
				return poll(ctx, func() error { return groupsStable(ctx, c, "passthrough") })
			},
		},
	}
}

// groupsStable reports an error unless every group is Stable with a
// member: a process is ready to work once its consumers hold their
// partitions, since a group's first join waits out the broker's initial
// rebalance delay (3 s), which is start-up, not work.
func groupsStable(ctx context.Context, c kafka.Cluster, groups ...string) error {
	// Not listening yet: said here, not by a client's warnings.
	conn, err := net.DialTimeout("tcp", c.Brokers[0], time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	cl, err := c.Client("bench-ready")
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gs, err := kadm.NewClient(cl).DescribeGroups(ctx, groups...)
	if err != nil {
		return err
	}
	for _, name := range groups {
		if g := gs[name]; g.State != "Stable" || len(g.Members) == 0 {
			return fmt.Errorf("group %s is %q with %d members", name, g.State, len(g.Members))
		}
	}
	return nil
}

// poll calls f until it succeeds or ctx ends, every 100 ms: a start-up
// is timed to the moment it is ready, so the retries must not back off.
func poll(ctx context.Context, f func() error) error {
	err := backoff.Retry(ctx, backoff.Policy{First: 100 * time.Millisecond, Max: 100 * time.Millisecond},
		func(context.Context) error { return f() })
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	return nil
}

// CompareEmbedded runs every system over the workload's log for
// o.Rounds rounds (the order reversed on even rounds), each on a fresh
// data directory. o.Cluster and o.Systems are not used.
func CompareEmbedded(ctx context.Context, o Options, systems []EmbeddedSystem) (*Log, []Run, error) {
	return inRounds(ctx, o, systems, func(s EmbeddedSystem) string { return s.Name }, runEmbedded)
}

func runEmbedded(ctx context.Context, o Options, l *Log, s EmbeddedSystem, round int) (Run, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dir := filepath.Join(o.Dir, fmt.Sprintf("round%d-%s", round, s.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Run{}, err
	}
	kafkaAddr, err1 := testenv.FreeAddr()
	httpAddr, err2 := testenv.FreeAddr()
	if err1 != nil || err2 != nil {
		return Run{}, fmt.Errorf("free ports: %v, %v", err1, err2)
	}
	c := kafka.Cluster{Brokers: []string{kafkaAddr}}
	logPath := filepath.Join(dir, "process.log")
	p, err := harness.StartCmd(c, logPath, s.Command(filepath.Join(dir, "data"), kafkaAddr, httpAddr))
	if err != nil {
		return Run{}, err
	}
	defer p.Stop()
	readyCtx, readyCancel := context.WithTimeout(ctx, 2*time.Minute)
	err = s.Ready(readyCtx, c, httpAddr)
	readyCancel()
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w; see %s", s.Name, err, logPath)
	}
	// The start-up's CPU is not the log's: only what the process spends
	// from the first record produced on is counted.
	cpu0, _, err := harness.Usage(p.Cmd.Process.Pid)
	if err != nil {
		return Run{}, err
	}

	run := Run{System: s.Name, Round: round}
	w := newWatcher(s.Output, l)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watched := make(chan error, 1)
	go func() { watched <- w.run(watchCtx, c, s.OutputTopic) }()

	start := time.Now()
	produceCtx, stopProduce := context.WithCancel(ctx)
	var produced sync.WaitGroup
	var produceErr error
	produced.Go(func() {
		produceErr = preload(produceCtx, c, topology.Namespace("").Posts(), l.Records)
		run.Preload = time.Since(start).Seconds()
	})
	defer func() { stopProduce(); produced.Wait() }()
	select {
	case err := <-watched:
		elapsed := time.Since(start)
		if err != nil {
			return run, err
		}
		cpu, rss, err := harness.Usage(p.Cmd.Process.Pid)
		if err != nil {
			return run, err
		}
		produced.Wait()
		if produceErr != nil {
			return run, produceErr
		}
		run.done(l, s.Output, elapsed, cpu-cpu0, rss)
		return run, nil
	case <-p.Exited:
		stopWatch()
		<-watched
		return run, fmt.Errorf("%s exited before its output was complete (%v): see %s", s.Name, p.Err, logPath)
	case <-ctx.Done():
		stopWatch()
		<-watched
		return run, fmt.Errorf("%s: output incomplete after %s (%d records read, %d counts differ): %w; see %s",
			s.Name, o.Timeout, w.records.Load(), w.wrong, ctx.Err(), logPath)
	}
}
