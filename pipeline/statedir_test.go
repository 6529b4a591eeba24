package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// loads records the "loaded from its journal" lines of a run.
type loads struct {
	slog.Handler
	mu    *sync.Mutex
	keyed *int // journals loaded with at least one key
}

func (l loads) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "table partition loaded from its journal" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "keys" && a.Value.Int64() > 0 {
				l.mu.Lock()
				*l.keyed++
				l.mu.Unlock()
			}
			return true
		})
	}
	if !l.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return l.Handler.Handle(ctx, r)
}

// Enabled is true at every level: the journal lines are at Info.
func (loads) Enabled(context.Context, slog.Level) bool { return true }

// With --state-dir, a restart loads the tables from their journals and
// reads only the changelogs' tails: the counts stay exact even when a
// journal lost its end (a kill in the middle of a write), and new posts
// count on from there.
func TestRestartWithStateDirLoadsTheJournals(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	start := func() node {
		return startEmbeddedWith(t, EmbeddedOptions{Data: dir, Cluster: kafka.Cluster{Partitions: 2, StateDir: state}, Rank: &testRank})
	}
	n := start()
	produceN(t, n.cluster, n.ns, 0, 50, "journaled", "Other")
	awaitCount(t, n.http, "journaled", 50)
	n.stop()

	counts := filepath.Join(state, "processors", topology.Gen{}.CountsTable())
	journals, _ := filepath.Glob(filepath.Join(counts, "*.journal"))
	posts, _ := filepath.Glob(filepath.Join(state, "extractor", topology.Gen{}.ExtractorTable(), "*.journal"))
	if len(journals) != 2 || len(posts) != 2 {
		t.Fatalf("journals of the counts %v and of the post states %v, want 2 each", journals, posts)
	}
	torn := 0
	for _, j := range append(journals, posts...) {
		fi, err := os.Stat(j)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			continue // a partition none of the test's hashtags or users is in
		}
		// Tear the journal's end off: the changelog must complete it.
		if err := os.Truncate(j, fi.Size()-1); err != nil {
			t.Fatal(err)
		}
		torn++
	}
	if torn < 2 {
		t.Fatalf("%d journals hold records, want the counts' and the post states' at least", torn)
	}

	var mu sync.Mutex
	keyed := 0
	prev := slog.Default()
	// Not prev.Handler(): slog's default handler writes through the log
	// package, which SetDefault routes back here, and deadlocks.
	slog.SetDefault(slog.New(loads{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}), &mu, &keyed}))
	defer slog.SetDefault(prev)
	n = start()
	if got := countOf(t, n.http, "journaled"); got != 50 {
		t.Fatalf("after a restart on torn journals the count is %d, want 50", got)
	}
	mu.Lock()
	k := keyed
	mu.Unlock()
	if k == 0 {
		t.Fatal("the restart loaded no table from a journal")
	}
	produceN(t, n.cluster, n.ns, 50, 80, "journaled")
	awaitCount(t, n.http, "journaled", 80)
	awaitCount(t, n.http, "other", 50)
}
