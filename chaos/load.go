package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/load"
)

// postRef is a post the load created.
type postRef struct {
	user, id string
}

func (p postRef) key() string { return events.PostKey(p.user, p.id) }

// committedPosts learns which created posts the extractor has committed:
// a like may only name those, so that whatever order the extractor reads
// posts and likes in, the post exists when the like is read, and the
// ground truth, read from the logs, is the one the pipeline must reach
// (topology.md: a like of a post the extractor does not know counts
// nothing).
type committedPosts struct {
	mu       sync.Mutex
	pending  map[int32][]placed // created posts by partition, in offset order
	eligible []postRef
}

type placed struct {
	offset int64
	post   postRef
}

func (c *committedPosts) created(p postRef, r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.pending[r.Partition]
	// Acknowledgements of one partition come in offset order.
	c.pending[r.Partition] = append(q, placed{r.Offset, p})
}

// advance makes every post below the group's committed offsets eligible.
func (c *committedPosts) advance(committed map[int32]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for part, q := range c.pending {
		n := 0
		for n < len(q) && q[n].offset < committed[part] {
			c.eligible = append(c.eligible, q[n].post)
			n++
		}
		c.pending[part] = q[n:]
	}
}

func (c *committedPosts) snapshot() []postRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eligible
}

// follow reads the extractor's committed posts offsets every 300 ms until
// ctx ends.
func (c *committedPosts) follow(ctx context.Context, o Options) {
	cl, err := o.Cluster.Client("chaos-committed")
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		offs, err := adm.FetchOffsets(rctx, o.Namespace.Gen(0).Extractor())
		cancel()
		if err != nil {
			continue // the broker restarts; the next read catches up
		}
		committed := map[int32]int64{}
		offs.Each(func(or kadm.OffsetResponse) {
			if or.Topic == o.Namespace.Posts() && or.Err == nil {
				committed[or.Partition] = or.At
			}
		})
		c.advance(committed)
	}
}

// loadState is what the load remembers to aim its edits, deletes, likes
// and unlikes.
type loadState struct {
	r       *rand.Rand
	posts   []postRef           // every post created, in order
	tags    map[string][]string // post key -> hashtags of its last caption produced
	likes   [][2]string         // (post key, liker) liked, for unlikes
	owner   map[string]postRef  // post key -> post
	deleted map[string]bool     // post key -> a delete was produced
	zipf    map[int]*rand.Zipf  // by number of eligible posts (rebuilt as it grows)
}

// target picks a post to edit or delete: half the time one of the 200
// newest (in the recent lists of their hashtags), a quarter one that was
// liked (in the top lists), else any.
func (s *loadState) target() postRef {
	switch x := s.r.Float64(); {
	case x < 0.5:
		return s.posts[len(s.posts)-1-s.r.Intn(min(200, len(s.posts)))]
	case x < 0.75 && len(s.likes) > 0:
		return s.owner[s.likes[s.r.Intn(len(s.likes))][0]]
	default:
		return s.posts[s.r.Intn(len(s.posts))]
	}
}

// likeTarget picks a post to like among the eligible: Zipf (s = 1.1) over
// them with the oldest most liked, or, half the time, Zipf over the
// newest, so that new posts climb the tops while old ones hold.
func (s *loadState) likeTarget(eligible []postRef) postRef {
	n := len(eligible)
	// One Zipf per power of two of n: rand.Zipf has a fixed range.
	size := 1
	for size < n {
		size *= 2
	}
	z, ok := s.zipf[size]
	if !ok {
		z = rand.NewZipf(s.r, 1.1, 1, uint64(size-1))
		s.zipf[size] = z
	}
	i := int(z.Uint64()) % n
	if s.r.Intn(2) == 0 {
		i = n - 1 - i
	}
	return eligible[i]
}

