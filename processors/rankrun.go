package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/metrics"
)

// Published counts what the ranking published, by kind: top_posts
// documents and trending partials.
var Published = metrics.Default.NewCounterVec("tagstream_rank_published_total",
	"Documents the ranking published: kind top_posts (one per hashtag whose top changed), top_posts_again (the last minute's, sent again as they were after a start or a rebalance) or trending (one partial per partition and sweep).", "kind")

// RunRank runs the ranking and the trending windows of generation o.Gen
// until ctx is done or one fails: the groups Ranking and Trends, and a
// sweeper that publishes the tops that waited for their interval (every
// quarter interval) and the trending partials (every interval). More
// instances share the partitions through the groups.
func RunRank(ctx context.Context, c kafka.Cluster, o RankOptions) error {
	o = o.withDefaults()
	o.partitions = c.PartitionCount()
	bound, boundCl, err := newInputEnds(c, o.Gen.NS)
	if err != nil {
		return err
	}
	defer boundCl.Close()
	out, err := c.Client("rank-partials")
	if err != nil {
		return err
	}
	defer out.Close()
	dirty := &dirtyKeys{keys: map[string]struct{}{}}
	dirty.gained(time.Now())
	rank, err := goka.NewProcessor(c.Brokers, Ranking(o.Gen, bound, o, dirty),
		append(gokaopts.Processor(c, o.Gen.Rank(), o.InstanceID),
			// The dirty set is this process's: partitions it gains may
			// hold tops that wait, and documents their last owner lost,
			// so the next sweep visits all.
			goka.WithRebalanceCallback(func(goka.Assignment) { dirty.gained(time.Now()) }))...)
	if err != nil {
		return fmt.Errorf("processors: create %s: %w", o.Gen.Rank(), err)
	}
	var mu sync.Mutex
	var owned []int32
	trends, err := goka.NewProcessor(c.Brokers, Trends(o.Gen, bound),
		append(gokaopts.Processor(c, o.Gen.Trending(), o.InstanceID),
			goka.WithRebalanceCallback(func(a goka.Assignment) {
				mu.Lock()
				defer mu.Unlock()
				owned = owned[:0]
				for p := range a {
					owned = append(owned, p)
				}
				slices.Sort(owned)
			}))...)
	if err != nil {
		return fmt.Errorf("processors: create %s: %w", o.Gen.Trending(), err)
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range []*goka.Processor{rank, trends} {
		g.Go(func() error {
			if err := p.Run(ctx); err != nil {
				return fmt.Errorf("processors: %s: %w", p.Graph().Group(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		quarter := max(o.Interval/4, 100*time.Millisecond)
		tick := time.NewTicker(quarter)
		defer tick.Stop()
		lastTrend := time.Time{}
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			sw := dirty.take(time.Now())
			if sw.all && !rank.Recovered() {
				// goka visits the keys its storage holds when the visit
				// starts: a table still recovering would be visited in
				// part, and a dirty top it misses would wait for its
				// next change. Visit all once it is whole.
				dirty.failed(sw)
				sw = &publishSweep{}
			}
			if !sw.empty() {
				visited, err := rank.VisitAllWithStats(ctx, "publish", sw)
				slog.Debug("rank: publishing sweep", "dirty", len(sw.keys), "all", sw.all, "republish", sw.republish, "visited", visited, "took", time.Since(sw.now), "err", err)
				if err = sweepErr(err); err != nil && ctx.Err() == nil {
					slog.Warn("rank: publishing sweep", "err", err)
				}
				if err != nil {
					dirty.failed(sw) // what this sweep missed waits for the next
				}
			}
			if time.Since(lastTrend) < o.Interval {
				continue
			}
			lastTrend = time.Now()
			mu.Lock()
			parts := slices.Clone(owned)
			mu.Unlock()
			if err := publishTrending(ctx, trends, out, o, parts); err != nil && ctx.Err() == nil {
				slog.Warn("rank: trending sweep", "err", err)
			}
		}
	})
	return g.Wait()
}

// publishTrending visits every trend and publishes the best of each
// partition this process owns, an empty list included: a partition whose
// hashtags left the window must stop trending.
func publishTrending(ctx context.Context, trends *goka.Processor, out *kgo.Client, o RankOptions, parts []int32) error {
	sw := &trendSweep{now: time.Now(), best: map[int32][]events.Trending{}}
	visited, err := trends.VisitAllWithStats(ctx, "sweep", sw)
	slog.Info("rank: trending sweep", "partitions", parts, "visited", visited, "took", time.Since(sw.now).Round(time.Millisecond), "err", err)
	if err != nil {
		if sweepErr(err) == nil {
			return nil // a rebalance: the partitions' new owners publish
		}
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, p := range parts {
		best := sw.best[p]
		if best == nil {
			best = []events.Trending{}
		}
		v, _ := json.Marshal(events.TrendingPartial{Partition: p, Partitions: int32(o.partitions), ComputedAt: sw.now.UTC(),
			ExpiresAt: sw.now.Add(3 * o.Interval).UTC(), Hashtags: best})
		if err := out.ProduceSync(ctx, &kgo.Record{Topic: o.Gen.TrendingPartials(), Key: []byte(strconv.Itoa(int(p))), Value: v}).FirstErr(); err != nil {
			return fmt.Errorf("processors: publish trending partial %d: %w", p, err)
		}
		Published.Inc("trending")
	}
	return nil
}
