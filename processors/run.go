package processors

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/topology"
)

// WorkerGroups are the base names of the groups a worker runs
// (topology.md, Groups), the values of Options.Groups.
var WorkerGroups = []string{"extractor", "hashtag-counts", "hashtag-top", "hashtag-recent"}

// Graphs returns the goka groups a worker runs for generation g, each
// checking the sources of its input against bound, or of them those
// named in groups (base names, WorkerGroups; none: all). The extractor is not among them: it is the one
// stage that needs Kafka transactions, which goka does not offer, so it
// runs on franz-go (topology.md).
func Graphs(g topology.Gen, bound SourceBound, groups ...string) []*goka.GroupGraph {
	all := []struct {
		name  string
		graph func(topology.Gen, SourceBound) *goka.GroupGraph
	}{{"hashtag-counts", Counter}, {"hashtag-top", TopPosts}, {"hashtag-recent", RecentPosts}}
	var gs []*goka.GroupGraph
	for _, x := range all {
		if len(groups) == 0 || slices.Contains(groups, x.name) {
			gs = append(gs, x.graph(g, bound))
		}
	}
	return gs
}

// Run runs the extractor and every goka group of generation o.Gen against
// the cluster until ctx is done or one of them fails. More instances of Run on other machines
// share the partitions through the consumer groups.
func Run(ctx context.Context, c kafka.Cluster, o Options) error {
	for _, name := range o.Groups {
		if !slices.Contains(WorkerGroups, name) {
			return fmt.Errorf("processors: no worker group %q (%s)", name, strings.Join(WorkerGroups, ", "))
		}
	}
	bound, cl, err := newInputEnds(c, o.Gen.NS)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Every processor is built before any goroutine starts, so a failure
	// here leaves nothing running.
	var procs []*goka.Processor
	for _, gg := range Graphs(o.Gen, bound, o.Groups...) {
		p, err := goka.NewProcessor(c.Brokers, gg, gokaopts.Processor(c, string(gg.Group()), o.InstanceID)...)
		if err != nil {
			return fmt.Errorf("processors: create %s: %w", gg.Group(), err)
		}
		procs = append(procs, p)
	}
	g, ctx := errgroup.WithContext(ctx)
	if len(o.Groups) == 0 || slices.Contains(o.Groups, "extractor") {
		g.Go(func() error { return runExtractor(ctx, c, o) })
	}
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