// produce writes the seeded load onto posts and likes at o.Rate events
// per second and calls restart once o.Mix.RestartAt of it is written;
// then, once caughtUp returns, the steady phase: o.SteadyPosts more posts
// at o.SteadyRate. Each delete of a live post, once acknowledged, goes to
// watch (if set).
func produce(ctx context.Context, o Options, res *Result, j *journal, watch *boundWatch, caughtUp func() error, restart func()) error {
	cl, err := o.Cluster.Client("chaos-load", kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	committed := &committedPosts{pending: map[int32][]placed{}}
	fctx, stopFollow := context.WithCancel(ctx)
	var following sync.WaitGroup
	following.Go(func() { committed.follow(fctx, o) })
	defer func() { stopFollow(); following.Wait() }()

	gen := load.NewGenerator(load.Options{Seed: o.Seed, Users: 10_000, Tags: o.Tags, PerPost: 8, Zipf: 1.1})
	st := &loadState{r: rand.New(rand.NewSource(o.Seed + 1)), tags: map[string][]string{}, owner: map[string]postRef{},
		deleted: map[string]bool{}, zipf: map[int]*rand.Zipf{}}
	var failed atomic.Int64
	var firstErr atomic.Value
	done := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	send := func(topic, key string, e any, then func(*kgo.Record)) {
		v, ok := e.([]byte)
		if !ok {
			v, _ = json.Marshal(e)
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: v}, func(r *kgo.Record, err error) {
			done(r, err)
			if err == nil && then != nil {
				then(r)
			}
		})
	}
	posts, likes := o.Namespace.Posts(), o.Namespace.Likes()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	restarted := false
	report := o.Posts / 10
	// phase produces until `until` posts are created, at rate events/s,
	// drawing each event's kind from m's ratios.
	phase := func(until, rate int, m Mix) error {
		perTick := max(1, rate/100)
		for res.Creates < until {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			eligible := committed.snapshot()
			for range perTick {
				if res.Creates >= until {
					break
				}
				x := st.r.Float64()
				switch {
				case x < m.PoisonRatio:
					res.Poison++
					send(posts, "u"+fmt.Sprint(st.r.Intn(100)), []byte(`{"type":"created","post_id":"poison","user_id":`), nil)
				case x < m.PoisonRatio+m.DeleteRatio && len(st.posts) > 0:
					p := st.target()
					res.Deletes++
					tags := st.tags[p.key()]
					var then func(*kgo.Record)
					if !st.deleted[p.key()] && watch != nil {
						then = func(*kgo.Record) { watch.deleted(p, tags, time.Now()) }
					}
					send(posts, p.user, events.PostEvent{Type: events.PostDeleted, PostID: p.id, UserID: p.user}, then)
					st.deleted[p.key()] = true
				case x < m.PoisonRatio+m.DeleteRatio+m.EditRatio && len(st.posts) > 0:
					p := st.target()
					res.Edits++
					caption := gen.Next().Caption
					send(posts, p.user, events.PostEvent{Type: events.PostEdited, PostID: p.id, UserID: p.user, Caption: caption}, nil)
					if !st.deleted[p.key()] {
						st.tags[p.key()] = hashtag.Keys(caption)
					}
				case x < m.PoisonRatio+m.DeleteRatio+m.EditRatio+m.LikeRatio && len(eligible) > 0:
					p := st.likeTarget(eligible)
					liker := fmt.Sprintf("f%d", st.r.Intn(10_000))
					if st.r.Intn(100) == 0 {
						p = postRef{p.user, "never-" + p.id} // a post that does not exist: counts nothing
					}
					res.Likes++
					send(likes, p.user, events.LikeEvent{Type: events.Liked, UserID: p.user, PostID: p.id, LikerID: liker}, nil)
					st.likes = append(st.likes, [2]string{p.key(), liker})
				case x < m.PoisonRatio+m.DeleteRatio+m.EditRatio+m.LikeRatio+m.UnlikeRatio && len(st.likes) > 0:
					l := st.likes[st.r.Intn(len(st.likes))]
					p := st.owner[l[0]]
					if p == (postRef{}) {
						continue // a like of a post that does not exist
					}
					res.Unlikes++
					send(likes, p.user, events.LikeEvent{Type: events.Unliked, UserID: p.user, PostID: p.id, LikerID: l[1]}, nil)
				default:
					gp := gen.Next()
					p := postRef{gp.User, gp.ID}
					res.Creates++
					st.posts = append(st.posts, p)
					st.owner[p.key()] = p
					st.tags[p.key()] = gp.Keys
					send(posts, p.user, events.PostEvent{Type: events.PostCreated, PostID: p.id, UserID: p.user, Caption: gp.Caption},
						func(r *kgo.Record) { committed.created(p, r) })
				}
			}
			if !restarted && float64(res.Creates) >= o.Mix.RestartAt*float64(o.Posts) {
				restarted = true
				restart()
			}
			if res.Creates >= report {
				j.say("%d/%d posts produced (%d likes so far; %d posts committed, eligible for likes)", res.Creates, o.Posts+o.SteadyPosts, res.Likes, len(eligible))
				report += o.Posts / 10
			}
		}
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("chaos: flush: %w", err)
		}
		if n := failed.Load(); n > 0 {
			// Not fatal for the check (the truth is read back from the log),
			// but the load was not what was asked.
			return fmt.Errorf("chaos: %d records not produced, first error: %v", n, firstErr.Load())
		}
		return nil
	}
	if err := phase(o.Posts, o.Rate, o.Mix); err != nil {
		return err
	}
	if err := caughtUp(); err != nil {
		return err
	}
	return phase(o.Posts+o.SteadyPosts, o.SteadyRate, SteadyMix)
}

// SteadyMix is the kinds of events of every seed's steady phase: the
// classic mix's. The bound is stated for a defined load (topology.md,
// Lists); the seeds' load phases explore the others, and a CI seed with
// 28 % edits, 30 % likes and 4 % unlikes (two thirds of its events
// rewriting lists without adding a post) kept 2 cores saturated at 100
// events/s and deletes waited up to 21 s behind the lag.
var SteadyMix = Mix{EditRatio: ClassicMix.EditRatio, DeleteRatio: ClassicMix.DeleteRatio, PoisonRatio: ClassicMix.PoisonRatio,
	LikeRatio: ClassicMix.LikeRatio, UnlikeRatio: ClassicMix.UnlikeRatio}
