package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/topology"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestChaos is the seeded chaos run of `make chaos`, once per seed:
// TAGSTREAM_CHAOS_POSTS posts (default 20,000) through three worker
// processes and the ranking SIGKILLed on seed's schedule (MixFor), one
// broker restart, likes and unlikes; with TAGSTREAM_CHAOS_LISTS=1 the
// lists checked too.
// The seeds are TAGSTREAM_CHAOS_SEEDS (comma-separated, or a range
// "1-20"), else TAGSTREAM_CHAOS_SEED, else 1. Each run's folder is made
// under TAGSTREAM_CHAOS_DIR (default .chaos/ at the repository's root); a
// passing run keeps only its small files there unless TAGSTREAM_CHAOS_KEEP
// is set. It ends with one line per seed and a total.
func TestChaos(t *testing.T) { chaosSeeds(t, false) }

// TestChaosCluster is TestChaos on a three-node cluster of its own
// (services/kafka.sh with KAFKA_BROKERS=3 on TAGSTREAM_CHAOS_CLUSTER_PORT,
// default 19300, and the next 11 ports), topics with replication factor 3
// and min.insync.replicas 2, the run of `make chaos-cluster`: instead of
// one broker restart, a SIGKILL of the broker leading the most partitions
// and, in another round, of the active controller, each started again
// after 20 s (NodeChaos), from half the load (the seed's RestartAt) on,
// the load at TAGSTREAM_CHAOS_RATE events/s (default 500, TestChaos's
// 2,000); TAGSTREAM_CHAOS_WORKERS workers (default 4), of
// which TAGSTREAM_CHAOS_RANDOM_IDS (default 2) without --instance-id, as
// the compose file's replicas. make test leaves it out (scripts/test.sh):
// too long for its budget.
func TestChaosCluster(t *testing.T) { chaosSeeds(t, true) }

