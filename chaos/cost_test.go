package chaos

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tagstream/tagstream/backoff"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/testenv"
)

// BenchmarkDeliveryCost measures what exactly-once costs: the same
// `tagstream load` workload (TAGSTREAM_COST_POSTS posts, default 100,000,
// seed 1) through one worker process and one API process on the real
// Kafka, from fresh topics each round, with the worker's --exactly-once
// alternating true, false, false, true so that drift of the machine weighs
// on both alike. It reports the mean end-to-end posts/s of each mode and
// their ratio. Run it with `make eo-cost`.
func BenchmarkDeliveryCost(b *testing.B) {
	c := kafkatest.Cluster(b)
	c.Partitions = 12
	posts := envInt(b, "TAGSTREAM_COST_POSTS", 100_000)
	bin := filepath.Join(b.TempDir(), "tagstream")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tagstream").CombinedOutput(); err != nil {
		b.Fatalf("build tagstream: %v\n%s", err, out)
	}
	sum := map[bool]float64{}
	for range b.N {
		for i, eo := range []bool{true, false, false, true} {
			rate := costRound(b, c, bin, posts, eo)
			b.Logf("round %d, exactly-once=%v: %.0f posts/s", i+1, eo, rate)
			sum[eo] += rate
		}
	}
	n := float64(2 * b.N)
	b.ReportMetric(sum[true]/n, "exactly-once-posts/s")
	b.ReportMetric(sum[false]/n, "without-posts/s")
	b.ReportMetric(sum[true]/sum[false], "ratio")
}

func costRound(b *testing.B, c kafka.Cluster, bin string, posts int, exactlyOnce bool) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ns := kafkatest.Namespace(b)
	if err := c.EnsureTopics(ctx, ns.Gen(0).Topics()); err != nil {
		b.Fatal(err)
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		b.Fatal(err)
	}
	common := []string{"--brokers", strings.Join(c.Brokers, ","), "--partitions", fmt.Sprint(c.Partitions), "--namespace", string(ns)}
	dir := b.TempDir()
	j, err := openJournal(filepath.Join(dir, "schedule.log"), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	procs, pctx := newSupervisor(ctx, Options{Binary: bin, Dir: dir, Out: io.Discard}, j)
	defer procs.stop()
	procs.start("api", nil, append([]string{"api", "--http", addr, "--secret", strings.Repeat("c", 32)}, common...))
	procs.start("worker", nil, append([]string{"worker", "--instance-id", "cost", fmt.Sprintf("--exactly-once=%v", exactlyOnce)}, common...))
	if err := awaitReady(pctx, "http://"+addr); err != nil {
		b.Fatal(err)
	}
	// The clock starts once the worker has joined its groups.
	adm, err := c.Client("cost")
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	groups := ns.Gen(0).Groups()
	if err := backoff.Retry(pctx, backoff.Policy{}, func(ctx context.Context) error {
		described, err := kadm.NewClient(adm).DescribeGroups(ctx, groups...)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if len(described[g].Members) == 0 {
				return fmt.Errorf("group %s has no member yet", g)
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	res, err := load.Run(pctx, load.Options{Namespace: ns,
		Cluster: c, Posts: posts, Seed: 1, Via: "kafka", API: "http://" + addr,
		Users: 100_000, Tags: 50_000, PerPost: 8, Zipf: 1.1, Concurrency: 16, Timeout: 15 * time.Minute,
	})
	if err != nil {
		b.Fatal(err)
	}
	if res.Mismatched != 0 {
		b.Fatalf("%d counts differ after the load: %s", res.Mismatched, res)
	}
	return res.PostsPerSecond()
}
