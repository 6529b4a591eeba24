package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
)

// A run's folder holds:
//
//	VERDICT          one line: "ok", or the failure's kind and what happened
//	summary.txt      the verdict, what the run did, its options and the
//	                 command that repeats it
//	schedule.log     the journal: every process start and exit, every
//	                 SIGKILL, the broker restart, the load's milestones
//	api.log, worker-N.log, broker-restart.log   the processes' own output
//	differ.tsv       every hashtag served away from the truth: truth,
//	                 served, table, difference
//	lists.tsv        every list served away from the truth: hashtag,
//	                 list, lengths, the first entry that differs (entries
//	                 are user/post:likes:caption-hash)
//	bound.txt        how long deleted posts stayed listed, and every one
//	                 listed longer than the bound
//	groups.txt       each group's state, members, and per partition its
//	                 committed offset, end offset and lag, at the end
//	transactions.txt every transactional id's state and the producers
//	                 with an open transaction on tagstream's topics
//	partials.txt     the last trending partial of each partition as the
//	                 topic holds it, and when it was read
//	forensics.txt    for drift: per differing hashtag, the truth per posts
//	                 partition against the sum of the deltas the extractor
//	                 committed from it, and the history of its count in
//	                 the counts table (value and watermarks per record)
//
// The end state is read while the processes still run, before they stop.
type report struct {
	o     Options
	j     *journal
	truth *truth
	// served is what the API served for each hashtag of the truth.
	served map[string]int64
	// counts is the history of the differing hashtags in the counts
	// table, read once by staleView or the forensics.
	counts map[string][]countRecord
	state  map[string]string // file name -> contents, collected at the end
	// lists are the lists served away from the truth.
	lists []listDiff
}

// checkLists compares every list with the truth of the posts and likes
// logs, once the counts are right, and says how long deleted posts
// stayed listed during the run.
func (r *report) checkLists(ctx context.Context, o Options, res *Result, base string, watch *boundWatch) error {
	truth, err := listsGroundTruth(ctx, o.Cluster, o.Namespace)
	if err != nil {
		return fail(KindService, err, "reading the posts and likes logs for the lists' truth")
	}
	cctx, cancel := context.WithTimeout(ctx, o.Settle)
	diffs, checked, err := checkLists(cctx, base, truth, r.j.say)
	cancel()
	r.lists = diffs
	res.Lists, res.ListsDiffer = checked, len(diffs)
	for _, d := range diffs[:min(len(diffs), 10)] {
		res.ListExamples = append(res.ListExamples, d.String())
	}
	res.Bound, res.Late = watch.summary()
	r.j.say("lists: %d pages checked, %d lists differ; %s", checked, len(diffs), res.Bound)
	switch {
	case len(diffs) > 0:
		return fail(KindLists, nil, "%d lists differ from the truth after %s of settling (%s)", len(diffs), o.Settle, strings.Join(res.ListExamples, "; "))
	case err != nil:
		return fail(KindNotRecovered, err, "reading the lists from the API")
	case len(res.Late) > 0:
		return fail(KindBound, nil, "%d deleted posts stayed listed longer than %s: %s", len(res.Late), o.Bound, strings.Join(res.Late[:min(len(res.Late), 5)], "; "))
	}
	return nil
}

type countRecord struct {
	partition int32
	offset    int64
	at        time.Time
	count     events.Count
	deleted   bool
}

// collect reads the end state of the cluster into r.state. Each part has a
// deadline of its own: a broker that is down must not hang the report.
func (r *report) collect(ctx context.Context, res *Result) {
	r.state = map[string]string{}
	part := func(name string, fn func(ctx context.Context) (string, error)) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s, err := fn(pctx)
		if err != nil {
			s += fmt.Sprintf("\n(incomplete: %v)\n", err)
		}
		r.state[name] = s
	}
	part("groups.txt", r.groups)
	part("transactions.txt", r.transactions)
	part("partials.txt", r.partials)
	if res.Differ > 0 {
		part("forensics.txt", r.forensics)
	}
}

