// Package chaos checks tagstream's exactly-once guarantee the hard way: it
// runs workers and an API as separate processes on a real Kafka, produces a
// seeded load of creates, edits, deletes and poison records, SIGKILLs a
// random worker every few seconds, restarts the broker once in the middle,
// and at the end compares every hashtag count the API serves with a ground
// truth computed from the posts log itself.
//
// The truth is computed here, independently of the extractor: a post is
// live from its first valid create until its first valid delete, and counts
// once for each distinct key of its latest valid caption.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/backoff"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// Options configures a chaos run. Zero values take the defaults noted.
type Options struct {
	// Cluster is the real Kafka. Partitions default to 6.
	Cluster kafka.Cluster
	// Namespace holds the run's topics and groups (topology.Namespace);
	// its topics and groups are deleted first.
	Namespace topology.Namespace
	// Binary is the tagstream executable the workers and the API run.
	Binary string
	// WorkerEnv, APIEnv and RankEnv are added to the environment of the
	// workers, of the API and of the ranking: their principals
	// (kafkatest.EnvOf). The harness's own clients use Cluster's.
	WorkerEnv, APIEnv, RankEnv []string
	// Posts is the number of posts created (default 200,000); edits,
	// deletes and poison records come on top.
	Posts int
	// Seed makes the load and the kill schedule reproducible (default 1).
	Seed int64
	// Workers is the number of worker processes (default 3).
	Workers int
	// Rate is the post events produced per second (default 2,000).
	Rate int
	// Mix is the run's edits, deletes, poison records and kill schedule.
	// Default MixFor(Seed).
	Mix Mix
	// Tags is the hashtag vocabulary (default 5,000; Zipf 1.1, about 8
	// per post, as `tagstream load`).
	Tags int
	// RestartBroker, if set, is run once RestartAt of the load is
	// produced: a command that stops the broker and starts it again.
	RestartBroker []string
	// Nodes, if set, replaces RestartBroker on a three-node cluster: from
	// RestartAt of the load on, its rounds SIGKILL the broker leading the
	// most partitions, then the active controller (NodeChaos).
	Nodes *NodeChaos
	// RandomIDs is how many of the Workers run without --instance-id, as
	// the compose file's replicas do: a random id at every start, so each
	// restart is a new member of the groups and a new transactional id
	// (default 0: every worker has a fixed id). The steady phase kills
	// only the others and the ranking: the bound is for fixed ids.
	RandomIDs int
	// Dir receives the run's folder: the verdict, the journal, the
	// processes' logs and the end state (report.go lists the files).
	Dir string
	// Drain bounds the wait for the pipeline to catch up (default 10m).
	Drain time.Duration
	// Settle bounds the wait, once the pipeline has caught up, for the
	// API's pages to show every count (default 60s): the views follow
	// the tables' changelogs a moment behind.
	Settle time.Duration
	// Bound is topology.md's bound: how long after its delete a post may
	// still be listed (default 10s). It is checked in the steady phase:
	// once the pipeline and the API's views have caught up with the load
	// (the kills paused; a sentinel post per partition, awaitViews),
	// SteadyPosts more posts (default Posts/20) with SteadyMix's kinds of
	// events (the classic mix's, whatever the seed) at SteadyRate events
	// per second (default 100, below what the pipeline processes), with a
	// SIGKILL every SteadyKillEvery on
	// average if set (default 0: none; TestChaos sets 10 s). During the
	// load the pipeline is offered more than it processes under a kill
	// every 1-3 s, falls behind, and a delete waits behind the lag:
	// measured and reported, not bounded (topology.md says why).
	Bound time.Duration
	// CheckLists turns on the steady phase and the check of every list
	// against the truth of the logs. Without it a run checks the counts
	// alone (the lists are still built, likes produced and the ranking
	// killed).
	CheckLists      bool
	SteadyPosts     int
	SteadyRate      int
	SteadyKillEvery time.Duration
	// Memory runs the workers and the ranking without --state-dir: a
	// restarted one then reads its whole tables from Kafka. Default false:
	// each keeps its journals in Dir/state/<name> (topology.md, Local
	// state), as a deployment with local disks would.
	Memory bool
	// Out receives progress lines.
	Out io.Writer
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Posts, 200_000)
	def(&o.Workers, 3)
	def(&o.Rate, 2000)
	def(&o.Tags, 5000)
	def(&o.SteadyPosts, o.Posts/20)
	if !o.CheckLists {
		o.SteadyPosts = 0
	}
	def(&o.SteadyRate, 100)
	def(&o.Cluster.Partitions, 6)
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Mix == (Mix{}) {
		o.Mix = MixFor(o.Seed)
	}
	if o.Mix.KillEvery <= 0 {
		o.Mix.KillEvery = ClassicMix.KillEvery
	}
	if o.Mix.RestartAt <= 0 || o.Mix.RestartAt >= 1 {
		o.Mix.RestartAt = ClassicMix.RestartAt
	}
	if o.Drain <= 0 {
		o.Drain = 10 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = time.Minute
	}
	if o.Bound <= 0 {
		o.Bound = 10 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// Result is what a run did and found.
type Result struct {
	Seed                                            int64
	Mix                                             Mix
	Creates, Edits, Deletes, Poison, Likes, Unlikes int
	Kills, Crashes, BrokerRestarts                  int
	// NodeKills counts the SIGKILLs of cluster nodes by round (NodeChaos).
	NodeKills map[string]int
	// Logged is the number of records the input topics hold, every one
	// the load had acknowledged (Creates, Edits, Deletes, Poison, Likes,
	// Unlikes); Lost is how many acknowledged ones they lack (negative:
	// more than produced).
	Logged, Lost int
	// Hashtags is the number of hashtags in the truth; Differ of those
	// whose served count is not the truth, Drift the sum of |served-truth|.
	Hashtags, Differ int
	Drift            int64
	// Examples shows a few differing hashtags.
	Examples []string
	// Lists is the number of hashtag pages whose lists were checked
	// (and the trending list); ListsDiffer of those lists served away
	// from the truth, ListExamples a few of them.
	Lists, ListsDiffer int
	ListExamples       []string
	// Bound says how long deleted posts stayed listed; Late lists those
	// listed longer than the bound.
	Bound         string
	Late          []string
	Load, Settled time.Duration
	// Verdict is "ok" or the failure's kind and message (Verdict).
	Verdict string
	// Dir is the run's folder.
	Dir string
}

func (r *Result) String() string {
	return fmt.Sprintf("chaos seed %d: %d creates, %d edits, %d deletes, %d poison records, %d likes, %d unlikes; %d SIGKILLs, %d crashes, %d broker restarts%s; "+
		"load %s, settled after %s; %d input records logged, %d acknowledged ones lost; %d hashtags checked: %d differ, total drift %d %v; %d pages' lists checked: %d lists differ %v; %s",
		r.Seed, r.Creates, r.Edits, r.Deletes, r.Poison, r.Likes, r.Unlikes, r.Kills, r.Crashes, r.BrokerRestarts, r.nodeKills(),
		r.Load.Round(time.Second), r.Settled.Round(time.Second), r.Logged, r.Lost, r.Hashtags, r.Differ, r.Drift, r.Examples,
		r.Lists, r.ListsDiffer, r.ListExamples, r.Bound)
}

// nodeKills is ", node SIGKILLs: leader 1, controller 1" on a cluster run,
// else empty.
func (r *Result) nodeKills() string {
	if len(r.NodeKills) == 0 {
		return ""
	}
	var parts []string
	for _, round := range NodeRounds {
		parts = append(parts, fmt.Sprintf("%s %d", round, r.NodeKills[round]))
	}
	return ", node SIGKILLs: " + strings.Join(parts, ", ")
}

// Run runs the chaos experiment. It returns a *Failure whose kind says why
// the run failed (KindDrift if any count ends away from the truth), and
// always leaves in o.Dir the verdict, the journal of what was done when,
// every process's log and the end state of the cluster (report.go).
func Run(ctx context.Context, o Options) (res *Result, err error) {
	o.defaults()
	if o.Binary == "" || o.Dir == "" {
		return nil, fail(KindHarness, nil, "Binary and Dir are required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fail(KindHarness, err, "run folder")
	}
	j, err := openJournal(filepath.Join(o.Dir, "schedule.log"), o.Out)
	if err != nil {
		return nil, fail(KindHarness, err, "journal")
	}
	defer j.close()
	res = &Result{Seed: o.Seed, Mix: o.Mix, Dir: o.Dir, NodeKills: map[string]int{}}
	rep := &report{o: o, j: j}
	var procs *supervisor
	defer func() {
		res.Verdict = Verdict(err)
		j.event("verdict: %s", res.Verdict)
		rep.collect(ctx, res) // while the processes still run
		if procs != nil {
			procs.stop()
		}
		rep.write(res, err)
		fmt.Fprintf(o.Out, "chaos: seed %d: %s\nchaos: run folder %s\n", o.Seed, res.Verdict, o.Dir)
	}()
	j.event("seed %d, %d posts at %d/s, %d workers (%d with random ids), %d partitions, replication %d; mix %+v",
		o.Seed, o.Posts, o.Rate, o.Workers, o.RandomIDs, o.Cluster.Partitions, o.Cluster.ReplicationFactor(), o.Mix)

	c := o.Cluster
	prep, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	g0 := o.Namespace.Gen(0)
	if err := c.Delete(prep, g0.TopicNames(), g0.Groups()); err != nil {
		return res, fail(KindService, err, "reset the topics")
	}
	if err := c.EnsureTopics(prep, g0.Topics()); err != nil {
		return res, fail(KindService, err, "create the topics")
	}
	common := []string{"--brokers", strings.Join(c.Brokers, ","), "--partitions", fmt.Sprint(c.Partitions),
		"--replication", fmt.Sprint(c.ReplicationFactor()), "--log-level", "info",
		"--namespace", string(o.Namespace)}
	httpAddr, err := testenv.FreeAddr()
	if err != nil {
		return res, fail(KindHarness, err, "free port")
	}
	procs, pctx := newSupervisor(ctx, o, j)
	// stateDir gives each killed process its own directory, kept across
	// its restarts.
	stateDir := func(name string) []string {
		if o.Memory {
			return nil
		}
		return []string{"--state-dir", filepath.Join(o.Dir, "state", name)}
	}
	var fixed []string // the killed processes with an instance id
	procs.start("api", o.APIEnv, append([]string{"api", "--http", httpAddr, "--secret", strings.Repeat("c", 32)}, common...))
	for i := 1; i <= o.Workers; i++ {
		name := fmt.Sprintf("worker-%d", i)
		args := append([]string{"worker", "--instance-id", fmt.Sprintf("chaos-%d", i)}, stateDir(name)...)
		if i > o.Workers-o.RandomIDs {
			// A random id at each start: its state dir is still its own,
			// as a replica's volume would be.
			args = append([]string{"worker"}, stateDir(name)...)
		} else {
			fixed = append(fixed, name)
		}
		procs.start(name, o.WorkerEnv, append(args, common...))
	}
	// The ranking is killed like the workers; its documents come at most
	// every 2 s, so the lists settle soon after the load.
	fixed = append(fixed, "rank")
	procs.start("rank", o.RankEnv, append(append([]string{"rank", "--instance-id", "chaos-rank", "--rank-interval", "2s"}, stateDir("rank")...), common...))
	base := "http://" + httpAddr
	if err := awaitReady(pctx, base); err != nil {
		return res, fail(KindService, err, "the API did not become ready (%s)", procs.unrecovered(time.Time{}))
	}

	start := time.Now()
	watch := newBoundWatch(pctx, base, o.Bound)
	loadDone := make(chan struct{})
	// mainDone closes once the load's first phase is produced (or failed),
	// steady once the pipeline has caught up and the steady phase begins.
	mainDone, steady := make(chan struct{}), make(chan struct{})
	closeMain := sync.OnceFunc(func() { close(mainDone) })
	var produceErr, restartErr error
	var restartWG sync.WaitGroup
	go func() {
		defer close(loadDone)
		defer closeMain()
		// Between the load and the steady phase: the pipeline catches up
		// (the kills going on), and the deletes followed from then on are
		// held to the bound.
		caughtUp := func() error {
			closeMain()
			if o.SteadyPosts == 0 {
				return nil
			}
			// The bound is held through worker kills, not broker outages:
			// the broker restart (or the node rounds) ends before the
			// steady phase. A short load (20,000 posts, seed 4) otherwise
			// ended during a 69 s restart that hid every steady delete.
			j.say("load produced (%d posts); waiting for the broker restart or node rounds to end", res.Creates)
			restartWG.Wait()
			j.say("load produced (%d posts); waiting for the pipeline to catch up before the steady phase (no kills meanwhile)", res.Creates)
			began := time.Now()
			dctx, dcancel := context.WithTimeout(pctx, o.Drain)
			defer dcancel()
			if err := load.AwaitProcessed(dctx, c, g0.Groups(), nil); err != nil {
				return fmt.Errorf("the pipeline did not catch up before the steady phase: %w", err)
			}
			groups := time.Since(began)
			if err := awaitViews(dctx, o, base); err != nil {
				return err
			}
			j.say("the groups caught up in %s, the API's views %s later", groups.Round(time.Second), (time.Since(began) - groups).Round(time.Second))
			watch.steady(time.Now())
			kills := "no kills"
			if o.SteadyKillEvery > 0 {
				kills = fmt.Sprintf("a SIGKILL every %s on average", o.SteadyKillEvery)
			}
			j.say("caught up in %s; steady phase: %d posts at %d events/s of the steady mix, %s, deletes held to %s",
				time.Since(began).Round(time.Second), o.SteadyPosts, o.SteadyRate, kills, o.Bound)
			close(steady)
			return nil
		}
		produceErr = produce(pctx, o, res, j, watch, caughtUp, func() {
			if o.Nodes != nil {
				restartWG.Add(1)
				go func() {
					defer restartWG.Done()
					restartErr = nodeRounds(pctx, o, res, j, watch)
					res.BrokerRestarts = res.NodeKills["leader"] + res.NodeKills["controller"]
				}()
				return
			}
			if len(o.RestartBroker) == 0 {
				return
			}
			restartWG.Add(1)
			go func() {
				defer restartWG.Done()
				j.say("restarting the broker (%s)", strings.Join(o.RestartBroker, " "))
				began := time.Now()
				restartErr = restartBroker(pctx, o)
				watch.restarted(began, time.Now())
				res.BrokerRestarts++
				j.say("broker restart done (err %v)", restartErr)
			}()
		})
	}()
	procs.killUntil(mainDone, o.Mix.KillEvery, o.Mix.Burst, o.Seed, nil)
	select {
	case <-steady:
		if o.SteadyKillEvery > 0 {
			// The bound is topology.md's for workers with an instance id:
			// a SIGKILLed worker with a random id holds its partitions for
			// the session timeout (10 s), then the group rebalances, so
			// the steady phase kills only the fixed ids and the ranking.
			procs.killUntil(loadDone, o.SteadyKillEvery, 0, o.Seed+1, fixed)
		}
	case <-loadDone:
	}
	<-loadDone // also when killUntil returned on the context: produce ends with it
	restartWG.Wait()
	res.Load = time.Since(start)
	res.Kills, res.Crashes = procs.counts()
	loadEnd := time.Now()
	if restartErr != nil {
		return res, fail(KindService, restartErr, "the broker restart failed (broker-restart.log, nodes.log)")
	}
	if produceErr != nil {
		if ctx.Err() != nil {
			return res, fail(KindTimeout, produceErr, "the run's deadline passed while producing the load")
		}
		return res, fail(KindService, produceErr, "producing the load")
	}
	j.say("load done in %s (%d SIGKILLs, %d crashes); waiting for the pipeline to catch up",
		res.Load.Round(time.Second), res.Kills, res.Crashes)

	truth, err := groundTruth(pctx, c, o.Namespace)
	if err != nil {
		return res, fail(KindService, err, "reading the posts log for the ground truth")
	}
	rep.truth = truth
	res.Hashtags = len(truth.total)
	if err := checkLogged(pctx, o, res, truth); err != nil {
		return res, err
	}
	dctx, dcancel := context.WithTimeout(pctx, o.Drain)
	defer dcancel()
	if err := load.AwaitProcessed(dctx, c, []string{g0.Extractor(), g0.Counts()}, nil); err != nil {
		if down := procs.unrecovered(loadEnd); down != "" {
			return res, fail(KindNotRecovered, err, "%s", down)
		}
		if ctx.Err() != nil || dctx.Err() != nil {
			return res, fail(KindTimeout, err, "the pipeline did not catch up within %s of the load's end, every process running (groups.txt has the lag)", o.Drain)
		}
		return res, fail(KindService, err, "reading the consumer lag")
	}
	j.say("the pipeline caught up (%s after the load)", time.Since(loadEnd).Round(time.Second))
	// The view follows the table's changelog a moment behind: give the
	// counts o.Settle to settle, then read them all for the verdict.
	reader := load.NewReader(base)
	actx, acancel := context.WithTimeout(dctx, o.Settle)
	_, err = reader.Await(actx, truth.total, 8)
	acancel()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return res, fail(KindNotRecovered, err, "reading the pages from the API (%s)", procs.unrecovered(loadEnd))
	}
	keys := make([]string, 0, len(truth.total))
	for k := range truth.total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	served, err := reader.Counts(dctx, keys, 8)
	res.Settled = time.Since(start)
	if err != nil {
		return res, fail(KindNotRecovered, err, "reading the pages from the API (%s)", procs.unrecovered(loadEnd))
	}
	rep.served = served
	for _, k := range keys {
		if d := served[k] - truth.total[k]; d != 0 {
			res.Differ++
			res.Drift += max(d, -d)
			if len(res.Examples) < 10 {
				res.Examples = append(res.Examples, fmt.Sprintf("#%s served %d, truth %d", k, served[k], truth.total[k]))
			}
		}
	}
	if res.Differ == 0 {
		if !o.CheckLists {
			return res, nil
		}
		// The lists' groups, and the ranking's, have caught up too.
		if err := load.AwaitProcessed(dctx, c, g0.Groups(), nil); err != nil {
			return res, fail(KindTimeout, err, "the lists' groups did not catch up (groups.txt has the lag)")
		}
		return res, rep.checkLists(pctx, o, res, base, watch)
	}
	// Tell a wrong table from a view that has not caught up with a right
	// one: read the counts table's changelog itself.
	if stale, err := rep.staleView(pctx); err == nil && stale {
		return res, fail(KindStale, nil, "%d hashtags served away from the truth, but the counts table holds the truth (%s)", res.Differ, strings.Join(res.Examples, "; "))
	}
	return res, fail(KindDrift, nil, "%d hashtags differ, total drift %d after %s of settling (%s)", res.Differ, res.Drift, o.Settle, strings.Join(res.Examples, "; "))
}

func restartBroker(ctx context.Context, o Options) error {
	cmd := exec.CommandContext(ctx, o.RestartBroker[0], o.RestartBroker[1:]...)
	out, err := os.Create(filepath.Join(o.Dir, "broker-restart.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	return cmd.Run()
}

// truth is what the posts log defines: each hashtag's count, in all and
// per posts partition (what the extractor's deltas of that partition must
// sum to).
type truth struct {
	total map[string]int64
	parts map[string]map[int32]int64
	// records is every record of posts, created the posts with a valid
	// create, neither counting the sentinel posts (awaitViews).
	records, created int
}

// checkLogged fails the run unless the input topics hold exactly the
// records the load had acknowledged, and posts a post for every create:
// with acks=all, min.insync.replicas 2 and no unclean leader election a
// broker's loss must lose none of them, and the idempotent producer
// writes none twice.
func checkLogged(ctx context.Context, o Options, res *Result, t *truth) error {
	likes := 0
	if err := readAll(ctx, o.Cluster, o.Namespace.Likes(), false, func(*kgo.Record) { likes++ }); err != nil {
		return fail(KindService, err, "reading the likes log")
	}
	acked := res.Creates + res.Edits + res.Deletes + res.Poison + res.Likes + res.Unlikes
	res.Logged = t.records + likes
	res.Lost = acked - res.Logged
	if res.Lost != 0 || t.created != res.Creates {
		return fail(KindLost, nil, "the load had %d records acknowledged (%d posts created), the input topics hold %d (%d posts created, %d likes and unlikes)",
			acked, res.Creates, res.Logged, t.created, likes)
	}
	return nil
}

// groundTruth reads the whole posts topic and applies the semantics of
// topology.md to it, independently of the extractor.
func groundTruth(ctx context.Context, c kafka.Cluster, ns topology.Namespace) (*truth, error) {
	type post struct {
		keys      []string
		deleted   bool
		partition int32
	}
	posts := map[string]*post{}
	// Hashtags whose every post was edited away or deleted must read 0.
	t := &truth{total: map[string]int64{}, parts: map[string]map[int32]int64{}}
	err := readAll(ctx, c, ns.Posts(), false, func(r *kgo.Record) {
		load := string(r.Key) != sentinelUser
		if load {
			t.records++
		}
		e, ok := truthEvent(r)
		if !ok {
			return
		}
		key := events.PostKey(e.UserID, e.PostID)
		p := posts[key]
		switch {
		case e.Type == events.PostCreated && p == nil:
			p = &post{keys: hashtag.Keys(e.Caption), partition: r.Partition}
			posts[key] = p
			if load {
				t.created++
			}
		case e.Type == events.PostEdited && p != nil && !p.deleted:
			p.keys = hashtag.Keys(e.Caption)
		case e.Type == events.PostDeleted && p != nil && !p.deleted:
			p.deleted, p.keys = true, nil
		}
		if p != nil {
			for _, k := range p.keys {
				t.total[k] += 0
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: reading posts: %w", err)
	}
	for _, p := range posts {
		for _, k := range p.keys {
			t.total[k]++
			if t.parts[k] == nil {
				t.parts[k] = map[int32]int64{}
			}
			t.parts[k][p.partition]++
		}
	}
	return t, nil
}

func awaitReady(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := backoff.Retry(ctx, backoff.Policy{First: 100 * time.Millisecond, Max: time.Second}, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: API not ready: %w", err)
	}
	return nil
}

// truthEvent decodes a posts record as the extractor would accept it: a
// valid event whose caption (if it is not a delete) passes the hashtag
// rules. Both truths, the counts' and the lists', read posts through it,
// so they agree on what a post is.
func truthEvent(r *kgo.Record) (events.PostEvent, bool) {
	e, err := events.DecodePostEvent(string(r.Key), r.Value)
	if err == nil && e.Type != events.PostDeleted {
		_, err = hashtag.Validate(e.Caption)
	}
	return e, err == nil
}
