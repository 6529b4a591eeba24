package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// command runs this test binary as `tagstream args...`.
type command struct {
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

func launch(t *testing.T, name string, args ...string) *command {
	t.Helper()
	return launchEnv(t, name, nil, args...)
}

// launchEnv is launch with env added to the process's environment.
func launchEnv(t *testing.T, name string, env []string, args ...string) *command {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	inherited := childEnv()
	for _, kv := range env {
		// A secret env gives as a file replaces the inherited value
		// (make test's admin password): both would be refused.
		if name, _, _ := strings.Cut(kv, "="); strings.HasSuffix(name, "_FILE") {
			inherited = slices.DeleteFunc(inherited, func(v string) bool { return strings.HasPrefix(v, strings.TrimSuffix(name, "_FILE")+"=") })
		}
	}
	cmd.Env = append(append(inherited, "TAGSTREAM_TEST_AS_COMMAND=1"), env...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &command{name: name, cmd: cmd, out: out}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	return c
}

// childEnv is the environment without the test variables that are also
// flags (TAGSTREAM_CASSANDRA* are --cassandra and its login, TAGSTREAM_S3_*
// are --s3-*):
// under make test they are set, and every `tagstream run` would otherwise
// start a snapshotter into one shared keyspace and store photos in S3,
// which these tests are not about.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAGSTREAM_CASSANDRA") && !strings.HasPrefix(kv, "TAGSTREAM_S3_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop ends the process with sig and waits for it.
func (c *command) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	c.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit 60 s after %v; output:\n%s", c.name, sig, c.out.String())
	}
	t.Logf("%s stopped with %v", c.name, sig)
}

// loadGen keeps producing posts with hashtags from a small vocabulary and
// remembers how many posts carried each one.
type loadGen struct {
	ns    topology.Namespace
	mu    sync.Mutex
	truth map[string]int64
	sent  int
}

// awaitSent waits until n more posts than now have been sent: a phase of
// the scenario lasts a number of posts, not a number of seconds.
func (g *loadGen) awaitSent(t *testing.T, n int) {
	t.Helper()
	g.mu.Lock()
	want := g.sent + n
	g.mu.Unlock()
	testenv.Await(t, time.Minute, fmt.Sprintf("%d more posts sent", n), func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.sent >= want
	})
}

func (g *loadGen) run(ctx context.Context, t *testing.T, c kafka.Cluster) {
	cl, err := c.Client("test-load")
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	r := rand.New(rand.NewSource(7))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var recs []*kgo.Record
		batch := map[string]int64{}
		for j := 0; j < 5; j++ {
			user := fmt.Sprintf("u%d", r.Intn(50))
			caption := "scaling"
			seen := map[int]bool{}
			for k := 0; k < 3; k++ {
				n := r.Intn(12)
				if !seen[n] {
					seen[n] = true
					caption += fmt.Sprintf(" #scale%c", 'a'+n)
					batch[fmt.Sprintf("scale%c", 'a'+n)]++
				}
			}
			v, _ := json.Marshal(events.PostEvent{Type: events.PostCreated, PostID: fmt.Sprintf("s%d-%d", i, j), UserID: user, Caption: caption})
			recs = append(recs, &kgo.Record{Topic: g.ns.Posts(), Key: []byte(user), Value: v})
		}
		pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.ProduceSync(pctx, recs...).FirstErr()
		cancel()
		if err != nil {
			t.Errorf("produce: %v", err)
			return
		}
		g.mu.Lock()
		for k, n := range batch {
			g.truth[k] += n
		}
		g.sent += len(recs)
		g.mu.Unlock()
	}
}

