package processors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/metrics"
)

// The extractor reads posts and likes, two logs with no order between
// them: a fetch may bring a partition's likes before the posts written
// earlier. Live, a like comes long after the create of the post it likes;
// but a replay, or a worker catching up after a stop, reads both logs from
// far behind, and a like read before its post's create would count
// nothing where it counted the first time. The whole state must be
// rebuilt by replaying the logs, so a like of a post the extractor does
// not know waits for the posts that could create it, as Kafka Streams
// lets a task's records wait on its other partitions
// (max.task.idle.ms).
//
// Invariants, checked in order_test.go:
//  1. A likes record of partition p of a post p's state does not know is
//     applied only once (a) the posts of p read so far hold a record
//     stamped later than the like, or (b) the posts of p have been read to
//     the end they had after the like was read (their last stable offset,
//     control records included): a create written before the like is then
//     applied, whatever the fetches did. Otherwise it waits; then it
//     counts nothing, as the contract says (topology.md, likes).
//  2. A partition's likes apply in offset order: records after a waiting
//     one wait behind it. A wait that does not end at its first check
//     pauses the partition's likes, so that what waits stays within a
//     poll or two.
//  3. Nothing waits across a transaction: a batch ends only when no like
//     waits, so a transaction commits the offsets of records it applied,
//     no others.
//  4. A wait is bounded by likeWaitMax (half the transaction timeout, 5s
//     by default); past it the likes apply as they stand, counted as a
//     timeout. It holds only if reading the posts stalls, a fault.

// LikeWaits counts the times a partition's likes waited for its posts, by
// how the wait ended: posts (the posts were read far enough) or timeout.
var LikeWaits = metrics.Default.NewCounterVec("tagstream_extractor_like_waits_total",
	"Times a partition's likes waited for its posts to be read up to them (a like of a post not yet known), by how the wait ended: posts or timeout.", "outcome")

// likeWait is one partition's likes that wait.
type likeWait struct {
	recs   []*kgo.Record
	end    int64 // the posts' last stable offset asked after recs were read; -1 before
	since  time.Time
	paused bool
}

// likeWaitMax bounds a wait (invariant 4).
func (x *extractor) likeWaitMax() time.Duration { return x.o.TxnTimeout / 2 }

// addLikes applies the likes records of one partition up to the first
// that must wait, and keeps that one and the rest. Called with x.mu held.
func (x *extractor) addLikes(cl *kgo.Client, b *batch, st *partState, p int32, recs []*kgo.Record) {
	if w := x.waits[p]; w != nil {
		w.recs = append(w.recs, recs...)
		return
	}
	for i, r := range recs {
		if r.Attrs.IsControl() {
			continue
		}
		if !b.addLike(st, r, !x.postsPassed(p, r)) {
			x.waits[p] = &likeWait{recs: recs[i:], end: -1, since: time.Now()}
			return
		}
	}
}

// postsPassed reports whether the posts of p read so far hold a record
// stamped later than r (invariant 1a).
func (x *extractor) postsPassed(p int32, r *kgo.Record) bool {
	ts, ok := x.postsTS[p]
	return ok && ts > r.Timestamp.UnixMilli()
}

// release applies what waits and can go, resumes the partitions whose
// likes no longer wait, and reports whether any still waits.
func (x *extractor) release(ctx context.Context, cl *kgo.Client, b *batch) (waiting bool) {
	x.mu.Lock()
	if len(x.waits) == 0 {
		x.mu.Unlock()
		return false
	}
	var ask []int32
	for p, w := range x.waits {
		if w.end < 0 {
			ask = append(ask, p)
		}
	}
	x.mu.Unlock()
	ends := x.postsEnds(ctx, cl, ask)
	pos := x.postsRead(cl)

	x.mu.Lock()
	defer x.mu.Unlock()
	for p, w := range x.waits {
		if e, ok := ends[p]; ok && w.end < 0 {
			w.end = e
		}
		st, ok := x.states[p]
		if !ok {
			x.endWait(cl, p) // revoked: the next owner reads them again
			continue
		}
		outcome := ""
		if w.end >= 0 && pos[p] >= w.end {
			outcome = "posts"
		} else if time.Since(w.since) >= x.likeWaitMax() {
			outcome = "timeout"
			slog.Warn("extractor: likes waited for their posts too long; applying them as they stand",
				"partition", p, "waited", time.Since(w.since).Round(time.Millisecond), "posts_end", w.end, "posts_read_to", pos[p])
		}
		for len(w.recs) > 0 {
			r := w.recs[0]
			if !r.Attrs.IsControl() && !b.addLike(st, r, outcome == "" && !x.postsPassed(p, r)) {
				break
			}
			w.recs = w.recs[1:]
		}
		if len(w.recs) == 0 {
			if outcome == "" {
				outcome = "posts"
			}
			LikeWaits.Inc(outcome)
			x.endWait(cl, p)
			continue
		}
		if !w.paused {
			// Most waits end at their first check (the posts were at
			// their end): pausing only those that do not keeps the
			// likes of the others flowing (a resume waits for the
			// fetch in flight).
			w.paused = true
			cl.PauseFetchPartitions(map[string][]int32{x.o.Gen.NS.Likes(): {p}})
		}
	}
	return len(x.waits) > 0
}

// endWait forgets p's wait and resumes its likes. Called with x.mu held.
func (x *extractor) endWait(cl *kgo.Client, p int32) {
	if w, ok := x.waits[p]; ok {
		delete(x.waits, p)
		if w.paused {
			cl.ResumeFetchPartitions(map[string][]int32{x.o.Gen.NS.Likes(): {p}})
		}
	}
}

// postsRead returns, per partition, the offset after the last posts
// record polled (control records included), or its committed offset if
// none was polled since: franz-go leaves a partition out of its
// uncommitted offsets once they are committed. A partition in neither is
// read from its start, 0 or more.
func (x *extractor) postsRead(cl *kgo.Client) map[int32]int64 {
	pos := map[int32]int64{}
	for _, m := range []map[string]map[int32]kgo.EpochOffset{cl.CommittedOffsets(), cl.UncommittedOffsets()} {
		for p, o := range m[x.o.Gen.NS.Posts()] {
			pos[p] = max(pos[p], o.Offset)
		}
	}
	return pos
}

// postsEnds asks the posts' last stable offsets of parts; a partition it
// could not learn is asked again at the next release.
func (x *extractor) postsEnds(ctx context.Context, cl *kgo.Client, parts []int32) map[int32]int64 {
	if len(parts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, x.o.Gen.NS.Posts())
	if err != nil {
		slog.Warn("extractor: cannot read the posts' end offsets; likes wait on", "err", fmt.Errorf("list offsets: %w", err))
		return nil
	}
	ends := map[int32]int64{}
	for _, p := range parts {
		if o, ok := offs.Lookup(x.o.Gen.NS.Posts(), p); ok && o.Err == nil {
			ends[p] = o.Offset
		}
	}
	return ends
}

// forgetOrder drops what the extractor knows of the posts' progress and
// what waits, after an abort or a revoke rewinds the partitions: posts
// read past the committed offsets will be read again. Called with x.mu
// held.
func (x *extractor) forgetOrder(cl *kgo.Client, parts ...int32) {
	for _, p := range parts {
		delete(x.postsTS, p)
		x.endWait(cl, p)
	}
}
