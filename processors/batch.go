package processors

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/murmur2"
	"github.com/tagstream/tagstream/topology"
)

// batch is what one extractor transaction reads and writes. It applies the
// posts records to the in-memory post states as they come, and remembers
// each state's value before the batch so an aborted transaction can be
// rolled back to exactly what the changelog holds.
//
// Deltas are aggregated per (hashtag, posts partition): a hot hashtag costs
// one post-hashtags record per transaction, not one per post
// (topology.md, Internal records), and the sum is exact because the transaction is all or
// nothing. Post states are coalesced per key: the changelog gets the last
// state of each post touched, once.
type batch struct {
	gen     topology.Gen
	records int
	deltas  map[deltaKey]*events.Delta
	order   []deltaKey // deterministic output order: first appearance
	states  map[postKey]events.PostState
	before  map[postKey]*events.PostState // nil: the post was unknown
	dead    []*kgo.Record
	ignored map[string]int
	reasons map[string]int
}

type deltaKey struct {
	hashtag   string
	partition int32
}

type postKey struct {
	partition int32
	key       string
}

func newBatch(g topology.Gen) *batch {
	return &batch{
		gen:     g,
		deltas:  map[deltaKey]*events.Delta{},
		states:  map[postKey]events.PostState{},
		before:  map[postKey]*events.PostState{},
		ignored: map[string]int{},
		reasons: map[string]int{},
	}
}

// add applies one posts record to the state of its partition.
func (b *batch) add(state map[string]events.PostState, r *kgo.Record) {
	b.records++
	e, err := events.DecodePostEvent(string(r.Key), r.Value)
	var keys, display []string
	if err == nil && e.Type != events.PostDeleted {
		keys, display, err = hashtag.ValidateWithDisplay(e.Caption)
	}
	if err != nil {
		b.deadLetter(r, err)
		return
	}
	if e.TS.IsZero() {
		e.TS = r.Timestamp.UTC()
	}
	key := events.PostKey(e.UserID, e.PostID)
	var prev *events.PostState
	if v, ok := state[key]; ok {
		prev = &v
	}
	next, changes, kind := apply(prev, e, keys, display)
	if kind != "" {
		b.ignored[kind]++
		return
	}
	pk := postKey{r.Partition, key}
	if _, seen := b.before[pk]; !seen {
		b.before[pk] = prev
	}
	state[key] = next
	b.states[pk] = next
	for _, c := range changes {
		dk := deltaKey{c.Key, r.Partition}
		d, ok := b.deltas[dk]
		if !ok {
			d = &events.Delta{Hashtag: c.Key, Display: c.Display}
			b.deltas[dk] = d
			b.order = append(b.order, dk)
		}
		d.Delta += c.Sign
		d.Source = events.Source{Partition: r.Partition, Offset: r.Offset}
	}
}

func (b *batch) deadLetter(r *kgo.Record, err error) {
	reason := events.Reason(err)
	var limit *hashtag.LimitError
	if errors.As(err, &limit) {
		reason = "limit"
	}
	b.reasons[reason]++
	v, _ := json.Marshal(events.NewDeadLetter(string(b.gen.Extractor()), r.Topic, r.Partition, r.Offset,
		r.Key, r.Value, reason, err, time.Now()))
	b.dead = append(b.dead, &kgo.Record{Topic: b.gen.NS.DeadLetters(), Key: events.DeadLetterKey(r.Key), Value: v})
}

// output returns the records the transaction writes: the non-zero deltas,
// the last state of each post touched (to the table partition of the posts
// partition it came from, so a partition's owner restores exactly the posts
// it owns) and the dead letters. Partitions are murmur2 of the key, as every
// producer of these topics must use.
func (b *batch) output(partitions int32) []*kgo.Record {
	out := make([]*kgo.Record, 0, len(b.order)+len(b.states)+len(b.dead))
	for _, dk := range b.order {
		d := b.deltas[dk]
		if d.Delta == 0 {
			continue // +1 and -1 within one transaction: nothing to count
		}
		v, _ := json.Marshal(d)
		out = append(out, &kgo.Record{Topic: b.gen.PostHashtags(), Key: []byte(d.Hashtag), Value: v,
			Partition: murmur2.Partition([]byte(d.Hashtag), partitions)})
	}
	for pk, s := range b.states {
		v, _ := json.Marshal(s)
		out = append(out, &kgo.Record{Topic: b.gen.ExtractorTable(), Key: []byte(pk.key), Value: v, Partition: pk.partition})
	}
	for _, r := range b.dead {
		r.Partition = murmur2.Partition(r.Key, partitions)
		out = append(out, r)
	}
	return out
}

// rollback undoes the batch on the in-memory states after an abort.
// Partitions revoked meanwhile are gone from states and stay gone.
func (b *batch) rollback(states map[int32]map[string]events.PostState) {
	for pk, prev := range b.before {
		st, ok := states[pk.partition]
		if !ok {
			continue
		}
		if prev == nil {
			delete(st, pk.key)
		} else {
			st[pk.key] = *prev
		}
	}
}

// committed counts the batch's outcomes once they are durable.
func (b *batch) committed() {
	for kind, n := range b.ignored {
		Ignored.Add(int64(n), kind)
	}
	for reason, n := range b.reasons {
		DeadLetters.Add(int64(n), string(b.gen.Extractor()), reason)
	}
}