// Workers and the API as separate processes on real Kafka: start two
// workers, scale to three and back to one while posts keep coming, SIGKILL
// the last one and restart it under its instance id. Every count must end
// exactly at the truth.
func TestWorkersScaleOnRealKafka(t *testing.T) {
	c := kafkatest.Cluster(t)
	ns := kafkatest.Namespace(t)
	b := strings.Join(c.Brokers, ",")
	httpAddr := freeAddr(t)
	secret := strings.Repeat("s", 32)
	common := []string{"--brokers", b, "--partitions", "6", "--namespace", string(ns)}
	// Each process as the principal of its role.
	workerEnv, apiEnv := kafkatest.EnvOf(kafkatest.As(t, topology.RoleWorker)), kafkatest.EnvOf(kafkatest.As(t, topology.RoleAPI))
	worker := func(name, id string) *command {
		return launchEnv(t, name, workerEnv, append([]string{"worker", "--instance-id", id}, common...)...)
	}

	w1, w2 := worker("worker-1", "w1"), worker("worker-2", "w2")
	// The API reads its secrets from files, as compose mounts them: its
	// command line and environment then hold none.
	apiEnv, kafkaPassword := secretsToFiles(t, apiEnv)
	secretFile := filepath.Join(t.TempDir(), "tagstream_secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiProc := launchEnv(t, "api", apiEnv, append([]string{"api", "--http", httpAddr, "--secret-file", secretFile}, common...)...)
	awaitReady(t, httpAddr, apiProc)
	// Neither ps nor the environment shows them. (The environment this
	// test inherits holds make test's role passwords, the api's among
	// them, as TAGSTREAM_API_PASSWORD for --create-users: so the check is
	// that the variable the api reads its password from is absent.)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", apiProc.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", apiProc.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cmdline, []byte(secret)) || bytes.Contains(cmdline, []byte(kafkaPassword)) {
		t.Errorf("the api's command line holds a secret: %q", cmdline)
	}
	if bytes.Contains(environ, []byte(secret)) || bytes.Contains(environ, []byte("TAGSTREAM_KAFKA_PASSWORD=")) {
		t.Errorf("the api's environment holds its token secret or TAGSTREAM_KAFKA_PASSWORD")
	}

	g := &loadGen{ns: ns, truth: map[string]int64{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.run(ctx, t, c) }()

	// Phases of about 400 posts (2 s) each: two workers, three, one,
	// that one killed and restarted.
	g.awaitSent(t, 400)
	w3 := worker("worker-3", "w3")
	g.awaitSent(t, 600)
	w2.stop(t, syscall.SIGTERM)
	w3.stop(t, syscall.SIGTERM)
	g.awaitSent(t, 500)
	w1.stop(t, syscall.SIGKILL)
	w1 = worker("worker-1-restarted", "w1")
	g.awaitSent(t, 400)
	cancel()
	wg.Wait()

	g0 := ns.Gen(0)
	var lag int64
	testenv.Await(t, 2*time.Minute, "no lag", func() bool {
		lag, err = c.Lag(context.Background(), g0.Extractor(), g0.Counts())
		return err == nil && lag == 0
	})
	// The API's view follows the table's changelog a moment behind.
	var wrong []string
	testenv.Await(t, 30*time.Second, "every count at the truth", func() bool {
		wrong = wrong[:0]
		for tag, want := range g.truth {
			if got := count(httpAddr, tag); got != want {
				wrong = append(wrong, fmt.Sprintf("#%s %d, truth %d", tag, got, want))
			}
		}
		return len(wrong) == 0
	})
	t.Logf("%d posts over %d hashtags; counts differing from the truth: %d", g.sent, len(g.truth), len(wrong))
	if len(wrong) > 0 {
		t.Fatalf("counts differ from the ground truth: %v\nworker-1 output:\n%s", wrong, w1.out.String())
	}
	if g.sent < 1000 {
		t.Fatalf("only %d posts were sent: the test did not exercise scaling", g.sent)
	}
}

// secretsToFiles moves TAGSTREAM_KAFKA_PASSWORD of env into a file of the
// test's, named by TAGSTREAM_KAFKA_PASSWORD_FILE, and returns the new
// environment and the password.
func secretsToFiles(t *testing.T, env []string) ([]string, string) {
	t.Helper()
	var out []string
	password := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "TAGSTREAM_KAFKA_PASSWORD="); ok {
			password = v
			continue
		}
		out = append(out, kv)
	}
	if password == "" {
		t.Fatal("no TAGSTREAM_KAFKA_PASSWORD to move")
	}
	f := filepath.Join(t.TempDir(), "kafka_password")
	if err := os.WriteFile(f, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(out, "TAGSTREAM_KAFKA_PASSWORD_FILE="+f), password
}