// write leaves the run's folder complete and names it last.
func (r *report) write(res *Result, runErr error) {
	files := map[string]string{}
	for k, v := range r.state {
		files[k] = v
	}
	files["VERDICT"] = res.Verdict + "\n"
	opts, _ := json.MarshalIndent(struct {
		Seed       int64
		Posts      int
		Rate       int
		Workers    int
		Partitions int
		Tags       int
		Mix        Mix
		Drain      string
		Settle     string
	}{r.o.Seed, r.o.Posts, r.o.Rate, r.o.Workers, r.o.Cluster.Partitions, r.o.Tags, r.o.Mix, r.o.Drain.String(), r.o.Settle.String()}, "", "  ")
	files["summary.txt"] = fmt.Sprintf("%s\n\n%s\n\nerror: %v\n\noptions:\n%s\n\nrepeat with: make chaos CHAOS_SEED=%d CHAOS_POSTS=%d\n",
		res.Verdict, res, runErr, opts, r.o.Seed, r.o.Posts)
	if r.truth != nil && r.served != nil {
		var b strings.Builder
		b.WriteString("hashtag\ttruth\tserved\ttable\tdiff\n")
		for _, k := range sortedKeys(r.truth.total) {
			t, s := r.truth.total[k], r.served[k]
			if t == s {
				continue
			}
			table := "?"
			if h := r.counts[k]; len(h) > 0 {
				table = fmt.Sprint(h[len(h)-1].count.PostCount)
			}
			fmt.Fprintf(&b, "%s\t%d\t%d\t%s\t%+d\n", k, t, s, table, s-t)
		}
		files["differ.tsv"] = b.String()
	}
	if len(r.lists) > 0 {
		var b strings.Builder
		b.WriteString("hashtag\tlist\tserved\ttruth\tdifference\n")
		for _, d := range r.lists {
			fmt.Fprintf(&b, "%s\t%s\t%d\t%d\t%s\n", d.tag, d.list, len(d.got), len(d.want), d)
		}
		files["lists.tsv"] = b.String()
	}
	if res.Bound != "" {
		files["bound.txt"] = res.Bound + "\n" + strings.Join(res.Late, "\n") + "\n"
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(r.o.Dir, name), []byte(body), 0o644); err != nil {
			fmt.Fprintf(r.o.Out, "chaos: writing %s: %v\n", name, err)
		}
	}
}

