package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/processors"
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
	cmd.Env = append(append(childEnv(), "TAGSTREAM_TEST_AS_COMMAND=1"), env...)
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
// flags (TAGSTREAM_CASSANDRA is --cassandra, TAGSTREAM_S3_* are --s3-*):
// under make test they are set, and every `tagstream run` would otherwise
// start a snapshotter into one shared keyspace and store photos in S3,
// which these tests are not about.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAGSTREAM_CASSANDRA=") && !strings.HasPrefix(kv, "TAGSTREAM_S3_") {
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
	mu    sync.Mutex
	truth map[string]int64
	sent  int
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
			recs = append(recs, &kgo.Record{Topic: string(processors.TopicPosts), Key: []byte(user), Value: v})
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
	kafkatest.Reset(t, c)
	b := strings.Join(c.Brokers, ",")
	httpAddr := freeAddr(t)
	secret := strings.Repeat("s", 32)
	common := []string{"--brokers", b, "--partitions", "6"}
	// Each process as the principal of its role.
	workerEnv, apiEnv := kafkatest.EnvOf(kafkatest.As(t, processors.RoleWorker)), kafkatest.EnvOf(kafkatest.As(t, processors.RoleAPI))
	worker := func(name, id string) *command {
		return launchEnv(t, name, workerEnv, append([]string{"worker", "--instance-id", id}, common...)...)
	}

	w1, w2 := worker("worker-1", "w1"), worker("worker-2", "w2")
	apiProc := launchEnv(t, "api", apiEnv, append([]string{"api", "--http", httpAddr, "--secret", secret}, common...)...)
	awaitReady(t, httpAddr, apiProc)

	g := &loadGen{truth: map[string]int64{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.run(ctx, t, c) }()

	time.Sleep(8 * time.Second)
	w3 := worker("worker-3", "w3")
	time.Sleep(12 * time.Second)
	w2.stop(t, syscall.SIGTERM)
	w3.stop(t, syscall.SIGTERM)
	time.Sleep(10 * time.Second)
	w1.stop(t, syscall.SIGKILL)
	w1 = worker("worker-1-restarted", "w1")
	time.Sleep(8 * time.Second)
	cancel()
	wg.Wait()

	var lag int64
	var err error
	for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if lag, err = c.Lag(context.Background(), string(processors.GroupExtractor), string(processors.GroupCounts)); err == nil && lag == 0 {
			break
		}
	}
	if lag != 0 {
		t.Fatalf("processors still lag by %d (err %v); worker output:\n%s", lag, err, w1.out.String())
	}
	time.Sleep(2 * time.Second) // the API's view follows the table's changelog

	var wrong []string
	for tag, want := range g.truth {
		if got := count(httpAddr, tag); got != want {
			wrong = append(wrong, fmt.Sprintf("#%s %d, truth %d", tag, got, want))
		}
	}
	t.Logf("%d posts over %d hashtags; counts differing from the truth: %d", g.sent, len(g.truth), len(wrong))
	if len(wrong) > 0 {
		t.Fatalf("counts differ from the ground truth: %v\nworker-1 output:\n%s", wrong, w1.out.String())
	}
	if g.sent < 1000 {
		t.Fatalf("only %d posts were sent: the test did not exercise scaling", g.sent)
	}
}
