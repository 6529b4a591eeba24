package processors

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/backoff"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/journal"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/topology"
)

// Options configures a worker's processors.
type Options struct {
	// InstanceID names this worker among the others. When set, the
	// extractor uses it as its transactional id suffix
	// ("tagstream-extractor-<id>", Kafka's transactional.id) and every
	// group uses static membership (group.instance.id): a worker restarted
	// under the same id fences its dead predecessor's transaction at once
	// and gets its partitions back without a rebalance. It must be unique
	// among running workers and stable across restarts (a pod name).
	// Default: empty, a random transactional id and dynamic membership; a
	// killed worker's partitions then wait for the transaction timeout and
	// the session timeout.
	InstanceID string
	// AtLeastOnce turns the extractor's transactions off: it produces with
	// an idempotent producer and commits offsets after its writes are
	// acknowledged. A crash can then count a post twice or lose a change.
	// It exists to measure what exactly-once costs. Default: false.
	AtLeastOnce bool
	// CommitInterval is how long one extractor transaction collects
	// records before it commits (Kafka Streams' commit.interval.ms).
	// Default 1s, where Kafka Streams takes 100ms under exactly_once_v2:
	// a transaction writes one post-changes record per hashtag and
	// partition, and each list group rewrites the hashtag's whole list
	// per record, so a hot hashtag costs a list rewrite per partition
	// per interval, whatever the rate of posts. At 100ms the lists'
	// rewrites took both cores of the chaos machine at 100 post events/s
	// and deletes waited a minute for them; at 1s they left every list
	// within 2.7s (topology.md, Lists). The cost: a post reaches its
	// count and lists up to one interval later.
	CommitInterval time.Duration
	// MaxBatch bounds the posts records of one transaction. Default 10,000.
	MaxBatch int
	// Gen is the namespace and generation of the topics and groups to
	// run. Default: generation 0 of the default namespace, the plain names.
	Gen topology.Gen
	// Groups names the worker's groups this process runs, by their base
	// names (WorkerGroups): the extractor and the counter alone give the
	// counts, and the list groups can then run in processes of their own,
	// scaled apart (their rewrites cost more than counting). Default: all.
	Groups []string
	// TxnTimeout is transaction.timeout.ms: how long a dead worker's open
	// transaction blocks its partitions before the broker aborts it.
	// Default 10s, Kafka Streams' default under exactly-once.
	TxnTimeout time.Duration
}

// DefaultCommitInterval is Options.CommitInterval's default.
const DefaultCommitInterval = time.Second

// MaxCommitInterval is the longest CommitInterval for a transaction
// timeout: a transaction collects for the interval, then as long as a like
// waits (up to half the timeout, order.go), and must commit before the
// broker aborts it at the timeout. 2.5s at the default 10s.
func MaxCommitInterval(txnTimeout time.Duration) time.Duration { return txnTimeout / 4 }

func (o Options) withDefaults() Options {
	if o.CommitInterval <= 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 10_000
	}
	if o.TxnTimeout <= 0 {
		o.TxnTimeout = 10 * time.Second
	}
	return o
}

// BadStates counts post states in the extractor's changelog that do not
// decode: the restore stops on one (a bug, or a write ACLs should have
// refused), and the worker with it, until an operator removes the record.
var BadStates = metrics.Default.NewCounterVec("tagstream_extractor_bad_states_total",
	"Post states in the extractor's changelog that do not decode; the restore stops on one.")

// TxnCommits and TxnAborts count the extractor's transactions by outcome.
var (
	TxnCommits = metrics.Default.NewCounterVec("tagstream_extractor_transactions_committed_total",
		"Extractor transactions committed.")
	TxnAborts = metrics.Default.NewCounterVec("tagstream_extractor_transactions_aborted_total",
		"Extractor transactions aborted, by reason: commit_refused (a rebalance, a fenced producer, a moved coordinator; the batch is retried) "+
			"or produce_failed (a record the broker refused; the extractor stops).", "reason")
)

