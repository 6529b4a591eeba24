package media

import (
	"container/list"
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// errBusy is a decode that did not get its budget in time: the origin
// answers 503 with Retry-After.
var errBusy = errors.New("media: image decoding is at its memory budget; retry")

// budget admits work by the bytes it may allocate, first come first
// served. Bytes come back in two steps. When the work ends they become
// garbage, still in the heap until the garbage collector has run past them;
// only then are they handed out again. Without that second step a burst of
// decodes holds a budget's worth of live images plus dead ones that the
// collector, paced on the live heap (GOGC), has no reason to reclaim yet:
// TestHostileImagesPeakMemory then goes past the budget. When garbage is
// all that stands between a waiter and its bytes, the budget runs a
// collection itself (runtime.GC). That happens only while decodes saturate
// it, and costs marking the process's live pointers, to which pixels add
// nothing.
type budget struct {
	size int64

	mu      sync.Mutex
	free    int64
	garbage []released // oldest first
	seq     uint64     // of the last released
	waiters list.List  // of *waiter, in arrival order
	gcing   bool       // a forced collection is running

	onWait func() // tests: a request started waiting
}

// released is n bytes given back, reclaimed once cycle collections have
// completed; seq numbers them.
type released struct {
	n          int64
	cycle, seq uint64
}

type waiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

func newBudget(size int64) *budget {
	return &budget{size: size, free: size}
}

// gcCycles is the number of completed garbage collections.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// acquire takes n bytes, waiting for them at most wait and while ctx
// lasts; errBusy when they did not come. n must not exceed the size.
func (b *budget) acquire(ctx context.Context, n int64, wait time.Duration) error {
	b.mu.Lock()
	b.collected(gcCycles())
	if b.waiters.Len() == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.collect()
	onWait := b.onWait
	b.mu.Unlock()
	if onWait != nil {
		onWait()
	}

	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-t.C:
		err = errBusy
	case <-ctx.Done():
		err = errors.Join(errBusy, ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: keep it
		return nil
	default:
	}
	b.waiters.Remove(e)
	b.grant() // the ones behind may fit now
	return err
}

// release gives n bytes back; they are free once a collection that began
// after now has completed.
func (b *budget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A collection under way may have marked them still live: the next
	// one must complete too.
	b.seq++
	b.garbage = append(b.garbage, released{n: n, cycle: gcCycles() + 2, seq: b.seq})
	b.collected(gcCycles())
	b.collect()
}

// collected frees the garbage that completed collections (cycles) have
// reclaimed, and grants waiters. b.mu is held.
func (b *budget) collected(cycles uint64) {
	b.reclaim(func(g released) bool { return g.cycle <= cycles })
}

// reclaim frees the garbage from the oldest on while done says it was
// reclaimed, and grants waiters. b.mu is held.
func (b *budget) reclaim(done func(released) bool) {
	i := 0
	for ; i < len(b.garbage) && done(b.garbage[i]); i++ {
		b.free += b.garbage[i].n
	}
	b.garbage = b.garbage[i:]
	b.grant()
}

// grant hands bytes to the waiters in order while the first fits. b.mu is
// held.
func (b *budget) grant() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*waiter)
		if w.n > b.free {
			return
		}
		b.free -= w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// collect starts a collection when the first waiter would fit once the
// garbage is reclaimed. b.mu is held.
func (b *budget) collect() {
	e := b.waiters.Front()
	if e == nil || b.gcing || len(b.garbage) == 0 {
		return
	}
	var pending int64
	for _, g := range b.garbage {
		pending += g.n
	}
	if b.free+pending < e.Value.(*waiter).n {
		return // live decodes hold the rest: wait for their release
	}
	b.gcing = true
	upTo := b.seq
	go func() {
		// runtime.GC returns once a collection that began after the
		// call has marked and swept: everything released before is
		// reclaimed.
		runtime.GC()
		b.mu.Lock()
		defer b.mu.Unlock()
		b.gcing = false
		b.reclaim(func(g released) bool { return g.seq <= upTo })
		b.collected(gcCycles())
		b.collect()
	}()
}
