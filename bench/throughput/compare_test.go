package throughput

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka/kafkatest"
)

// build compiles the module's package pkg into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// The comparison on the real Kafka, small: tagstream's worker (whole, and counts only), the Kafka
// Streams application and the limit each process the log until their
// output is exact, and each round reports what it measured. This is what
// make bench runs, at 1 % of its size; the figures are not looked at.
func TestCompareRunsEverySystemUntilItsOutputIsExact(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 12
	dir := t.TempDir()
	if out, err := exec.Command("../kstreams/build.sh").CombinedOutput(); err != nil {
		t.Fatalf("build the Kafka Streams application: %v\n%s", err, out)
	}
	bins := Binaries{Tagstream: build(t, dir, "../../cmd/tagstream"), KStreams: "../kstreams/run.sh",
		Limit: []string{build(t, dir, "../cmd/bench")}}
	var systems []System
	for _, s := range Standard(bins, c) {
		if s.Name == "tagstream-eo" || s.Name == "tagstream-counts-alo" || s.Name == "kstreams-alo" || s.Name == "limit" {
			systems = append(systems, s)
		}
	}
	var log strings.Builder
	l, runs, err := Compare(context.Background(), Options{Cluster: c, Workload: Workload{Posts: 2000}, Rounds: 1,
		Systems: systems, Dir: dir, Timeout: 3 * time.Minute, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log(log.String())
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 4", len(runs))
	}
	for _, r := range runs {
		if r.Seconds <= 0 || r.PostsPerSecond*r.Seconds < float64(len(l.Records))-1 || r.CPUSeconds <= 0 || r.PeakRSSMiB <= 0 {
			t.Errorf("run %+v measured nothing", r)
		}
	}
}

// A system whose output is never the truth is not taken for done: the
// limit writes "1" for every hashtag of every caption, which read as
// counts is wrong for most hashtags, and its round fails at the timeout
// naming how many differ.
func TestCompareFailsASystemWhoseCountsStayWrong(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 12
	dir := t.TempDir()
	var limit System
	for _, s := range Standard(Binaries{Limit: []string{build(t, dir, "../cmd/bench")}}, c) {
		if s.Name == "limit" {
			limit = s
		}
	}
	limit.Name, limit.Output = "wrong", CountDecimal
	_, _, err := Compare(context.Background(), Options{Cluster: c, Workload: Workload{Posts: 500}, Rounds: 1,
		Systems: []System{limit}, Dir: dir, Timeout: 20 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "counts differ") {
		t.Fatalf("a system with wrong counts gave %v, want an error naming the counts that differ", err)
	}
}