// extractor is the stage that needs transactions: it reads posts, keeps
// each post's hashtags, and writes deltas, post states and its consumed
// offsets in one Kafka transaction (exactly_once_v2, KIP-447), so a crash
// at any moment leaves either all of a batch's effects or none.
type extractor struct {
	c     kafka.Cluster
	o     Options
	parts int32

	mu      sync.Mutex
	states  map[int32]*partState
	waits   map[int32]*likeWait // order.go
	postsTS map[int32]int64     // the newest posts record's timestamp (ms) read per partition
	// journals are the local copies of the owned extractor-table
	// partitions, with --state-dir (statedir.go); nil without.
	journals map[int32]*journal.Journal
	failed   error
	cancel   context.CancelCauseFunc
}

// runExtractor runs the extractor until ctx is done or it fails.
func runExtractor(ctx context.Context, c kafka.Cluster, o Options) error {
	o = o.withDefaults()
	if most := MaxCommitInterval(o.TxnTimeout); o.CommitInterval > most {
		return fmt.Errorf("processors: commit interval %s is above %s, a quarter of the transaction timeout %s", o.CommitInterval, most, o.TxnTimeout)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x := &extractor{c: c, o: o, parts: int32(c.PartitionCount()), states: map[int32]*partState{},
		waits: map[int32]*likeWait{}, postsTS: map[int32]int64{}, journals: map[int32]*journal.Journal{}, cancel: cancel}
	defer x.closeJournals()
	opts := append(c.Opts("extractor"),
		kgo.ConsumerGroup(string(o.Gen.Extractor())),
		kgo.ConsumeTopics(o.Gen.NS.Posts(), o.Gen.NS.Likes()),
		// posts and likes are co-partitioned: the range balancer gives
		// each member the same partitions of both (they have as many
		// partitions and the same members), so the owner of a post's
		// events also owns its likes. assigned checks it.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records move the read position as the broker counts
		// it, so a like waiting for the posts' end offset (order.go)
		// sees it reached when the log ends with a transaction marker.
		kgo.KeepControlRecords(),
		// A paused partition's likes (order.go) resume with the next
		// fetch, after the one in flight: 500ms, Kafka's
		// fetch.max.wait.ms, not franz-go's 5s.
		kgo.FetchMaxWait(500*time.Millisecond),
		// Rebalances wait for the loop between transactions: the state
		// callbacks never race a batch, and a batch never straddles one.
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(x.assigned),
		kgo.OnPartitionsRevoked(x.revoked),
		kgo.OnPartitionsLost(x.revoked),
		// A static member does not leave the group when it stops, so a
		// worker that does not come back holds its partitions for the
		// session timeout: 10s, not franz-go's 45s default
		// (session.timeout.ms), as goka's groups do.
		kgo.SessionTimeout(10*time.Second),
	)
	if o.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(o.InstanceID+"-"+string(o.Gen.Extractor())))
	}
	if o.AtLeastOnce {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("processors: extractor client: %w", err)
		}
		defer cl.CloseAllowingRebalance()
		return x.loop(ctx, cl, nil)
	}
	txnID := o.InstanceID
	if txnID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		txnID = hex.EncodeToString(b)
	}
	sess, err := kgo.NewGroupTransactSession(append(opts,
		kgo.TransactionalID(o.Gen.NS.TransactionalIDPrefix()+txnID),
		kgo.TransactionTimeout(o.TxnTimeout),
	)...)
	if err != nil {
		return fmt.Errorf("processors: extractor transactional session: %w", err)
	}
	defer sess.CloseAllowingRebalance()
	return x.loop(ctx, sess.Client(), sess)
}

