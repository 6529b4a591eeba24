package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/topology"
)

// principals starts a broker with SCRAM and ACLs (kfake), an admin
// superuser and one user per role, each allowed exactly topology.Grants.
func principals(t *testing.T, partitions int) (admin kafka.Cluster, as func(topology.Role) kafka.Cluster) {
	t.Helper()
	const mech = kafka.ScramSHA512
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser(mech, "admin", "admin-pw")}
	for _, r := range topology.Roles() {
		opts = append(opts, kfake.User(mech, string(r), string(r)+"-pw"))
	}
	b, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cluster := func(user string) kafka.Cluster {
		return kafka.Cluster{Brokers: b.ListenAddrs(), Partitions: partitions,
			SASL: kafka.SASL{Mechanism: mech, User: user, Password: user + "-pw"}}
	}
	admin = cluster("admin")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, r := range topology.Roles() {
		if err := admin.Allow(ctx, string(r), topology.Namespace("").Grants(r)); err != nil {
			t.Fatal(err)
		}
	}
	return admin, func(r topology.Role) kafka.Cluster { return cluster(string(r)) }
}

// produceAs writes one record as c's principal and returns the error.
func produceAs(c kafka.Cluster, topic string, value []byte) error {
	cl, err := c.Client("test", kgo.RecordRetries(2), kgo.UnknownTopicRetries(2))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: value}).FirstErr()
}

// With SCRAM and ACLs, each process runs with its role's grants and no
// more: a worker and an API, each as its own principal, count a post end
// to end (goka's sarama clients authenticate with the same SCRAM as
// franz-go's); the API's principal cannot write post-hashtags, the tables
// or the extractor's state (12 forged deltas once froze a count); the
// ranking job writes only hashtag-top-posts; a reader writes nothing.
func TestEveryRoleHasItsGrantsAndNoMore(t *testing.T) {
	admin, as := principals(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	worker, apiP := as(topology.RoleWorker), as(topology.RoleAPI)
	// The worker creates every topic: the API may not.
	if err := worker.EnsureTopics(ctx, topology.Gen{}.Topics()); err != nil {
		t.Fatalf("worker cannot create the topics: %v", err)
	}
	done := make(chan error, 2)
	go func() { done <- ignoreCanceled(Worker(ctx, worker, processors.Options{InstanceID: "w1"})) }()
	ready := make(chan string, 1)
	go func() {
		done <- ignoreCanceled(API(ctx, APIOptions{Cluster: apiP, HTTP: "127.0.0.1:0", API: api.Config{Secret: testSecret},
			Media:     MediaOptions{EmbeddedDir: filepath.Join(t.TempDir(), "images"), KeysDir: t.TempDir()},
			Listening: func(addr string) { ready <- addr }}))
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("a process stopped: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("API not listening after 90s")
	}
	waitReady(t, addr)
	resp, b := do(t, http.MethodPost, "http://"+addr+"/v1/posts", bearer(t, "alice"), `{"caption":"least #privilege"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post as the api principal: %d %s", resp.StatusCode, b)
	}
	awaitCount(t, addr, "privilege", 1)

	checkGrants(t, "", as)
	// A reader reads the tables (a read-only API, the snapshotter).
	rc, err := as(topology.RoleReader).Client("test", kgo.ConsumeTopics(topology.Gen{}.CountsTable()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if fs := rc.PollFetches(rctx); fs.Err() != nil || len(fs.Records()) == 0 {
		t.Errorf("reader reading %s: %v (%d records)", topology.Gen{}.CountsTable(), fs.Err(), len(fs.Records()))
	}
	// The count never moved: nothing forged got in.
	if got := countOf(t, addr, "privilege"); got != 1 {
		t.Errorf("count of #privilege is %d after the refused writes, want 1", got)
	}
	_ = admin
	cancel()
	for range 2 {
		if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("process: %v", err)
		}
	}
}

// checkGrants has every role write where it may not, and the ranking job
// where it may, as the principals as gives.
func checkGrants(t *testing.T, ns topology.Namespace, as func(topology.Role) kafka.Cluster) {
	g := ns.Gen(0)
	t.Helper()
	delta, _ := json.Marshal(events.Delta{Hashtag: "privilege", Display: "privilege", Delta: 1_000_000, Source: events.Source{Offset: 1 << 62}})
	refused := func(who topology.Role, topic string, value []byte) {
		t.Helper()
		err := produceAs(as(who), topic, value)
		if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("%s writing %s: %v, want an authorization error", who, topic, err)
		}
	}
	allowed := func(who topology.Role, topic string, value []byte) {
		t.Helper()
		if err := produceAs(as(who), topic, value); err != nil {
			t.Errorf("%s writing %s: %v", who, topic, err)
		}
	}
	for _, topic := range []string{g.PostHashtags(), g.PostChanges(), g.CountsTable(), g.TopTable(), g.RecentTable(),
		g.ExtractorTable(), g.RankTable(), g.TrendingTable(), g.TrendingPartials(), ns.DeadLetters(), ns.TopPosts(), ns.Pointer()} {
		refused(topology.RoleAPI, topic, delta)
		refused(topology.RoleReader, topic, delta)
	}
	// The ranking writes its own tables, documents and dead letters, and
	// nothing a worker owns.
	for _, topic := range []string{g.PostHashtags(), g.PostChanges(), g.CountsTable(), g.TopTable(), g.RecentTable(), g.ExtractorTable(), ns.Pointer()} {
		refused(topology.RoleRank, topic, delta)
	}
	for _, topic := range []string{ns.Posts(), ns.Likes()} {
		refused(topology.RoleRank, topic, []byte(`{}`))
		refused(topology.RoleReader, topic, []byte(`{}`))
		refused(topology.RoleWorker, topic, []byte(`{}`))
		allowed(topology.RoleAPI, topic, []byte(`{}`))
	}
	refused(topology.RoleWorker, ns.TopPosts(), []byte(`{}`))
	doc := fmt.Sprintf(`{"hashtag":"privilege","computed_at":%q,"posts":[]}`, time.Now().UTC().Format(time.RFC3339))
	allowed(topology.RoleRank, ns.TopPosts(), []byte(doc))
	allowed(topology.RoleRank, g.TrendingPartials(), []byte(`{}`))

}

// The same refusals on the real Kafka of services/kafka.sh, whose ACLs
// services/kafka.sh applies from topology.Grants at every start: the
// API's principal cannot write post-hashtags or the tables.
func TestRealKafkaHoldsEveryRoleToItsGrants(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 2
	ns := kafkatest.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	worker := kafkatest.As(t, topology.RoleWorker)
	worker.Partitions = 2
	if err := worker.EnsureTopics(ctx, ns.Gen(0).Topics()); err != nil {
		t.Fatalf("the worker principal cannot create the topics: %v", err)
	}
	checkGrants(t, ns, func(r topology.Role) kafka.Cluster { return kafkatest.As(t, r) })
}
