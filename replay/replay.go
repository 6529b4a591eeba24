// Package replay rebuilds tagstream's state from the posts log into a new
// generation of topics, groups and tables (topology.Gen) while the
// current generation keeps serving, and switches every process to it once
// it has caught up.
//
// posts and likes are kept forever and are the only source of truth, so
// any state can be rebuilt: after a bug fix in the extractor, a change of the hashtag
// rules, or to count only from a point in time. The new generation's
// extractor starts at the chosen offsets of posts; its top-posts group
// re-reads hashtag-top-posts from the start. Workers, API processes and
// snapshotters follow topology.CurrentGen and move over by
// themselves; the old generation's topics stay until an operator deletes
// them.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/topology"
)

// From is where in posts the new generation starts: Earliest, a time (the
// first record at or after it in each partition), or offsets per
// partition. The zero value is Earliest.
type From struct {
	Time    time.Time
	Offsets map[int32]int64
}

// ParseFrom parses the --from flag: "earliest", an RFC 3339 time, or
// "<partition>=<offset>,...". Partitions not listed start at the earliest
// offset.
func ParseFrom(s string) (From, error) {
	switch {
	case s == "" || s == "earliest":
		return From{}, nil
	case strings.Contains(s, "="):
		offs := map[int32]int64{}
		for _, part := range strings.Split(s, ",") {
			p, o, ok := strings.Cut(strings.TrimSpace(part), "=")
			pn, err1 := strconv.ParseInt(p, 10, 32)
			on, err2 := strconv.ParseInt(o, 10, 64)
			if !ok || err1 != nil || err2 != nil || pn < 0 || on < 0 {
				return From{}, fmt.Errorf("replay: --from %q: %q is not <partition>=<offset>", s, part)
			}
			offs[int32(pn)] = on
		}
		return From{Offsets: offs}, nil
	default:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return From{}, fmt.Errorf("replay: --from %q is not earliest, an RFC 3339 time or a list <partition>=<offset>,…", s)
		}
		return From{Time: t}, nil
	}
}

// Options configures a replay.
type Options struct {
	Cluster kafka.Cluster
	// Namespace is the deployment replayed (default none).
	Namespace topology.Namespace
	From      From
	// Progress receives a progress line every few seconds.
	Progress io.Writer
	// Every is the progress interval (default 2s).
	Every time.Duration
	// CaughtUp is how far behind the serving generation the new one may be
	// (in unprocessed input records) when it takes over. Default 100.
	CaughtUp int64
	// Handover bounds the wait, after the switch, for the workers to take
	// the new generation over from this process. Default 60s.
	Handover time.Duration
	// Rank, if set, also runs the new generation's ranking and trending
	// windows here (`tagstream rank` and `tagstream run` follow the
	// pointer once it moves). Nil: the deployment ranks with an outside
	// job, and the replay leaves hashtag-top-posts alone.
	Rank *processors.RankOptions
}

// Result says what a replay did.
type Result struct {
	From, To topology.Gen
	// Start is the posts offset the new generation started at, per
	// partition, LikesStart the likes offset; Records the input records
	// it had to process at the start.
	Start, LikesStart map[int32]int64
	Records           int64
	Took              time.Duration
}

// Run builds the next generation from o.From, runs its processors here
// until it has caught up with the serving generation, moves every process
// to it and returns once the workers have taken it over.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	if o.CaughtUp <= 0 {
		o.CaughtUp = 100
	}
	if o.Handover <= 0 {
		o.Handover = 60 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	c := o.Cluster
	started := time.Now()
	cur, err := topology.CurrentGen(ctx, c, o.Namespace)
	if err != nil {
		return nil, err
	}
	next := cur.Next()
	res := &Result{From: cur, To: next}
	// A replay that failed half way leaves a partial generation: start it
	// over rather than continue from unknown state.
	if err := c.Delete(ctx, next.Derived(), next.Groups()); err != nil {
		return nil, fmt.Errorf("replay: clear generation %v: %w", next, err)
	}
	if err := c.EnsureTopics(ctx, next.Topics()); err != nil {
		return nil, fmt.Errorf("replay: topics of generation %v: %w", next, err)
	}
	if res.Start, err = startOffsets(ctx, c, o.Namespace.Posts(), o.From); err != nil {
		return nil, err
	}
	// Likes start at the same time as posts; from given posts offsets,
	// at their start: a like of a post before the replay's first counts
	// nothing, as a like of an unknown post does.
	likesFrom := From{Time: o.From.Time}
	if res.LikesStart, err = startOffsets(ctx, c, o.Namespace.Likes(), likesFrom); err != nil {
		return nil, err
	}
	if err := commitStart(ctx, c, next, res.Start, res.LikesStart); err != nil {
		return nil, err
	}
	for topic, start := range map[string]map[int32]int64{o.Namespace.Posts(): res.Start, o.Namespace.Likes(): res.LikesStart} {
		ends, err := c.Ends(ctx, topic)
		if err != nil {
			return nil, err
		}
		for p, end := range ends {
			res.Records += max(0, end-start[p])
		}
	}
	fmt.Fprintf(o.Progress, "replay: building generation %v from %d posts and likes records (serving generation %v)\n", next, res.Records, cur)

	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	// Its own client id tells its group members from the workers'; no
	// instance id, so that it leaves the groups as it exits and the
	// workers take its partitions at once.
	rc := c
	rc.ClientID = replayClientID
	go func() {
		if o.Rank == nil {
			done <- processors.Run(pctx, rc, processors.Options{Gen: next})
			return
		}
		ro := *o.Rank
		ro.Gen, ro.InstanceID = next, ""
		g, gctx := errgroup.WithContext(pctx)
		g.Go(func() error { return processors.Run(gctx, rc, processors.Options{Gen: next}) })
		g.Go(func() error { return processors.RunRank(gctx, rc, ro) })
		done <- g.Wait()
	}()
	defer func() { stop(); <-done }()
	if err := awaitCaughtUp(ctx, o, cur, next, res, done); err != nil {
		return res, err
	}
	if err := topology.SetGen(ctx, c, next); err != nil {
		return res, err
	}
	fmt.Fprintf(o.Progress, "replay: generation %v caught up; every process now moves to it\n", next)
	if err := awaitHandover(ctx, o, next, done); err != nil {
		return res, err
	}
	res.Took = time.Since(started)
	fmt.Fprintf(o.Progress, "replay: done in %s; generation %v's topics (%s) can be deleted once nothing reads them\n",
		res.Took.Round(time.Second), cur, strings.Join(cur.Derived(), ", "))
	return res, nil
}

