// Package throughput measures tagstream's pipeline side by side with what a
// team would pick instead: the same seeded log of posts, preloaded onto a
// real Kafka, processed by each system in turn (tagstream's worker in both
// guarantees, a Kafka Streams application with tagstream's semantics in
// both, and a stateless franz-go consume-and-produce loop, the limit), each
// timed from its process start until its output holds every exact count.
//
// Invariants, each checked in throughput_test.go:
//   - The log is a pure function of Workload: the same workload gives the
//     same records, byte for byte, to every system and every round.
//   - Truth applies tagstream's semantics (topology.md, posts) to the log:
//     a second create of a post, an edit or delete of an unknown or deleted
//     post and an invalid record count nothing.
package throughput

import (
	"encoding/json"
	"math/rand"
	"strconv"
	"time"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/load"
)

// Workload is the seeded log every system processes.
type Workload struct {
	// Posts is the number of posts created. Default 200,000.
	Posts int
	// Seed makes the log reproducible. Default 1.
	Seed int64
	// EditEvery and DeleteEvery: after every EditEvery-th create, an edit
	// of an earlier post (a new caption); after every DeleteEvery-th, a
	// delete of one. Defaults 10 and 20: 10 % edits, 5 % deletes.
	EditEvery, DeleteEvery int
	// InvalidEvery: every InvalidEvery-th record is one no system may
	// count (broken JSON, a key that is not its user, an unknown type).
	// Default 1,000.
	InvalidEvery int
}

func (w *Workload) defaults() {
	if w.Posts <= 0 {
		w.Posts = 200_000
	}
	if w.Seed == 0 {
		w.Seed = 1
	}
	if w.EditEvery <= 0 {
		w.EditEvery = 10
	}
	if w.DeleteEvery <= 0 {
		w.DeleteEvery = 20
	}
	if w.InvalidEvery <= 0 {
		w.InvalidEvery = 1000
	}
}

// Record is one record of the posts topic.
type Record struct{ Key, Value []byte }

// Log is a workload's records and what processing them must give.
type Log struct {
	Records []Record
	// Counts is every hashtag's post count once the log is processed; a
	// hashtag whose posts were all deleted is there with 0.
	Counts map[string]int64
	// HashtagEvents is the number of ±1 changes of a count the log makes
	// (what tagstream's extractor writes to post-hashtags, one per post
	// and hashtag, before it sums them per transaction).
	HashtagEvents int
	// LimitRecords is what the stateless limit produces: one record per
	// hashtag of every valid created or edited caption.
	LimitRecords int
	// Valid is the number of records that decode.
	Valid int
}

// The generator's vocabulary: tagstream load's defaults (README,
// Performance), so figures compare with make load-bench's.
const (
	users   = 100_000
	tags    = 50_000
	perPost = 8
	zipf    = 1.1
)

// Generate builds the log of w.
func Generate(w Workload) *Log {
	w.defaults()
	gen := load.NewGenerator(load.Options{Posts: w.Posts, Seed: w.Seed, Users: users, Tags: tags, PerPost: perPost, Zipf: zipf})
	r := rand.New(rand.NewSource(w.Seed + 1))
	at := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	l := &Log{Counts: map[string]int64{}}
	st := newTruth(l)
	var created []load.Post
	add := func(e events.PostEvent) {
		if len(l.Records)%w.InvalidEvery == w.InvalidEvery-1 {
			l.Records = append(l.Records, invalid(len(l.Records)/w.InvalidEvery, e.UserID))
		}
		e.TS = at.Add(time.Duration(len(l.Records)) * time.Millisecond)
		v, err := json.Marshal(e)
		if err != nil {
			panic(err) // a PostEvent always marshals
		}
		l.Records = append(l.Records, Record{Key: []byte(e.UserID), Value: v})
		st.apply(e)
	}
	for i := 1; i <= w.Posts; i++ {
		p := gen.Next()
		created = append(created, p)
		add(events.PostEvent{Type: events.PostCreated, UserID: p.User, PostID: p.ID, Caption: p.Caption})
		if i%w.EditEvery == 0 {
			old := created[r.Intn(len(created))]
			add(events.PostEvent{Type: events.PostEdited, UserID: old.User, PostID: old.ID, Caption: gen.Next().Caption})
		}
		if i%w.DeleteEvery == 0 {
			old := created[r.Intn(len(created))]
			add(events.PostEvent{Type: events.PostDeleted, UserID: old.User, PostID: old.ID})
		}
	}
	return l
}

// invalid returns the n-th invalid record, in turn: broken JSON, a user
// id that is not the key, an unknown type.
func invalid(n int, user string) Record {
	key := []byte(user)
	switch n % 3 {
	case 0:
		return Record{key, []byte(`{"type":"created","post_id":"x`)}
	case 1:
		return Record{key, []byte(`{"type":"created","post_id":"bad` + strconv.Itoa(n) + `","user_id":"someone-else","caption":"#ldb"}`)}
	default:
		return Record{key, []byte(`{"type":"reposted","post_id":"bad` + strconv.Itoa(n) + `","user_id":"` + user + `","caption":"#ldb"}`)}
	}
}

// truth applies tagstream's per-post semantics to the log as it is built.
type truth struct {
	l     *Log
	posts map[string][]string // post key → its hashtag keys; nil slice after delete
	dead  map[string]bool
}

func newTruth(l *Log) *truth {
	return &truth{l: l, posts: map[string][]string{}, dead: map[string]bool{}}
}

func (t *truth) apply(e events.PostEvent) {
	t.l.Valid++
	k := events.PostKey(e.UserID, e.PostID)
	old, exists := t.posts[k]
	switch e.Type {
	case events.PostCreated:
		keys := hashtag.Keys(e.Caption)
		t.l.LimitRecords += len(keys)
		if exists || t.dead[k] {
			return
		}
		t.posts[k] = keys
		t.change(keys, 1)
	case events.PostEdited:
		keys := hashtag.Keys(e.Caption)
		t.l.LimitRecords += len(keys)
		if !exists {
			return
		}
		t.change(minus(old, keys), -1)
		t.change(minus(keys, old), 1)
		t.posts[k] = keys
	case events.PostDeleted:
		if !exists {
			return
		}
		t.change(old, -1)
		delete(t.posts, k)
		t.dead[k] = true
	}
}

func (t *truth) change(keys []string, by int64) {
	for _, k := range keys {
		t.l.Counts[k] += by
		t.l.HashtagEvents++
	}
}

// minus returns the keys of a not in b.
func minus(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, k := range b {
		in[k] = true
	}
	var out []string
	for _, k := range a {
		if !in[k] {
			out = append(out, k)
		}
	}
	return out
}
