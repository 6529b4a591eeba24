package edge

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// recorder is a Purger that keeps what it is asked, and fails while fail
// is set: what the queue's invariants are about is what reaches a purger.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
	fail  bool
	got   chan []string
}

func newRecorder() *recorder { return &recorder{got: make(chan []string, 100)} }

func (r *recorder) Purge(_ context.Context, keys []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("edge down")
	}
	r.calls = append(r.calls, keys)
	r.got <- keys
	return nil
}

func (r *recorder) setFail(f bool) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func run(t *testing.T, q *Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func next(t *testing.T, r *recorder, within time.Duration) []string {
	t.Helper()
	select {
	case k := <-r.got:
		return k
	case <-time.After(within):
		t.Fatalf("no purge within %s", within)
		return nil
	}
}

// A storm of changes to one hashtag within an interval is one purge of
// its key, and keys added over an interval go out together, sorted.
func TestQueueCoalesces(t *testing.T) {
	r := newRecorder()
	q := NewQueue(r, QueueConfig{Interval: 200 * time.Millisecond})
	for range 10_000 {
		q.Add(HashtagKey("hot"))
	}
	q.Add(HashtagKey("cold"), TrendingKey)
	start := time.Now()
	run(t, q)
	got := next(t, r, 2*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("first purge after %s, interval 200ms", took)
	}
	want := []string{"tag:cold", "tag:hot", "trending"}
	if !slices.Equal(got, want) {
		t.Fatalf("purged %q, want %q", got, want)
	}
	// Once more, for a fetch the edge had in flight, and then no more.
	if echo := next(t, r, time.Second); !slices.Equal(echo, want) {
		t.Fatalf("the echo purged %q, want %q", echo, want)
	}
	select {
	case k := <-r.got:
		t.Fatalf("a third purge with nothing added: %q", k)
	case <-time.After(500 * time.Millisecond):
	}
}

// A failed purge loses no key: it is tried again at the next interval.
func TestQueueRetriesFailedPurges(t *testing.T) {
	r := newRecorder()
	r.setFail(true)
	q := NewQueue(r, QueueConfig{Interval: 50 * time.Millisecond})
	q.Add("tag:a")
	start := purges.Value("error")
	run(t, q)
	testenv.Await(t, 2*time.Second, "a failed purge", func() bool { return purges.Value("error") > start })
	q.Add("tag:b")
	r.setFail(false)
	if got := next(t, r, 2*time.Second); !slices.Equal(got, []string{"tag:a", "tag:b"}) {
		t.Fatalf("after the edge came back: %q, want both keys", got)
	}
}

// Past MaxPending distinct keys the queue holds none and purges every page
// instead: bounded memory, nothing left stale.
func TestQueueOverflowPurgesEveryPage(t *testing.T) {
	r := newRecorder()
	q := NewQueue(r, QueueConfig{Interval: 100 * time.Millisecond, MaxPending: 100})
	for i := range 1000 {
		q.Add(HashtagKey(string(rune('a'+i%26)) + string(rune('a'+i/26))))
	}
	if n := len(q.pending); n != 0 || !q.overflow {
		t.Fatalf("after 1,000 keys past a bound of 100: %d held, overflow %v", n, q.overflow)
	}
	run(t, q)
	if got := next(t, r, 2*time.Second); !slices.Equal(got, []string{PagesKey, TrendingKey}) {
		t.Fatalf("overflow purged %q, want every page and trending", got)
	}
	q.Add("tag:x")
	if got := next(t, r, 2*time.Second); !slices.Equal(got, []string{PagesKey, "tag:x", TrendingKey}) {
		t.Fatalf("after an overflow: %q, want the new key and the overflow's echo", got)
	}
}

// Stopping flushes what is queued: an API shutting down still tells the
// edge what its views applied.
func TestQueueFlushesOnStop(t *testing.T) {
	r := newRecorder()
	q := NewQueue(r, QueueConfig{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	q.Add("tag:last")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := next(t, r, time.Second); !slices.Equal(got, []string{"tag:last"}) {
		t.Fatalf("on stop: %q", got)
	}
}

// An edge that stays down is logged when it starts failing and when it
// recovers, not at every interval: a minute's worth of failures is one
// warning.
func TestQueueLogsAnOutageOnce(t *testing.T) {
	var logs testenv.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(prev)
	r := newRecorder()
	r.setFail(true)
	q := NewQueue(r, QueueConfig{Interval: 10 * time.Millisecond})
	q.Add("tag:a")
	run(t, q)
	start := purges.Value("error")
	testenv.Await(t, 10*time.Second, "50 failed purges", func() bool { return purges.Value("error")-start >= 50 })
	r.setFail(false)
	next(t, r, 2*time.Second)
	testenv.Await(t, 2*time.Second, "the recovery logged", func() bool { return strings.Contains(logs.String(), "go through again") })
	if n := strings.Count(logs.String(), "edge purge failed"); n != 1 {
		t.Errorf("%d warnings for one outage of 50 intervals, want 1:\n%s", n, logs.String())
	}
}

// A target list with one bad name purges nothing: an operator's typo
// must not pass for a takedown done.
func TestPurgeTargetsAllOrNothing(t *testing.T) {
	r := newRecorder()
	if _, err := PurgeTargets(context.Background(), r, []string{"#sunset", "sunset"}); err == nil {
		t.Fatal("a bad target was accepted")
	}
	if _, err := PurgeTargets(context.Background(), r, nil); err == nil {
		t.Fatal("no target was accepted")
	}
	keys, err := PurgeTargets(context.Background(), r, []string{"#Sunset", "img:alice/i1", "pages"})
	if err != nil || !slices.Equal(keys, []string{"tag:sunset", "img:alice/i1", "pages"}) {
		t.Fatalf("PurgeTargets: %q, %v", keys, err)
	}
	if len(r.calls) != 1 || !slices.Equal(r.calls[0], keys) {
		t.Errorf("purger got %q, want one call with %q", r.calls, keys)
	}
}