const replayClientID = "tagstream-replay"

// startOffsets resolves from to a posts offset per partition.
func startOffsets(ctx context.Context, c kafka.Cluster, topic string, from From) (map[int32]int64, error) {
	out, err := c.Starts(ctx, topic)
	if err != nil {
		return nil, err
	}
	switch {
	case !from.Time.IsZero():
		// The first record at or after the time, or the end where none is.
		return afterTime(ctx, c, topic, from.Time)
	case from.Offsets != nil:
		for p, off := range from.Offsets {
			first, ok := out[p]
			if !ok {
				return nil, fmt.Errorf("replay: posts has no partition %d", p)
			}
			if off < first {
				return nil, fmt.Errorf("replay: posts partition %d starts at offset %d, not %d", p, first, off)
			}
			out[p] = off
		}
	}
	return out, nil
}

// afterTime returns, per partition of topic, the offset of the first
// record at or after t, or the end where there is none.
func afterTime(ctx context.Context, c kafka.Cluster, topic string, t time.Time) (map[int32]int64, error) {
	cl, err := c.Client("replay")
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("replay: offsets of %s at %s: %w", topic, t.Format(time.RFC3339), err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// commitStart sets the new extractor group's offsets in posts and likes,
// so that it starts where the replay starts rather than at its reset
// default.
func commitStart(ctx context.Context, c kafka.Cluster, g topology.Gen, posts, likes map[int32]int64) error {
	cl, err := c.Client("replay")
	if err != nil {
		return err
	}
	defer cl.Close()
	var offs kadm.Offsets
	for p, o := range posts {
		offs.AddOffset(g.NS.Posts(), p, o, -1)
	}
	for p, o := range likes {
		offs.AddOffset(g.NS.Likes(), p, o, -1)
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, string(g.Extractor()), offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("replay: commit start offsets for %s: %w", g.Extractor(), err)
	}
	return nil
}

// awaitCaughtUp prints progress until the new generation is at most
// o.CaughtUp input records further behind than the serving one.
func awaitCaughtUp(ctx context.Context, o Options, cur, next topology.Gen, res *Result, done <-chan error) error {
	t := time.NewTicker(o.Every)
	defer t.Stop()
	start, lastLag, lastAt := time.Now(), res.Records, time.Now()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("replay: %w", ctx.Err())
		case err := <-done:
			return fmt.Errorf("replay: the processors of generation %v stopped: %v", next, err)
		case <-t.C:
		}
		lag, err := o.Cluster.Lag(ctx, next.Groups()[:2]...)
		if err != nil {
			continue // the new groups commit their first offsets
		}
		serving, err := o.Cluster.Lag(ctx, cur.Groups()[:2]...)
		if err != nil {
			serving = 0
		}
		rate := float64(lastLag-lag) / time.Since(lastAt).Seconds()
		lastLag, lastAt = lag, time.Now()
		eta := "unknown"
		if rate > 0 {
			eta = time.Duration(float64(lag) / rate * float64(time.Second)).Round(time.Second).String()
		}
		processed := max(res.Records-lag, 0)
		fmt.Fprintf(o.Progress, "replay: generation %v: %d/%d records (%.0f%%), %.0f records/s, %d behind, ETA %s (elapsed %s)\n",
			next, processed, res.Records, 100*float64(processed)/float64(max(res.Records, 1)), max(rate, 0), lag, eta,
			time.Since(start).Round(time.Second))
		if lag <= serving+o.CaughtUp {
			return nil
		}
	}
}

// awaitHandover keeps this process's processors running until a worker
// has joined the new generation's groups, so the new generation is never
// left without a processor; with no workers at all it gives up after
// o.Handover and says so.
func awaitHandover(ctx context.Context, o Options, next topology.Gen, done <-chan error) error {
	cl, err := o.Cluster.Client("replay")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(o.Handover)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("replay: %w", ctx.Err())
		case err := <-done:
			return fmt.Errorf("replay: the processors of generation %v stopped: %v", next, err)
		case <-time.After(time.Second):
		}
		groups, err := adm.DescribeGroups(ctx, string(next.Counts()))
		if err != nil {
			continue
		}
		for _, g := range groups {
			if slices.ContainsFunc(g.Members, func(m kadm.DescribedGroupMember) bool {
				return !strings.HasPrefix(m.ClientID, replayClientID)
			}) {
				return nil
			}
		}
	}
	return errors.New("replay: no worker took generation " + strconv.Itoa(next.N) +
		" over; the pointer has moved, so start workers (they follow it) and the state is there")
}