func (r *report) admin(ctx context.Context) (*kadm.Client, func(), error) {
	cl, err := r.o.Cluster.Client("chaos-report")
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// groups describes every tagstream group and its lag per partition.
// partials lists the last trending partials of each partition as the
// topic holds them (the ranking's output, before any view), with the
// time they were read: stale ones point at the ranking, fresh ones
// that the API does not serve at its view.
func (r *report) partials(ctx context.Context) (string, error) {
	topic := r.o.Namespace.Gen(0).TrendingPartials()
	cl, err := r.o.Cluster.Client("chaos-partials", kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	last := map[string]*kgo.Record{}
	var n int64
	for {
		// A poll that brings nothing for 2 s: the end.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		f := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		got := 0
		f.EachRecord(func(rec *kgo.Record) { last[string(rec.Key)] = rec; n++; got++ })
		if got == 0 {
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "read at %s, %d records\nkey\ttimestamp\tcomputed_at\texpires_at\thashtags\n", time.Now().UTC().Format(time.RFC3339Nano), n)
	keys := slices.Sorted(maps.Keys(last))
	for _, k := range keys {
		var p events.TrendingPartial
		_ = json.Unmarshal(last[k].Value, &p)
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%d\n", k, last[k].Timestamp.UTC().Format(time.RFC3339Nano), p.ComputedAt.Format(time.RFC3339Nano), p.ExpiresAt.Format(time.RFC3339Nano), len(p.Hashtags))
	}
	return b.String(), nil
}

func (r *report) groups(ctx context.Context) (string, error) {
	adm, done, err := r.admin(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	groups := r.o.Namespace.Gen(0).Groups()
	var b strings.Builder
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		return b.String(), err
	}
	lags, lagErr := adm.Lag(ctx, groups...)
	for _, g := range groups {
		d, ok := described[g]
		if !ok {
			fmt.Fprintf(&b, "group %s: not described\n\n", g)
			continue
		}
		fmt.Fprintf(&b, "group %s: state %s, protocol %s, %d members (err %v)\n", g, d.State, d.Protocol, len(d.Members), d.Err)
		for _, m := range d.Members {
			inst := ""
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			var assigned []string
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					assigned = append(assigned, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
				}
			}
			fmt.Fprintf(&b, "  member %s instance %q client %s host %s: %s\n", m.MemberID, inst, m.ClientID, m.ClientHost, strings.Join(assigned, " "))
		}
		if l, ok := lags[g]; ok {
			for _, pl := range l.Lag.Sorted() {
				fmt.Fprintf(&b, "  %s/%d committed %d end %d lag %d%s\n", pl.Topic, pl.Partition, pl.Commit.At, pl.End.Offset, pl.Lag, errSuffix(pl.Err))
			}
		}
		b.WriteString("\n")
	}
	return b.String(), lagErr
}

// transactions lists every transactional id the broker knows with its
// state, and the producers with an open transaction on tagstream's topics.
func (r *report) transactions(ctx context.Context) (string, error) {
	adm, done, err := r.admin(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	var b strings.Builder
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		return "", fmt.Errorf("list transactions: %w", err)
	}
	var ids []string
	for _, t := range listed.Sorted() {
		ids = append(ids, t.TxnID)
	}
	if len(ids) > 0 {
		described, err := adm.DescribeTransactions(ctx, ids...)
		if err != nil {
			fmt.Fprintf(&b, "describe transactions: %v\n", err)
		}
		for _, t := range described.Sorted() {
			started := "-"
			if t.StartTimestamp > 0 {
				started = time.UnixMilli(t.StartTimestamp).UTC().Format("15:04:05.000")
			}
			fmt.Fprintf(&b, "%s: %s, producer %d epoch %d, started %s, timeout %dms, partitions %v%s\n",
				t.TxnID, t.State, t.ProducerID, t.ProducerEpoch, started, t.TimeoutMillis, t.Topics, errSuffix(t.Err))
		}
	}
	b.WriteString("\nopen transactions on tagstream's topics (DescribeProducers, current transaction start >= 0):\n")
	topics := r.o.Namespace.Gen(0).TopicNames()
	meta, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return b.String(), fmt.Errorf("list topics: %w", err)
	}
	producers, err := adm.DescribeProducers(ctx, meta.TopicsSet())
	if err != nil {
		return b.String(), fmt.Errorf("describe producers: %w", err)
	}
	open := 0
	producers.EachProducer(func(p kadm.DescribedProducer) {
		if p.CurrentTxnStartOffset >= 0 {
			open++
			fmt.Fprintf(&b, "  %s/%d producer %d epoch %d: open since offset %d, last write %s\n", p.Topic, p.Partition, p.ProducerID, p.ProducerEpoch,
				p.CurrentTxnStartOffset, time.UnixMilli(p.LastTimestamp).UTC().Format("15:04:05.000"))
		}
	})
	fmt.Fprintf(&b, "  %d open\n", open)
	return b.String(), nil
}

// differing returns the hashtags served away from the truth.
func (r *report) differing() map[string]bool {
	out := map[string]bool{}
	if r.truth == nil || r.served == nil {
		return out
	}
	for k, t := range r.truth.total {
		if r.served[k] != t {
			out[k] = true
		}
	}
	return out
}

// staleView reports whether the counts table holds the truth for every
// differing hashtag, so that only the API's view is behind.
func (r *report) staleView(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := r.readCounts(ctx); err != nil {
		return false, err
	}
	for k := range r.differing() {
		h := r.counts[k]
		var table int64
		if len(h) > 0 && !h[len(h)-1].deleted {
			table = h[len(h)-1].count.PostCount
		}
		if table != r.truth.total[k] {
			return false, nil
		}
	}
	return true, nil
}

func (r *report) readCounts(ctx context.Context) error {
	if r.counts != nil {
		return nil
	}
	want := r.differing()
	counts := map[string][]countRecord{}
	err := readAll(ctx, r.o.Cluster, r.o.Namespace.Gen(0).CountsTable(), false, func(rec *kgo.Record) {
		k := string(rec.Key)
		if !want[k] {
			return
		}
		cr := countRecord{partition: rec.Partition, offset: rec.Offset, at: rec.Timestamp, deleted: rec.Value == nil}
		if rec.Value != nil {
			_ = json.Unmarshal(rec.Value, &cr.count)
		}
		counts[k] = append(counts[k], cr)
	})
	if err != nil {
		return err
	}
	r.counts = counts
	return nil
}

// forensics puts, for each differing hashtag, the truth per posts
// partition beside the committed deltas per source partition and the
// count's history: the first column that disagrees names the stage that
// lost or doubled a change (the extractor if the deltas do not sum to the
// truth, the counter if they do and the count does not).
func (r *report) forensics(ctx context.Context) (string, error) {
	want := r.differing()
	type sum struct {
		n, records int64
		last       int64
		offsets    []string
	}
	deltas := map[string]map[int32]*sum{}
	err := readAll(ctx, r.o.Cluster, r.o.Namespace.Gen(0).PostHashtags(), true, func(rec *kgo.Record) {
		k := string(rec.Key)
		if !want[k] {
			return
		}
		d, err := events.DecodeDelta(k, rec.Value)
		if err != nil {
			return
		}
		if deltas[k] == nil {
			deltas[k] = map[int32]*sum{}
		}
		s := deltas[k][d.Source.Partition]
		if s == nil {
			s = &sum{}
			deltas[k][d.Source.Partition] = s
		}
		s.n += d.Delta
		s.records++
		s.last = d.Source.Offset
		s.offsets = append(s.offsets, fmt.Sprintf("%d@%d:%+d", d.Source.Offset, rec.Offset, d.Delta))
	})
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "reading %s: %v\n", r.o.Namespace.Gen(0).PostHashtags(), err)
	}
	if err := r.readCounts(ctx); err != nil {
		fmt.Fprintf(&b, "reading %s: %v\n", r.o.Namespace.Gen(0).CountsTable(), err)
	}
	keys := sortedKeys(want)
	if len(keys) > 50 {
		fmt.Fprintf(&b, "%d hashtags differ; the first 50:\n", len(keys))
		keys = keys[:50]
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "#%s truth %d served %d\n", k, r.truth.total[k], r.served[k])
		parts := map[int32]bool{}
		for p := range r.truth.parts[k] {
			parts[p] = true
		}
		for p := range deltas[k] {
			parts[p] = true
		}
		var last events.Count
		if h := r.counts[k]; len(h) > 0 {
			last = h[len(h)-1].count
		}
		var extractorOff []string
		for _, p := range sortedKeys(parts) {
			if s := deltas[k][p]; s == nil || s.n != r.truth.parts[k][p] {
				extractorOff = append(extractorOff, fmt.Sprintf("posts/%d", p))
			}
		}
		switch {
		case len(extractorOff) > 0:
			fmt.Fprintf(&b, "  stage: extractor (its committed deltas differ from the truth on %s)\n", strings.Join(extractorOff, ", "))
		case last.PostCount != r.truth.total[k]:
			fmt.Fprintf(&b, "  stage: counter (the deltas sum to the truth, the table's count is %d)\n", last.PostCount)
		default:
			fmt.Fprintf(&b, "  stage: view (the table holds the truth, the API served %d)\n", r.served[k])
		}
		for _, p := range sortedKeys(parts) {
			s := deltas[k][p]
			if s == nil {
				s = &sum{}
			}
			mark := ""
			if s.n != r.truth.parts[k][p] {
				mark = "  <- deltas differ from the truth"
			}
			fmt.Fprintf(&b, "  posts/%d: truth %d, committed deltas sum %d in %d records (last src offset %d), count's watermark %d%s\n",
				p, r.truth.parts[k][p], s.n, s.records, s.last, last.Watermarks[p], mark)
			fmt.Fprintf(&b, "    deltas (src offset@post-hashtags offset:delta): %s\n", strings.Join(s.offsets, " "))
		}
		for _, c := range r.counts[k] {
			fmt.Fprintf(&b, "  table %d@%d %s: count %d w %v deleted %v\n", c.partition, c.offset, c.at.UTC().Format("15:04:05.000"),
				c.count.PostCount, c.count.Watermarks, c.deleted)
		}
	}
	return b.String(), err
}

// readAll reads every partition of topic from its start to its current end
// and calls fn for each data record; committed reads read_committed
// (kafka.Cluster.ReadSpans).
func readAll(ctx context.Context, c kafka.Cluster, topic string, committed bool, fn func(*kgo.Record)) error {
	spans, err := c.Whole(ctx, topic)
	if err != nil {
		return err
	}
	return c.ReadSpans(ctx, spans, committed, fn)
}

func sortedKeys[K string | int32, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