// loop runs one transaction per batch. sess is nil without transactions.
func (x *extractor) loop(ctx context.Context, cl *kgo.Client, sess *kgo.GroupTransactSession) error {
	for {
		f := cl.PollRecords(ctx, x.o.MaxBatch)
		if err := x.stopped(ctx, f); err != nil || ctx.Err() != nil {
			return err
		}
		if f.Empty() {
			cl.AllowRebalance()
			continue
		}
		if sess != nil {
			if err := sess.Begin(); err != nil {
				return fmt.Errorf("processors: extractor: begin transaction: %w", err)
			}
		}
		b := newBatch(x.o.Gen)
		if err := x.collect(ctx, cl, b, f); err != nil {
			// Likes may wait: the batch must not commit (order.go).
			x.rollback(cl, b)
			if sess != nil {
				actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, _ = sess.End(actx, kgo.TryAbort)
				cancel()
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := x.end(ctx, cl, sess, b); err != nil {
			return err
		}
		cl.AllowRebalance()
	}
}

// collect adds f and whatever else arrives within the commit interval,
// and goes on until no like waits for its posts (order.go).
func (x *extractor) collect(ctx context.Context, cl *kgo.Client, b *batch, f kgo.Fetches) error {
	deadline := time.Now().Add(x.o.CommitInterval)
	for {
		if err := x.add(cl, b, f); err != nil {
			return err
		}
		waiting := x.release(ctx, cl, b)
		if !waiting && (b.records >= x.o.MaxBatch || !time.Now().Before(deadline)) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		until, n := deadline, x.o.MaxBatch-b.records
		if waiting {
			// Poll the posts in short steps: each step may release.
			until, n = time.Now().Add(x.o.CommitInterval), x.o.MaxBatch
		}
		pctx, cancel := context.WithDeadline(ctx, until)
		f = cl.PollRecords(pctx, n)
		cancel()
		if err := x.stopped(ctx, f); err != nil {
			return err
		}
	}
}

// add applies a poll's posts, then its likes: a like polled with the
// create of its post finds the post known.
func (x *extractor) add(cl *kgo.Client, b *batch, f kgo.Fetches) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	for _, likes := range []bool{false, true} {
		f.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 || (p.Topic == x.o.Gen.NS.Likes()) != likes {
				return // an error-only entry (the poll's deadline), or the other pass's
			}
			st, ok := x.states[p.Partition]
			if !ok {
				err = fmt.Errorf("processors: extractor: records of %s/%d, whose state was not restored", p.Topic, p.Partition)
				return
			}
			if likes {
				x.addLikes(cl, b, st, p.Partition, p.Records)
				return
			}
			for _, r := range p.Records {
				if r.Attrs.IsControl() {
					continue
				}
				b.add(st, r)
				if ts := r.Timestamp.UnixMilli(); ts > x.postsTS[p.Partition] {
					x.postsTS[p.Partition] = ts
				}
			}
		})
	}
	return err
}

// end writes the batch and commits it with the consumed offsets, or rolls
// the in-memory state back if the transaction aborted (a rebalance, a
// fenced producer): the session then rewinds to the committed offsets and
// the same records come again.
func (x *extractor) end(ctx context.Context, cl *kgo.Client, sess *kgo.GroupTransactSession, b *batch) error {
	if b.err != nil {
		x.rollback(cl, b)
		if sess != nil {
			actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = sess.End(actx, kgo.TryAbort)
			cancel()
		}
		return b.err
	}
	var mu sync.Mutex
	var produceErr error
	out := b.output(x.parts)
	for _, r := range out {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				produceErr = errors.Join(produceErr, err)
				mu.Unlock()
			}
		})
	}
	if sess == nil {
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("processors: extractor: flush: %w", err)
		}
		if produceErr != nil {
			return fmt.Errorf("processors: extractor: produce: %w", produceErr)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return fmt.Errorf("processors: extractor: commit offsets: %w", err)
		}
		b.committed()
		countCommitted(b, out)
		x.journalCommitted(out)
		return nil
	}
	// A record the producer failed (too large, refused) must not be left
	// out of a transaction that commits: the batch's offsets would commit
	// without its deltas, post states or dead letters. Flush first, so
	// every promise has run, then abort.
	if err := cl.Flush(ctx); err != nil {
		x.rollback(cl, b)
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("processors: extractor: flush: %w", err)
	}
	mu.Lock()
	failed := produceErr
	mu.Unlock()
	if failed != nil {
		x.rollback(cl, b)
		if _, err := sess.End(ctx, kgo.TryAbort); err != nil && ctx.Err() == nil {
			return fmt.Errorf("processors: extractor: abort after a failed write: %w (write: %w)", err, failed)
		}
		TxnAborts.Inc("produce_failed")
		return fmt.Errorf("processors: extractor: a write of the transaction failed, aborted it: %w", failed)
	}
	committed, err := sess.End(ctx, kgo.TryCommit)
	if err != nil {
		x.rollback(cl, b)
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("processors: extractor: end transaction: %w", err)
	}
	if !committed {
		slog.Info("extractor transaction aborted; rewinding to the committed offsets", "records", b.records)
		TxnAborts.Inc("commit_refused")
		x.rollback(cl, b)
		return nil
	}
	TxnCommits.Inc()
	b.committed()
	countCommitted(b, out)
	x.journalCommitted(out)
	return nil
}