// chaosSeeds runs the seeds of TestChaos, on one broker or on a cluster.
func chaosSeeds(t *testing.T, onCluster bool) {
	shared := kafkatest.Cluster(t)
	workerEnv, apiEnv := kafkatest.EnvOf(kafkatest.As(t, topology.RoleWorker)), kafkatest.EnvOf(kafkatest.As(t, topology.RoleAPI))
	rankEnv := kafkatest.EnvOf(kafkatest.As(t, topology.RoleRank))
	posts := envInt(t, "TAGSTREAM_CHAOS_POSTS", 20_000)
	// TAGSTREAM_CHAOS_LISTS=1 (make chaos and make test) checks the
	// lists and their delete bound too; without it, the counts alone.
	checkLists := os.Getenv("TAGSTREAM_CHAOS_LISTS") == "1"
	// The steady phase SIGKILLs a worker or the ranking every 10 s on
	// average (each process then lives about 40 s), and the delete bound
	// must hold through it; TAGSTREAM_CHAOS_STEADY_KILL=3s kills more
	// often, =0 not at all (topology.md, Lists, has the figures of each).
	steadyKill := 10 * time.Second
	if v := os.Getenv("TAGSTREAM_CHAOS_STEADY_KILL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TAGSTREAM_CHAOS_STEADY_KILL: %v", err)
		}
		steadyKill = d
	}
	// TAGSTREAM_CHAOS_STATE=memory runs the workers without --state-dir;
	// TAGSTREAM_CHAOS_STEADY_RATE sets the steady phase's post events per
	// second (default 100).
	memory := os.Getenv("TAGSTREAM_CHAOS_STATE") == "memory"
	seeds, err := parseSeeds(os.Getenv("TAGSTREAM_CHAOS_SEEDS"), os.Getenv("TAGSTREAM_CHAOS_SEED"))
	if err != nil {
		t.Fatal(err)
	}
	parent := os.Getenv("TAGSTREAM_CHAOS_DIR")
	if parent == "" {
		parent = "../.chaos"
	}
	parent, err = filepath.Abs(parent)
	if err == nil {
		err = os.MkdirAll(parent, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "tagstream")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tagstream").CombinedOutput(); err != nil {
		t.Fatalf("build tagstream: %v\n%s", err, out)
	}
	// The run restarts its broker: a broker of its own (services/kafka.sh
	// on another port), so the tests running beside it keep theirs.
	var cluster kafka.Cluster
	var restart []string
	var nodes *NodeChaos
	workers, randomIDs, perSeed := 0, 0, 14*time.Minute
	rate := envInt(t, "TAGSTREAM_CHAOS_RATE", 0)
	if onCluster {
		if rate == 0 {
			// 500 events/s: the load lasts about three minutes at 50,000
			// posts, long enough for both node rounds to fall within it.
			rate = 500
		}
		cluster, nodes = ownCluster(t, shared, envInt(t, "TAGSTREAM_CHAOS_CLUSTER_PORT", 19300))
		workers, randomIDs = envInt(t, "TAGSTREAM_CHAOS_WORKERS", 4), envInt(t, "TAGSTREAM_CHAOS_RANDOM_IDS", 2)
		perSeed = 25 * time.Minute
	} else {
		cluster, restart = ownBroker(t, shared)
	}
	t.Logf("chaos seeds %v, %d posts each; run folders under %s", seeds, posts, parent)
	var lines []string
	var total Result
	failed := 0
	for _, seed := range seeds {
		var res *Result
		var runErr error
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			dir := filepath.Join(parent, fmt.Sprintf("seed%d-%s", seed, time.Now().UTC().Format("20060102-150405")))
			// Bounded so that make test's two seeds fit go test's 30m
			// even if both take the longest drain.
			ctx, cancel := context.WithTimeout(context.Background(), perSeed)
			defer cancel()
			// The harness's own clients (the load, the truth, the
			// report) log franz-go's warnings, the broker restart's
			// connection errors among them: into the run's folder.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			hl, err := os.Create(filepath.Join(dir, "harness.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer hl.Close()
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(hl, &slog.HandlerOptions{Level: slog.LevelWarn})))
			defer slog.SetDefault(prev)
			res, runErr = Run(ctx, Options{
				Cluster: cluster, Namespace: kafkatest.NamespaceOn(t, cluster), Binary: bin, Posts: posts, Seed: int64(seed), WorkerEnv: workerEnv, APIEnv: apiEnv, RankEnv: rankEnv, CheckLists: checkLists,
				RestartBroker: restart, Dir: dir, Out: testWriter{t}, Drain: 6 * time.Minute, SteadyKillEvery: steadyKill, Memory: memory,
				SteadyRate: envInt(t, "TAGSTREAM_CHAOS_STEADY_RATE", 0), Rate: rate,
				Nodes: nodes, Workers: workers, RandomIDs: randomIDs,
			})
			if runErr != nil {
				t.Fatalf("%v\nrun folder: %s", runErr, dir)
			}
			restarts := res.BrokerRestarts == 1
			if onCluster {
				restarts = res.NodeKills["leader"] == 1 && res.NodeKills["controller"] == 1
			}
			if res.Kills < 3 || !restarts || res.Edits == 0 || res.Deletes == 0 || res.Poison == 0 || res.Likes == 0 || res.Unlikes == 0 || (res.Lists == 0) == checkLists {
				t.Fatalf("the run did not exercise what it claims: %s\nrun folder: %s", res, dir)
			}
			if os.Getenv("TAGSTREAM_CHAOS_KEEP") == "" {
				prune(t, dir)
			}
		})
		if res == nil {
			res = &Result{Seed: int64(seed), Verdict: Verdict(runErr)}
		}
		index(t, parent, res)
		if !ok {
			failed++
		}
		lines = append(lines, fmt.Sprintf("seed %-6d %-4s %7d posts %6d edits %6d deletes %4d poison %6d likes %5d unlikes %3d kills %3d crashes %d restarts%s  %5d hashtags %3d differ drift %-3d %7d records logged, %d lost %5d lists checked %3d differ %4.0fs  %s",
			seed, map[bool]string{true: "ok", false: "FAIL"}[ok], res.Creates, res.Edits, res.Deletes, res.Poison, res.Likes, res.Unlikes, res.Kills, res.Crashes,
			res.BrokerRestarts, res.nodeKills(), res.Hashtags, res.Differ, res.Drift, res.Logged, res.Lost, res.Lists, res.ListsDiffer, res.Settled.Seconds(), res.Verdict))
		total.Creates += res.Creates
		total.Edits += res.Edits
		total.Deletes += res.Deletes
		total.Kills += res.Kills
		total.BrokerRestarts += res.BrokerRestarts
		total.Differ += res.Differ
		total.Drift += res.Drift
		total.Logged += res.Logged
		total.Lost += res.Lost
		total.Likes += res.Likes
		total.Unlikes += res.Unlikes
		total.Lists += res.Lists
		total.ListsDiffer += res.ListsDiffer
	}
	t.Logf("chaos summary:\n%s\ntotal: %d seeds, %d passed, %d failed; %d posts, %d edits, %d deletes, %d likes, %d unlikes, %d SIGKILLs, %d broker restarts; "+
		"%d hashtags differ, drift %d; %d input records logged, %d acknowledged ones lost; %d pages' lists checked, %d lists differ",
		strings.Join(lines, "\n"), len(seeds), len(seeds)-failed, failed, total.Creates, total.Edits, total.Deletes, total.Likes, total.Unlikes, total.Kills,
		total.BrokerRestarts, total.Differ, total.Drift, total.Logged, total.Lost, total.Lists, total.ListsDiffer)
}

