package processors

import (
	"context"
	"fmt"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/topology"
)

// Graphs returns the goka groups a worker runs for generation g, each
// checking the sources of its input against bound. The extractor is not among them: it is the one
// stage that needs Kafka transactions, which goka does not offer, so it
// runs on franz-go (topology.md).
func Graphs(g topology.Gen, bound SourceBound) []*goka.GroupGraph {
	return []*goka.GroupGraph{Counter(g, bound), TopPosts(g, bound), RecentPosts(g, bound)}
}

// Run runs the extractor and every goka group of generation o.Gen against
// the cluster until ctx is done or one of them fails. More instances of Run on other machines
// share the partitions through the consumer groups.
func Run(ctx context.Context, c kafka.Cluster, o Options) error {
	bound, cl, err := newInputEnds(c, o.Gen.NS)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Every processor is built before any goroutine starts, so a failure
	// here leaves nothing running.
	var procs []*goka.Processor
	for _, gg := range Graphs(o.Gen, bound) {
		p, err := goka.NewProcessor(c.Brokers, gg, gokaopts.Processor(c, string(gg.Group()), o.InstanceID)...)
		if err != nil {
			return fmt.Errorf("processors: create %s: %w", gg.Group(), err)
		}
		procs = append(procs, p)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runExtractor(ctx, c, o) })
	for _, p := range procs {
		g.Go(func() error {
			if err := p.Run(ctx); err != nil {
				return fmt.Errorf("processors: %s: %w", p.Graph().Group(), err)
			}
			return nil
		})
	}
	return g.Wait()
}