func (x *extractor) rollback(cl *kgo.Client, b *batch) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b.rollback(x.states)
	for p := range x.states {
		x.forgetOrder(cl, p)
	}
}

// stopped returns why the loop must stop: a callback's failure, or a fatal
// fetch error. Context errors are not failures.
func (x *extractor) stopped(ctx context.Context, f kgo.Fetches) error {
	x.mu.Lock()
	failed := x.failed
	x.mu.Unlock()
	if failed != nil {
		return failed
	}
	if f.IsClientClosed() {
		return nil
	}
	var err error
	f.EachError(func(t string, p int32, e error) {
		if errors.Is(e, context.Canceled) || errors.Is(e, context.DeadlineExceeded) {
			return
		}
		err = errors.Join(err, fmt.Errorf("processors: extractor: fetch %s/%d: %w", t, p, e))
	})
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func (x *extractor) fail(err error) {
	x.mu.Lock()
	if x.failed == nil {
		x.failed = err
	}
	x.mu.Unlock()
	x.cancel(err)
}

// assigned restores the post states of newly assigned partitions before
// any of their records is processed.
func (x *extractor) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	parts := m[x.o.Gen.NS.Posts()]
	slog.Info("extractor rebalance: partitions gained", "group", x.o.Gen.Extractor(), "posts", parts, "likes", m[x.o.Gen.NS.Likes()])
	if likes := m[x.o.Gen.NS.Likes()]; !sameParts(parts, likes) {
		x.fail(fmt.Errorf("processors: extractor: assigned posts partitions %v but likes partitions %v: "+
			"a post's likes must go to the owner of its events (is an extractor of another version, subscribed to posts alone, in group %s?)",
			parts, likes, x.o.Gen.Extractor()))
		return
	}
	if len(parts) == 0 {
		return
	}
	if !x.o.AtLeastOnce {
		// Initialising the producer id fences a predecessor with the
		// same transactional id and aborts its open transaction, so
		// the restore below does not wait for it to time out.
		if _, _, err := cl.ProducerID(ctx); err != nil {
			x.fail(fmt.Errorf("processors: extractor: init producer id: %w", err))
			return
		}
	}
	start := time.Now()
	states, journals, err := restore(ctx, x.c, x.o.Gen.ExtractorTable(), parts, x.o.TxnTimeout*3)
	if err != nil {
		x.fail(err)
		return
	}
	x.mu.Lock()
	n, likes := 0, 0
	for p, s := range states {
		x.states[p] = s
		if old := x.journals[p]; old != nil {
			_ = old.Close()
			delete(x.journals, p)
		}
		if j := journals[p]; j != nil {
			x.journals[p] = j
		}
		n += s.size()
		for _, l := range s.likers {
			likes += len(l)
		}
	}
	x.mu.Unlock()
	slog.Info("extractor restored post states", "partitions", parts, "posts", n, "likes", likes, "took", time.Since(start).Round(time.Millisecond))
}