// index appends the run to runs.tsv in parent: seed, verdict, folder;
// scripts/chaos.sh ends with the lines of its runs.
func index(t *testing.T, parent string, res *Result) {
	f, err := os.OpenFile(filepath.Join(parent, "runs.tsv"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%d\t%s\t%s\n", res.Seed, res.Verdict, res.Dir)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Error(err)
	}
}

// chaosPort is the client port of the chaos run's own broker (its
// controller takes the next one); TAGSTREAM_CHAOS_PORT picks another, for
// a second checkout's run beside the first.
const chaosPort = 19192

// ownBroker starts a broker for the chaos run with services/kafka.sh on
// chaosPort, the shared broker's principals formatted into it, and stops
// it when the test ends. It returns the cluster as shared's principal and
// the command that restarts it.
func ownBroker(t *testing.T, shared kafka.Cluster) (kafka.Cluster, []string) {
	t.Helper()
	port := envInt(t, "TAGSTREAM_CHAOS_PORT", chaosPort)
	kafkaSh, run := kafkaScript(t, []string{fmt.Sprintf("KAFKA_PORT=%d", port)})
	if _, err := run("up"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := run("down"); err != nil {
			t.Error(err)
		}
	})
	c := shared
	c.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	return c, []string{"env", fmt.Sprintf("KAFKA_PORT=%d", port), kafkaSh, "restart"}
}

// kafkaScript returns services/kafka.sh's path and a function that runs
// it with env and arg: its standard output, or an error with its messages.
func kafkaScript(t *testing.T, env []string) (string, func(arg string) (string, error)) {
	t.Helper()
	kafkaSh, err := filepath.Abs("../services/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	return kafkaSh, func(arg string) (string, error) {
		cmd := exec.Command(kafkaSh, arg)
		cmd.Env = append(os.Environ(), env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s services/kafka.sh %s: %w\n%s%s", strings.Join(env, " "), arg, err, out, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
}

// ownCluster starts a three-node cluster for the run with
// services/kafka.sh (KAFKA_BROKERS=3 on port and the next 11) and stops it
// when the test ends. It returns the cluster as shared's principal, with
// replication factor 3, and the node operations of its rounds.
func ownCluster(t *testing.T, shared kafka.Cluster, port int) (kafka.Cluster, *NodeChaos) {
	t.Helper()
	env := []string{fmt.Sprintf("KAFKA_PORT=%d", port), "KAFKA_BROKERS=3"}
	kafkaSh, run := kafkaScript(t, env)
	if _, err := run("up"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := run("down"); err != nil {
			t.Error(err)
		}
	})
	brokers, err := run("brokers")
	if err != nil {
		t.Fatal(err)
	}
	c := shared
	c.Brokers = strings.Split(brokers, ",")
	// The compose file's: every topic on all three brokers; with
	// min.insync.replicas 2 (services/kafka/cluster.properties) an
	// acknowledged write survives the loss of any one.
	c.Replication = 3
	return c, &NodeChaos{Command: append(append([]string{"env"}, env...), kafkaSh)}
}

// prune removes a passing run's process logs and state directories,
// keeping the verdict, the summary, the schedule and the end state.
func prune(t *testing.T, dir string) {
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Error(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		if b := filepath.Base(f); b != "schedule.log" && b != "harness.log" {
			if err := os.Remove(f); err != nil {
				t.Error(err)
			}
		}
	}
}

// parseSeeds reads "3,17,40" or "1-20" (list wins), else one seed, else 1.
func parseSeeds(list, one string) ([]int, error) {
	if list == "" {
		list = one
	}
	if list == "" {
		return []int{1}, nil
	}
	var seeds []int
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 1 {
			return nil, fmt.Errorf("chaos seeds %q: %q is not a positive seed", list, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("chaos seeds %q: bad range %q", list, part)
			}
		}
		for s := a; s <= b; s++ {
			seeds = append(seeds, s)
		}
	}
	return seeds, nil
}

func TestParseSeeds(t *testing.T) {
	for _, c := range []struct {
		list, one string
		want      string
		err       bool
	}{
		{"", "", "[1]", false},
		{"", "7", "[7]", false},
		{"3,17", "7", "[3 17]", false},
		{"1-4,9", "", "[1 2 3 4 9]", false},
		{"0", "", "", true},
		{"4-2", "", "", true},
		{"x", "", "", true},
	} {
		got, err := parseSeeds(c.list, c.one)
		if (err != nil) != c.err || (err == nil && fmt.Sprint(got) != c.want) {
			t.Errorf("parseSeeds(%q, %q) = %v, %v; want %s (error %v)", c.list, c.one, got, err, c.want, c.err)
		}
	}
}

func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
