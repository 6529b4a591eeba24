package processors

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/topology"
)

// FuzzExtractorMatchesTruth drives the extractor's batches with an
// arbitrary sequence of creates, edits and deletes over a few users,
// posts and hashtags, cut into arbitrary transactions of which some abort
// and are redone, and checks the invariant that matters: the committed
// deltas of every hashtag sum to the number of live posts that have it,
// computed here from the events alone.
func FuzzExtractorMatchesTruth(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x10, 0x51, 0x92, 0xd3, 0x14, 0x55, 0x96, 0xd7, 0xff, 0x00, 0x33})
	f.Fuzz(func(t *testing.T, program []byte) {
		tags := []string{"#a", "#B", "#c", "#Ｄ", "#e"}
		var recs []*kgo.Record
		type live struct {
			keys    []string
			deleted bool
		}
		truth := map[string]*live{}
		for i := 0; i+1 < len(program); i += 2 {
			op, arg := program[i], program[i+1]
			user, id := fmt.Sprintf("u%d", op%3), fmt.Sprintf("p%d", (op>>2)%3)
			caption := ""
			for j, tag := range tags {
				if arg&(1<<j) != 0 {
					caption += " " + tag
				}
			}
			typ := []events.PostEventType{events.PostCreated, events.PostEdited, events.PostDeleted}[(op>>4)%3]
			recs = append(recs, post(t, typ, user, id, caption))
			p := truth[user+"/"+id]
			switch {
			case typ == events.PostCreated && p == nil:
				truth[user+"/"+id] = &live{keys: hashtag.Keys(caption)}
			case typ == events.PostEdited && p != nil && !p.deleted:
				p.keys = hashtag.Keys(caption)
			case typ == events.PostDeleted && p != nil && !p.deleted:
				p.deleted, p.keys = true, nil
			}
		}
		want := map[string]int64{}
		for _, p := range truth {
			for _, k := range p.keys {
				want[k]++
			}
		}

		states := map[int32]*partState{0: newPartState()}
		got := map[string]int64{}
		last := map[string]int64{}
		for i, n := 0, 0; i < len(recs); i += n {
			n = 1 + int(program[i%len(program)]%4) // transaction size
			n = min(n, len(recs)-i)
			aborted := program[(i+1)%len(program)]%5 == 0
			for attempt := 0; ; attempt++ {
				b := newBatch(topology.Gen{})
				for j, r := range recs[i : i+n] {
					r.Topic, r.Offset = string(TopicPosts), int64(i+j)
					b.add(states[0], r)
				}
				if aborted && attempt == 0 {
					b.rollback(states)
					continue
				}
				for _, r := range b.output(12) {
					if r.Topic != string(TopicPostHashtags) {
						continue
					}
					d, err := events.DecodeDelta(string(r.Key), r.Value)
					if err != nil {
						t.Fatal(err)
					}
					if d.Source.Offset <= last[d.Hashtag] && last[d.Hashtag] != 0 {
						t.Fatalf("delta of %s has src offset %d after %d: watermarks need them increasing", d.Hashtag, d.Source.Offset, last[d.Hashtag])
					}
					last[d.Hashtag] = d.Source.Offset
					got[d.Hashtag] += d.Delta
				}
				break
			}
		}
		for k, v := range got {
			if want[k] != v {
				t.Fatalf("#%s: committed deltas sum to %d, truth %d (all: %v vs %v)", k, v, want[k], got, want)
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("#%s: committed deltas sum to %d, truth %d", k, got[k], v)
			}
		}
	})
}
