package processors

import (
	"context"
	"fmt"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/kafka"
)

// Graphs returns every group of the pipeline.
func Graphs() []*goka.GroupGraph {
	return []*goka.GroupGraph{Extractor(), Counter(), TopPosts()}
}

// Run runs every group against the cluster until ctx is done or one of them
// fails. More instances of Run on other machines share the partitions
// through the consumer groups.
func Run(ctx context.Context, c kafka.Cluster) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, gg := range Graphs() {
		p, err := goka.NewProcessor(c.Brokers, gg, c.ProcessorOptions(string(gg.Group()))...)
		if err != nil {
			return fmt.Errorf("processors: create %s: %w", gg.Group(), err)
		}
		g.Go(func() error {
			if err := p.Run(ctx); err != nil {
				return fmt.Errorf("processors: %s: %w", gg.Group(), err)
			}
			return nil
		})
	}
	return g.Wait()
}