// sameParts reports whether a and b hold the same partitions.
func sameParts(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (x *extractor) revoked(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	if len(m) > 0 {
		slog.Info("extractor rebalance: partitions lost", "group", x.o.Gen.Extractor(), "posts", m[x.o.Gen.NS.Posts()], "likes", m[x.o.Gen.NS.Likes()])
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range append(m[x.o.Gen.NS.Posts()], m[x.o.Gen.NS.Likes()]...) {
		delete(x.states, p)
		x.forgetOrder(cl, p)
	}
	x.closeJournalsLocked(m[x.o.Gen.NS.Posts()])
}

// restore reads the committed post states and likes of parts: from their
// journals (with --state-dir) and then the changelog from where each
// journal ends, or the whole changelog. It returns the journals, open and
// complete to the changelog's end, to be appended to after each commit.
//
// An open transaction of a dead previous owner holds the partition's last
// stable offset back until the broker aborts it, and a read must not stop
// before a transaction that may still commit. So restore first waits (at
// most wait) until no transaction is open on the partitions, then reads
// them to their end with read_committed, keeping control records so it can
// tell when it has reached the end.
func restore(ctx context.Context, c kafka.Cluster, table string, parts []int32, wait time.Duration) (_ map[int32]*partState, _ map[int32]*journal.Journal, err error) {
	start := time.Now()
	var settled, loaded time.Duration
	var journaled, read int
	defer func() {
		if err == nil {
			slog.Info("extractor restore", "partitions", parts, "settled_after", settled.Round(time.Millisecond),
				"journal_keys", journaled, "journals_took", loaded.Round(time.Millisecond), "changelog_records", read,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}()
	admin, err := c.Client("extractor-restore")
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	ends, err := settledEnds(ctx, adm, table, parts, wait)
	if err != nil {
		return nil, nil, err
	}
	settled = time.Since(start)
	// The same client: a new one (SASL included) cost a restart hundreds
	// of milliseconds on a busy machine.
	listedStarts, err := adm.ListStartOffsets(ctx, table)
	if err == nil {
		err = listedStarts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("processors: extractor: start offsets of %s: %w", table, err)
	}
	starts := map[int32]int64{}
	listedStarts.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
	states := map[int32]*partState{}
	journals := map[int32]*journal.Journal{}
	defer func() {
		if err != nil {
			closeAll(journals)
		}
	}()
	spans := kafka.Spans{table: {}}
	for _, p := range parts {
		states[p] = newPartState()
		from := starts[p]
		if c.StateDir != "" {
			jstart := time.Now()
			j, next, err := openStateJournal(c.StateDir, table, p, starts[p], ends[p], states[p])
			if err != nil {
				return nil, nil, err
			}
			loaded += time.Since(jstart)
			journaled += states[p].size()
			journals[p], from = j, max(from, next)
		}
		spans[table][p] = kafka.Span{From: from, To: ends[p]}
	}
	err = c.ReadSpans(ctx, spans, true, func(r *kgo.Record) {
		read++
		// A clone: a value kept raw must not hold the whole fetch buffer.
		applyState(states[r.Partition], string(r.Key), bytes.Clone(r.Value))
		if j := journals[r.Partition]; j != nil {
			// A failed append leaves the journal's intact prefix: the next
			// start reads more of the changelog (statedir.go).
			_ = j.Append(string(r.Key), r.Value, r.Offset)
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("processors: extractor: restore: %w", err)
	}
	return states, journals, nil
}

// applyState applies one extractor-table record to a partition's state.
// A post's state is kept as bytes until an event needs it (partState.post).
func applyState(st *partState, key string, value []byte) {
	if post, liker, ok := events.SplitLikerKey(key); ok {
		st.setLike(post, liker, value != nil)
		return
	}
	delete(st.posts, key)
	if value == nil {
		delete(st.raw, key)
		return
	}
	st.raw[key] = value
}

// settledEnds waits until the last stable offset of every partition equals
// its high watermark and returns those ends.
func settledEnds(ctx context.Context, adm *kadm.Client, table string, parts []int32, wait time.Duration) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var ends map[int32]int64
	err := backoff.Retry(ctx, backoff.Policy{First: 100 * time.Millisecond, Max: time.Second}, func(ctx context.Context) error {
		stable, err := adm.ListCommittedOffsets(ctx, table)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			return err
		}
		high, err := adm.ListEndOffsets(ctx, table)
		if err == nil {
			err = high.Error()
		}
		if err != nil {
			return err
		}
		ends = map[int32]int64{}
		for _, p := range parts {
			s, _ := stable.Lookup(table, p)
			h, _ := high.Lookup(table, p)
			ends[p] = h.Offset
			if s.Offset < h.Offset {
				return fmt.Errorf("a transaction is still open on %s/%d", table, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("processors: extractor: %s not settled within %s: %w", table, wait, err)
	}
	return ends, nil
}
