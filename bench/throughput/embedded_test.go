package throughput

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka"
)

// tagstream run and the in-process pass-through each take the log into
// their own broker and reach an exact output; what the CPU column holds is
// the work after the start-up, so it is below the process's total. This is
// bench embedded at 1 % of its size; the figures are not looked at.
func TestCompareEmbeddedRunsBothUntilTheirOutputIsExact(t *testing.T) {
	dir := t.TempDir()
	systems := EmbeddedSystems(build(t, dir, "../../cmd/tagstream"), []string{build(t, dir, "../cmd/bench")}, 12)
	var log strings.Builder
	l, runs, err := CompareEmbedded(context.Background(), Options{Workload: Workload{Posts: 2000}, Rounds: 2,
		Dir: dir, Timeout: 3 * time.Minute, Log: &log}, systems)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log(log.String())
	if len(runs) != 4 || runs[0].System != "run" || runs[2].System != "passthrough" {
		t.Fatalf("runs %+v, want run and passthrough, the order reversed in round 2", runs)
	}
	for _, r := range runs {
		if r.Seconds <= 0 || r.PostsPerSecond*r.Seconds < float64(len(l.Records))-1 || r.CPUSeconds <= 0 || r.PeakRSSMiB <= 0 || r.Preload <= 0 {
			t.Errorf("run %+v measured nothing", r)
		}
	}
	res := Summarise(Machine{}, Workload{Posts: 2000}, l, []System{{Name: "run"}, {Name: "passthrough"}}, runs)
	if len(res.Ratios) != 1 || res.Ratios[0].Of != "run" || res.Ratios[0].Over != "passthrough" {
		t.Errorf("ratios %+v, want run ÷ passthrough", res.Ratios)
	}
}

// A process that never becomes ready fails its round with the reason,
// rather than timing a log it never took.
func TestCompareEmbeddedFailsAProcessThatIsNeverReady(t *testing.T) {
	never := EmbeddedSystem{Name: "never", Output: Records, OutputTopic: "bench-out",
		Command: func(dir, kafka, http string) *exec.Cmd { return exec.Command("sleep", "600") },
		Ready: func(ctx context.Context, c kafka.Cluster, http string) error {
			return poll(ctx, func() error { return errors.New("no broker") })
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := CompareEmbedded(ctx, Options{Workload: Workload{Posts: 10}, Rounds: 1, Dir: t.TempDir()}, []EmbeddedSystem{never})
	if err == nil || !strings.Contains(err.Error(), "no broker") {
		t.Fatalf("a process never ready gave %v, want its last readiness error", err)
	}
}
