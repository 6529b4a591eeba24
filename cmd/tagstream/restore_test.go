package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// deployment is a worker, a ranking and an API as separate processes on
// one namespace of a cluster, each as its role's principal.
type deployment struct {
	c    kafka.Cluster
	ns   topology.Namespace
	http string
	api  *command
}

func startDeployment(t *testing.T, name string, admin kafka.Cluster, ns topology.Namespace) *deployment {
	t.Helper()
	d := &deployment{c: admin, ns: ns, http: freeAddr(t)}
	common := []string{"--brokers", strings.Join(admin.Brokers, ","), "--partitions", "6", "--namespace", string(ns)}
	env := func(role topology.Role) []string {
		c := kafkatest.As(t, role)
		return append(kafkatest.EnvOf(c), "TAGSTREAM_BROKERS="+strings.Join(admin.Brokers, ","))
	}
	launchEnv(t, name+" worker", env(topology.RoleWorker), append([]string{"worker", "--instance-id", name + "-w"}, common...)...)
	launchEnv(t, name+" rank", env(topology.RoleRank), append([]string{"rank", "--rank-interval", "1s"}, common...)...)
	d.api = launchEnv(t, name+" api", env(topology.RoleAPI), append([]string{"api", "--http", d.http, "--secret", strings.Repeat("r", 32)}, common...)...)
	awaitReady(t, d.http, d.api)
	return d
}

// pages returns every hashtag page of the vocabulary as the API serves it,
// without updated_at, the time the tables last changed here.
func (d *deployment) pages(tags []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, tag := range tags {
		resp, err := http.Get("http://" + d.http + "/v1/hashtags/" + tag)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNotFound {
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("#%s: %s: %s", tag, resp.Status, body)
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("#%s: %w", tag, err)
		}
		delete(p, "updated_at")
		out[tag] = p
	}
	return out, nil
}

// settled waits until the deployment has processed every record and its
// pages have stopped changing (the ranking publishes on a tick), and
// returns them.
func (d *deployment) settled(t *testing.T, tags []string, within time.Duration) map[string]map[string]any {
	t.Helper()
	g0 := d.ns.Gen(0)
	var last map[string]map[string]any
	testenv.Await(t, within, "no lag and the same pages twice in a row", func() bool {
		lag, err := d.c.Lag(context.Background(), g0.Groups()...)
		if err != nil || lag != 0 {
			return false
		}
		p, err := d.pages(tags)
		if err != nil {
			return false
		}
		same := reflect.DeepEqual(p, last)
		last = p
		return same
	})
	return last
}

