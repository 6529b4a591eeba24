package throughput

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
)

func TestTheLogIsAPureFunctionOfItsWorkload(t *testing.T) {
	w := Workload{Posts: 3000, Seed: 7}
	a, b := Generate(w), Generate(w)
	if len(a.Records) != len(b.Records) {
		t.Fatalf("%d records, then %d", len(a.Records), len(b.Records))
	}
	for i := range a.Records {
		if !bytes.Equal(a.Records[i].Key, b.Records[i].Key) || !bytes.Equal(a.Records[i].Value, b.Records[i].Value) {
			t.Fatalf("record %d differs: %s then %s", i, a.Records[i].Value, b.Records[i].Value)
		}
	}
	if c := Generate(Workload{Posts: 3000, Seed: 8}); bytes.Equal(c.Records[0].Value, a.Records[0].Value) {
		t.Fatal("another seed gave the same first record")
	}
}

// The log holds what it says: 10 % edits, 5 % deletes, 0.1 % records
// tagstream rejects, and every other record decodes.
func TestTheLogsMixAndItsInvalidRecords(t *testing.T) {
	l := Generate(Workload{Posts: 10_000})
	kinds := map[events.PostEventType]int{}
	invalid := 0
	for _, r := range l.Records {
		e, err := events.DecodePostEvent(string(r.Key), r.Value)
		if err != nil {
			invalid++
			continue
		}
		kinds[e.Type]++
	}
	if kinds[events.PostCreated] != 10_000 || kinds[events.PostEdited] != 1000 || kinds[events.PostDeleted] != 500 {
		t.Errorf("kinds %v, want 10,000 created, 1,000 edited, 500 deleted", kinds)
	}
	if want := len(l.Records) / 1000; invalid != want || l.Valid != len(l.Records)-invalid {
		t.Errorf("%d invalid records and %d valid of %d, want %d invalid", invalid, l.Valid, len(l.Records), want)
	}
}

// Truth follows topology.md's semantics, record by record.
func TestTruthAppliesTagstreamsSemantics(t *testing.T) {
	l := &Log{Counts: map[string]int64{}}
	st := newTruth(l)
	ev := func(typ events.PostEventType, post, caption string) events.PostEvent {
		return events.PostEvent{Type: typ, UserID: "u1", PostID: post, Caption: caption}
	}
	steps := []struct {
		e      events.PostEvent
		counts map[string]int64
		events int
	}{
		{ev(events.PostCreated, "p1", "#a #B #b"), map[string]int64{"a": 1, "b": 1}, 2},
		{ev(events.PostCreated, "p1", "#c"), map[string]int64{"a": 1, "b": 1}, 2},           // a second create counts nothing
		{ev(events.PostEdited, "p1", "#b #c"), map[string]int64{"a": 0, "b": 1, "c": 1}, 4}, // −a +c
		{ev(events.PostEdited, "p9", "#a"), map[string]int64{"a": 0, "b": 1, "c": 1}, 4},    // unknown post
		{ev(events.PostDeleted, "p1", ""), map[string]int64{"a": 0, "b": 0, "c": 0}, 6},     // −b −c
		{ev(events.PostDeleted, "p1", ""), map[string]int64{"a": 0, "b": 0, "c": 0}, 6},     // deleted twice
		{ev(events.PostEdited, "p1", "#d"), map[string]int64{"a": 0, "b": 0, "c": 0}, 6},    // edit after delete
		{ev(events.PostCreated, "p1", "#d"), map[string]int64{"a": 0, "b": 0, "c": 0}, 6},   // re-create of a deleted post
		{ev(events.PostCreated, "p2", "#a"), map[string]int64{"a": 1, "b": 0, "c": 0}, 7},
	}
	for i, s := range steps {
		st.apply(s.e)
		if len(l.Counts) != len(s.counts) || l.HashtagEvents != s.events {
			t.Fatalf("step %d (%s %s): counts %v and %d events, want %v and %d", i, s.e.Type, s.e.PostID, l.Counts, l.HashtagEvents, s.counts, s.events)
		}
		for k, n := range s.counts {
			if l.Counts[k] != n {
				t.Fatalf("step %d (%s %s): counts %v, want %v", i, s.e.Type, s.e.PostID, l.Counts, s.counts)
			}
		}
	}
}

