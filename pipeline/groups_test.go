package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// A worker split by --groups: one process extracts and counts, another
// keeps the lists. Counting alone leaves the list groups without a member
// and the lists empty; the second process, which never joins the
// extractor's group, fills them from post-changes.
func TestWorkerGroupsSplitAcrossProcesses(t *testing.T) {
	ns := kafkatest.Namespace(t)
	g := ns.Gen(0)
	n := startRealWith(t, t.TempDir(), 3, ns, []string{"extractor", "hashtag-counts"})
	produceN(t, n.cluster, ns, 0, 40, "split")
	awaitCount(t, n.http, "split", 40)

	cl, err := n.cluster.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	members := func(group string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ds, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("describe %s: %v", group, err)
		}
		return len(ds[group].Members)
	}
	for _, group := range []string{g.Top(), g.Recent()} {
		if m := members(group); m != 0 {
			t.Errorf("group %s has %d members while only extractor and hashtag-counts run", group, m)
		}
	}
	if p := getPage(t, n.http, "split"); len(p.RecentPosts) != 0 {
		t.Fatalf("recent list of a counts-only worker holds %d posts, want none", len(p.RecentPosts))
	}

	lists := kafkatest.As(t, topology.RoleWorker)
	lists.Partitions = 3
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ignoreCanceled(Worker(ctx, lists, processors.Options{Gen: g, Groups: []string{"hashtag-top", "hashtag-recent"}}))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the lists' worker: %v", err)
		}
	}()
	testenv.Await(t, time.Minute, "the lists' worker fills the recent list with the 40 posts", func() bool {
		return len(getPage(t, n.http, "split").RecentPosts) == 40
	})
	if m := members(g.Extractor()); m != 1 {
		t.Errorf("extractor group has %d members, want 1: the lists' worker joined it", m)
	}
	produceN(t, n.cluster, ns, 40, 50, "split")
	awaitCount(t, n.http, "split", 50)
	testenv.Await(t, time.Minute, "the new posts reach the recent list too", func() bool {
		return len(getPage(t, n.http, "split").RecentPosts) == 50
	})
}

func TestWorkerRefusesAnUnknownGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Refused before any connection: no broker listens on port 1.
	err := processors.Run(ctx, kafka.Cluster{Brokers: []string{"127.0.0.1:1"}}, processors.Options{Groups: []string{"hashtag-counts", "hashtag-rank"}})
	if err == nil || !strings.Contains(err.Error(), `"hashtag-rank"`) {
		t.Fatalf("Run with group hashtag-rank: %v, want it refused", err)
	}
}