// TestRestoreRebuildsADeployment is the restore drill of README, Disaster
// recovery: a deployment takes posts (and deletes of some) and likes; its
// posts and likes are backed up with `tagstream backup`; `tagstream
// restore` writes them into an empty deployment, whose worker, ranking
// and API then rebuild everything else. Every hashtag page (counts, top
// posts with their likes, recent posts) must equal the original's.
//
// The empty deployment is a new namespace of the shared cluster, or, with
// TAGSTREAM_TEST_DR_BROKERS (make dr-drill), an empty cluster of its own.
// TAGSTREAM_TEST_DR_POSTS sets the posts (default 2,000; likes are half
// as many). It logs how long the backup, the restore and the rebuild took.
func TestRestoreRebuildsADeployment(t *testing.T) {
	admin := kafkatest.Cluster(t)
	admin.Partitions = 6
	posts := 2000
	if v := os.Getenv("TAGSTREAM_TEST_DR_POSTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("TAGSTREAM_TEST_DR_POSTS=%q: want a number of posts, at least 100", v)
		}
		posts = n
	}
	srcNS := kafkatest.Namespace(t)
	src := startDeployment(t, "source", admin, srcNS)

	lo := load.Options{Cluster: admin, Namespace: srcNS, Posts: posts, Seed: 17, Via: "kafka", API: "http://" + src.http,
		Users: 200, Tags: 60, PerPost: 3, Zipf: 1.2, Likes: posts / 2, Concurrency: 4, Timeout: 10 * time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := load.Run(ctx, lo)
	if err != nil {
		t.Fatalf("load into the source: %v", err)
	}
	if res.Mismatched != 0 {
		t.Fatalf("the source serves %d counts that differ from the load's truth", res.Mismatched)
	}
	// Edits and deletes must come back too: delete every 10th of the first
	// 200 posts, and recaption every 10th from the 5th.
	deleteSome(t, admin, srcNS, lo)
	tags := []string{"restored"} // the edits' hashtag
	for i := range lo.Tags {
		tags = append(tags, load.TagKey(uint64(i)))
	}
	want := src.settled(t, tags, 5*time.Minute)
	liked := 0
	for _, p := range want {
		for _, post := range p["top_posts"].([]any) {
			if post.(map[string]any)["like_count"].(float64) > 0 {
				liked++
			}
		}
	}
	if len(want) < 20 || liked == 0 || want["restored"] == nil {
		t.Fatalf("the source serves %d hashtag pages with %d liked top posts (#restored: %v): too little to compare", len(want), liked, want["restored"] != nil)
	}

	dir := filepath.Join(t.TempDir(), "backup")
	var out bytes.Buffer
	started := time.Now()
	if err := dispatch(ctx, []string{"backup", "--brokers", strings.Join(admin.Brokers, ","), "--namespace", string(srcNS),
		"--backup-dir", dir}, nil, &out); err != nil {
		t.Fatalf("tagstream backup: %v\n%s", err, out.String())
	}
	backupTook := time.Since(started)

	target := admin
	if b := os.Getenv("TAGSTREAM_TEST_DR_BROKERS"); b != "" {
		target.Brokers = strings.Split(b, ",")
	}
	dstNS := kafkatest.NamespaceOn(t, target)
	started = time.Now()
	if err := dispatch(ctx, []string{"restore", "--brokers", strings.Join(target.Brokers, ","), "--namespace", string(dstNS),
		"--partitions", "6", "--backup-dir", dir}, nil, &out); err != nil {
		t.Fatalf("tagstream restore: %v\n%s", err, out.String())
	}
	restoreTook := time.Since(started)
	started = time.Now()
	dst := startDeployment(t, "restored", target, dstNS)
	got := dst.settled(t, tags, 10*time.Minute)
	rebuildTook := time.Since(started)

	var diff []string
	for tag, w := range want {
		// The spelling shown is the one processed last, and posts of
		// different partitions interleave differently in any rebuild (a
		// replay too): #LDA may come back as #lda. The key, the count and
		// the lists may not differ.
		if g, ok := got[tag]; ok {
			if gh, wh := g["hashtag"].(string), w["hashtag"].(string); strings.EqualFold(gh, wh) {
				g["hashtag"] = wh
			}
		}
		if !reflect.DeepEqual(got[tag], w) {
			gj, _ := json.Marshal(got[tag])
			wj, _ := json.Marshal(w)
			diff = append(diff, fmt.Sprintf("#%s:\n  restored %s\n  original %s", tag, gj, wj))
		}
	}
	for tag := range got {
		if _, ok := want[tag]; !ok {
			diff = append(diff, fmt.Sprintf("#%s: a page the original does not have", tag))
		}
	}
	if len(diff) > 0 {
		t.Fatalf("%d of %d hashtag pages differ after the restore:\n%s", len(diff), len(want), strings.Join(diff, "\n"))
	}
	t.Logf("restore drill: %d posts and %d likes (%d hashtag pages) -- backup %s, restore %s, rebuild by the restored deployment %s; total %s\n%s",
		posts, lo.Likes, len(want), backupTook.Round(time.Millisecond), restoreTook.Round(time.Millisecond),
		rebuildTook.Round(time.Millisecond), (backupTook + restoreTook + rebuildTook).Round(time.Millisecond), out.String())
}

// deleteSome deletes and recaptions a few of the load's first posts, by
// regenerating them with the load's seed.
func deleteSome(t *testing.T, c kafka.Cluster, ns topology.Namespace, lo load.Options) {
	t.Helper()
	cl, err := c.Client("test-edits")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	g := load.NewGenerator(lo)
	var recs []*kgo.Record
	for i := range 200 {
		p := g.Next()
		e := events.PostEvent{PostID: p.ID, UserID: p.User}
		switch i % 10 {
		case 0:
			e.Type = events.PostDeleted
		case 5:
			e.Type, e.Caption = events.PostEdited, "edited after the fact #restored #"+p.Keys[0]
		default:
			continue
		}
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: ns.Posts(), Key: []byte(p.User), Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
