package pipeline

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/metrics"
)

// consumerLag is each group's lag, per topic and partition, as the broker
// has it: end offset minus committed offset. On a transactional topic a
// caught-up group may show 1 (the commit marker takes an offset that is
// never delivered; kafka.Cluster.Lag tells markers from records, at the
// cost of reading them).
var consumerLag = metrics.Default.NewGaugeVec("tagstream_consumer_lag_records",
	"Records a consumer group has not committed yet, by group, topic and partition (end offset minus committed offset).",
	"group", "topic", "partition")

// lagInterval is how often a process reads its groups' lag for /metrics:
// about Prometheus's scrape interval. Tests shorten it before they start
// a process.
var lagInterval = 15 * time.Second

// watchLag keeps consumerLag of groups up to date every lagInterval until
// ctx is done. A failing read is logged once until one succeeds again: the
// processors go on whatever it says.
func watchLag(ctx context.Context, c kafka.Cluster, role string, groups []string) {
	cl, err := c.Client(role)
	if err != nil {
		slog.Warn("consumer lag: no client; tagstream_consumer_lag_records stays empty", "err", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	failing := false
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		lags, err := adm.Lag(rctx, groups...)
		cancel()
		if err == nil {
			for _, g := range groups {
				if l, ok := lags[g]; ok && l.Error() == nil {
					for _, pl := range l.Lag.Sorted() {
						consumerLag.WithLabelValues(g, pl.Topic, strconv.Itoa(int(pl.Partition))).Set(float64(max(pl.Lag, 0)))
					}
				}
			}
		}
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			slog.Warn("consumer lag: cannot read it", "groups", groups, "err", err)
			failing = true
		case err == nil && failing:
			slog.Info("consumer lag: read again", "groups", groups)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// withLag runs run while watching the lag of groups, and stops and waits
// for the watcher before it returns.
func withLag(ctx context.Context, c kafka.Cluster, role string, groups []string, run func(context.Context) error) error {
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchLag(lctx, c, role, groups)
	}()
	err := run(ctx)
	stop()
	<-done
	return err
}
