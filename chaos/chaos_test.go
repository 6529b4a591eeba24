package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// TestChaos is the seeded chaos run, short enough for make test:
// TAGSTREAM_CHAOS_POSTS posts (default 20,000) with seed
// TAGSTREAM_CHAOS_SEED (default 1) through three worker processes
// SIGKILLed every ~2s and one broker restart. `make chaos` runs 200,000.
func TestChaos(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	posts, seed := envInt(t, "TAGSTREAM_CHAOS_POSTS", 20_000), envInt(t, "TAGSTREAM_CHAOS_SEED", 1)
	bin := filepath.Join(t.TempDir(), "tagstream")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tagstream").CombinedOutput(); err != nil {
		t.Fatalf("build tagstream: %v\n%s", err, out)
	}
	kafkaSh, _ := filepath.Abs("../services/kafka.sh")
	// Whatever happens, leave the broker up for the tests after this one.
	t.Cleanup(func() {
		if out, err := exec.Command(kafkaSh, "up").CombinedOutput(); err != nil {
			t.Errorf("services/kafka.sh up after chaos: %v\n%s", err, out)
		}
	})
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{
		Cluster: kafka.Cluster{Brokers: brokers}, Binary: bin, Posts: posts, Seed: int64(seed),
		KillEvery: 2 * time.Second, RestartBroker: []string{kafkaSh, "restart"},
		Dir: dir, Out: testWriter{t},
	})
	t.Log(res)
	if err != nil {
		for _, name := range []string{"worker-1", "api", "broker-restart"} {
			b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s.log (tail):\n%s", name, b)
		}
		t.Fatal(err)
	}
	if res.Kills < 3 || res.BrokerRestarts != 1 || res.Edits == 0 || res.Deletes == 0 || res.Poison == 0 {
		t.Fatalf("the run did not exercise what it claims: %s", res)
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