// The watcher is done exactly when every latest count equals the truth,
// a hashtag whose posts were all deleted included (0 or a tombstone).
func TestTheWatcherIsDoneOnlyWhenEveryCountIsExact(t *testing.T) {
	l := &Log{Counts: map[string]int64{"a": 2, "b": 0, "c": 1}}
	for _, tc := range []struct {
		kind Output
		enc  func(n int64) []byte
	}{
		{CountDecimal, func(n int64) []byte { return []byte(itoa(n)) }},
		{CountJSON, func(n int64) []byte { return []byte(`{"display":"x","post_count":` + itoa(n) + `}`) }},
	} {
		w := newWatcher(tc.kind, l)
		put := func(k string, v []byte) {
			t.Helper()
			if err := w.apply(&kgo.Record{Key: []byte(k), Value: v}); err != nil {
				t.Fatal(err)
			}
		}
		put("a", tc.enc(1))
		put("b", tc.enc(1))
		put("c", tc.enc(1))
		if w.done() {
			t.Fatalf("%v: done with a=1, b=1", tc.kind)
		}
		put("a", tc.enc(2))
		if w.done() {
			t.Fatalf("%v: done with b=1", tc.kind)
		}
		put("b", nil) // a tombstone is 0
		if !w.done() {
			t.Fatalf("%v: not done with every count exact (%d wrong)", tc.kind, w.wrong)
		}
		put("z", tc.enc(1)) // a hashtag the log never had
		if w.done() {
			t.Fatalf("%v: done with a count for a hashtag the log never had", tc.kind)
		}
		if err := w.apply(&kgo.Record{Key: []byte("a"), Value: []byte("{x")}); err == nil {
			t.Fatalf("%v: a value that does not decode was taken", tc.kind)
		}
	}
	w := newWatcher(Records, &Log{LimitRecords: 2})
	w.apply(&kgo.Record{Key: []byte("a")})
	if w.done() {
		t.Fatal("limit done after 1 of 2 records")
	}
	w.apply(&kgo.Record{Key: []byte("a")})
	if !w.done() {
		t.Fatal("limit not done after 2 of 2 records")
	}
}

func itoa(n int64) string { return string(rune('0' + n)) }

func TestSpreadAndRatiosWithinRounds(t *testing.T) {
	if s := SpreadOf([]float64{3, 1, 2}); s.Median != 2 || s.Min != 1 || s.Max != 3 || s.Pct() != 50 {
		t.Errorf("spread of 3,1,2: %+v ±%.0f %%", s, s.Pct())
	}
	if s := SpreadOf([]float64{4, 1}); s.Median != 2.5 {
		t.Errorf("median of 4,1: %v", s.Median)
	}
	runs := []Run{
		{System: "tagstream-eo", Round: 1, PostsPerSecond: 200}, {System: "kstreams-eos", Round: 1, PostsPerSecond: 100},
		{System: "kstreams-eos", Round: 2, PostsPerSecond: 50}, {System: "tagstream-eo", Round: 2, PostsPerSecond: 150},
	}
	r := Summarise(Machine{}, Workload{}, &Log{}, []System{{Name: "tagstream-eo"}, {Name: "kstreams-eos"}}, runs)
	if len(r.Ratios) != 1 || r.Ratios[0].Ratio.Min != 2 || r.Ratios[0].Ratio.Max != 3 {
		t.Fatalf("ratios %+v, want tagstream-eo ÷ kstreams-eos from 2 (round 1) to 3 (round 2)", r.Ratios)
	}
}
