package processors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/murmur2"
	"github.com/tagstream/tagstream/topology"
)

// run starts the graph on goka's in-memory tester.
func run(t *testing.T, gg *goka.GroupGraph) *tester.Tester {
	t.Helper()
	tt := tester.New(t)
	p, err := goka.NewProcessor(nil, gg, goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return tt
}

func postJSON(t *testing.T, e events.PostEvent) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// extractorRun feeds posts records to the extractor's batch logic, one
// batch (transaction) per send, against one partition's state.
type extractorRun struct {
	t      *testing.T
	state  *partState
	offset int64 // the next posts offset
	likes  int64 // the next likes offset
}

func newExtractorRun(t *testing.T) *extractorRun {
	return &extractorRun{t: t, state: newPartState()}
}

func post(t *testing.T, typ events.PostEventType, user, id, caption string) *kgo.Record {
	return &kgo.Record{Key: []byte(user), Value: postJSON(t, events.PostEvent{
		Type: typ, PostID: id, UserID: user, Caption: caption, TS: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)})}
}

// deltasOf renders post-hashtags records as "+key"/"-key" (or "+2key").
func deltasOf(t *testing.T, recs []*kgo.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		d, err := events.DecodeDelta(string(r.Key), r.Value)
		if err != nil {
			t.Fatalf("extractor wrote an undecodable delta: %v", err)
		}
		if want := murmur2.Partition(r.Key, 12); r.Partition != want {
			t.Errorf("delta %s on partition %d, want murmur2's %d", d.Hashtag, r.Partition, want)
		}
		s := fmt.Sprintf("%+d", d.Delta)
		if d.Delta == 1 || d.Delta == -1 {
			s = s[:1]
		}
		out = append(out, s+d.Hashtag)
	}
	return out
}

func TestExtractorCreateEditDelete(t *testing.T) {
	x := newExtractorRun(t)
	send := func(typ events.PostEventType, caption string) []string {
		out := x.send(post(t, typ, "alice", "p1", caption))
		if len(out[string(TopicDeadLetters)]) != 0 {
			t.Fatal("valid events were dead-lettered")
		}
		return deltasOf(t, out[string(TopicPostHashtags)])
	}

	if got, want := send(events.PostCreated, "Golden hour #Sunset #beach #sunset #BEACH"), []string{"+sunset", "+beach"}; !slices.Equal(got, want) {
		t.Fatalf("create: deltas %v, want %v (one per distinct key, first-appearance order)", got, want)
	}
	st := x.state.posts[events.PostKey("alice", "p1")]
	if !slices.Equal(st.Display, []string{"Sunset", "beach"}) {
		t.Errorf("display forms %v, want the first as written", st.Display)
	}
	if got := send(events.PostCreated, "again #sunset #other"); len(got) != 0 {
		t.Fatalf("duplicate create emitted %v; a post created twice must count once", got)
	}
	if got, want := send(events.PostEdited, "now #beach #surf"), []string{"-sunset", "+surf"}; !slices.Equal(got, want) {
		t.Fatalf("edit: deltas %v, want %v", got, want)
	}
	got := send(events.PostDeleted, "")
	slices.Sort(got)
	if want := []string{"-beach", "-surf"}; !slices.Equal(got, want) {
		t.Fatalf("delete: deltas %v, want %v", got, want)
	}
	for _, typ := range []events.PostEventType{events.PostCreated, events.PostEdited, events.PostDeleted} {
		if got := send(typ, "resurrect #sunset"); len(got) != 0 {
			t.Fatalf("%s after delete emitted %v, want nothing", typ, got)
		}
	}
}

// One transaction writes one delta per (hashtag, posts partition): the
// sum of its posts, with the offset of the last of them.
func TestExtractorAggregatesWithinATransaction(t *testing.T) {
	x := newExtractorRun(t)
	out := x.send(
		post(t, events.PostCreated, "alice", "p1", "#Love #a"),
		post(t, events.PostCreated, "bob", "p1", "#love #b"),
		post(t, events.PostCreated, "carol", "p1", "#LOVE"),
		post(t, events.PostDeleted, "alice", "p1", ""),
		post(t, events.PostCreated, "dave", "p1", "#b"),
	)
	got := deltasOf(t, out[string(TopicPostHashtags)])
	if want := []string{"+2love", "+2b"}; !slices.Equal(got, want) {
		t.Fatalf("aggregated deltas %v, want %v (#a: +1-1 is not written)", got, want)
	}
	for _, r := range out[string(TopicPostHashtags)] {
		d, _ := events.DecodeDelta(string(r.Key), r.Value)
		if d.Hashtag == "love" && (d.Display != "Love" || d.Source.Offset != 3) {
			t.Errorf("love delta %+v, want display Love (first written) and src offset 3 (last record touching it)", d)
		}
	}
	if n := len(out[TableExtractor]); n != 4 {
		t.Errorf("%d post states written, want 4 (one per post touched)", n)
	}
}

func TestExtractorRollsBackAnAbortedBatch(t *testing.T) {
	states := map[int32]*partState{0: newPartState()}
	states[0].posts[events.PostKey("alice", "p1")] = events.PostState{Keys: []string{"old"}, Display: []string{"old"}}
	b := newBatch(topology.Gen{})
	for i, r := range []*kgo.Record{
		post(t, events.PostEdited, "alice", "p1", "#new"),
		post(t, events.PostEdited, "alice", "p1", "#newer"),
		post(t, events.PostCreated, "bob", "p1", "#x"),
	} {
		r.Offset = int64(i)
		b.add(states[0], r)
	}
	b.rollback(states)
	if got := states[0].posts[events.PostKey("alice", "p1")].Keys; !slices.Equal(got, []string{"old"}) {
		t.Errorf("alice/p1 after rollback has keys %v, want [old]", got)
	}
	if _, ok := states[0].posts[events.PostKey("bob", "p1")]; ok {
		t.Error("a post created in the aborted batch survived the rollback")
	}
}

func TestExtractorScopesPostsByUser(t *testing.T) {
	x := newExtractorRun(t)
	var got []string
	for _, r := range []*kgo.Record{
		post(t, events.PostCreated, "alice", "p1", "#a"),
		// bob uses the same post id: a different post, and he cannot delete alice's.
		post(t, events.PostCreated, "bob", "p1", "#a"),
		post(t, events.PostDeleted, "bob", "p1", ""),
		post(t, events.PostDeleted, "bob", "p1", ""),
	} {
		got = append(got, deltasOf(t, x.send(r)[string(TopicPostHashtags)])...)
	}
	if want := []string{"+a", "+a", "-a"}; !slices.Equal(got, want) {
		t.Fatalf("deltas %v, want %v", got, want)
	}
}

func TestExtractorDeadLettersPoisonAndGoesOn(t *testing.T) {
	x := newExtractorRun(t)
	long := make([]byte, events.MaxPostEventBytes+1)
	for i := range long {
		long[i] = 'x'
	}
	tooMany := "tags"
	for i := range 31 {
		tooMany += " #t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	poison := []struct {
		key    string
		value  []byte
		reason string
	}{
		{"alice", []byte("{not json"), events.ReasonBadJSON},
		{"alice", []byte(`{"type":"created","user_id":"alice"}`), events.ReasonMissing},
		{"alice", []byte(`{"type":"liked","post_id":"p","user_id":"alice"}`), events.ReasonInvalid},
		{"mallory", []byte(`{"type":"created","post_id":"p","user_id":"alice","caption":"#x"}`), events.ReasonKeyMismatch},
		{"alice", long, events.ReasonTooLarge},
		{"alice", postJSON(t, events.PostEvent{Type: events.PostCreated, PostID: "p", UserID: "alice", Caption: tooMany}), "limit"},
	}
	var recs []*kgo.Record
	for _, p := range poison {
		recs = append(recs, &kgo.Record{Key: []byte(p.key), Value: p.value})
	}
	recs = append(recs, post(t, events.PostCreated, "alice", "ok", "#fine"))
	out := x.send(recs...)
	dead := out[string(TopicDeadLetters)]
	if len(dead) != len(poison) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(poison))
	}
	for i, p := range poison {
		var dl events.DeadLetter
		if err := json.Unmarshal(dead[i].Value, &dl); err != nil {
			t.Fatal(err)
		}
		kept := p.value[:min(len(p.value), events.MaxDeadLetterValue)]
		sum := sha256.Sum256(p.value)
		if dl.Reason != p.reason || dl.Topic != string(TopicPosts) || string(dl.Value) != string(kept) || dl.Offset != int64(i) ||
			dl.Size != len(p.value) || dl.SHA256 != hex.EncodeToString(sum[:]) || dl.Truncated != (len(p.value) > len(kept)) {
			t.Errorf("poison %d: dead letter reason %q topic %q offset %d size %d truncated %v (value prefix kept: %v), want reason %q",
				i, dl.Reason, dl.Topic, dl.Offset, dl.Size, dl.Truncated, string(dl.Value) == string(kept), p.reason)
		}
		if len(dead[i].Value) > 16<<10 {
			t.Errorf("poison %d: dead letter of %d bytes, want at most 16 KiB", i, len(dead[i].Value))
		}
	}
	if got := deltasOf(t, out[string(TopicPostHashtags)]); !slices.Equal(got, []string{"+fine"}) {
		t.Fatalf("after poison the valid post gave %v, want [+fine]", got)
	}
}

func delta(t *testing.T, key string, sign int64, partition int32, offset int64) []byte {
	t.Helper()
	b, _ := json.Marshal(events.Delta{Hashtag: key, Display: key, Delta: sign, Source: events.Source{Partition: partition, Offset: offset}})
	return b
}

// anySource accepts every delta source: the tests' deltas name no real
// posts records.
var anySource = SourceBoundFunc(func(string, int32, int64) bool { return true })

// A delta naming a source past what the extractor could have read (a
// forged one: offset 2^63-1) is dead-lettered; before the bound existed it
// set the partition's watermark to 2^63-1 and every later real delta of
// that partition was skipped as a replay, freezing the count for good.
func TestCounterRefusesADeltaFromBeyondPosts(t *testing.T) {
	ends := map[int32]int64{0: 100}
	tt := run(t, Counter(topology.Gen{}, SourceBoundFunc(func(_ string, p int32, o int64) bool { return o < ends[p] })))
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1, 0, 5))
	for range 12 {
		tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1_000_000, 0, math.MaxInt64))
	}
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1, 7, 1)) // no partition 7
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1, 0, 6))
	c := tt.TableValue(TableCounts, "sunset").(events.Count)
	if c.PostCount != 2 || c.Watermarks[0] != 6 {
		t.Fatalf("count = %+v, want 2 with watermark 6 on partition 0", c)
	}
	n := 0
	for _, v, ok := dead.Next(); ok; _, v, ok = dead.Next() {
		if dl := v.(events.DeadLetter); dl.Reason != events.ReasonInvalid {
			t.Errorf("dead letter reason %q, want %q", dl.Reason, events.ReasonInvalid)
		}
		n++
	}
	if n != 13 {
		t.Fatalf("%d dead letters, want 13", n)
	}
}

func TestCounterCountsAndRejectsPoison(t *testing.T) {
	tt := run(t, Counter(topology.Gen{}, anySource))
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
	for i := range 3 {
		tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1, 0, int64(i)))
	}
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", -1, 1, 7))
	tt.Consume(string(TopicPostHashtags), "sunset", []byte("garbage"))
	tt.Consume(string(TopicPostHashtags), "beach", delta(t, "sunset", +1, 0, 9)) // key mismatch
	tt.Consume(string(TopicPostHashtags), "sunset", []byte(`{"hashtag":"sunset","src":{"p":0,"o":9}}`))
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +2, 0, 10))

	c := tt.TableValue(TableCounts, "sunset").(events.Count)
	if c.PostCount != 4 || c.Display != "sunset" {
		t.Fatalf("count = %+v, want post_count 4", c)
	}
	if v := tt.TableValue(TableCounts, "beach"); v != nil {
		t.Fatalf("mismatched record created a row for beach: %v", v)
	}
	n := 0
	for _, _, ok := dead.Next(); ok; _, _, ok = dead.Next() {
		n++
	}
	if n != 3 {
		t.Fatalf("%d dead letters, want 3", n)
	}
}

func topDoc(t *testing.T, tag string, at time.Time, posts ...string) []byte {
	t.Helper()
	doc := events.TopPosts{Hashtag: tag, ComputedAt: at}
	for _, p := range posts {
		doc.Posts = append(doc.Posts, events.PostSummary{PostID: p, UserID: "u", ImageID: "img-" + p})
	}
	b, _ := json.Marshal(doc)
	return b
}

func TestTopPostsKeepsNewestAndRejectsWrongKey(t *testing.T) {
	tt := run(t, TopPosts(topology.Gen{}, anySource))
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tt.Consume(string(TopicTopPosts), "sunset", topDoc(t, "#Sunset", t0.Add(time.Hour), "new1", "new2"))
	tt.Consume(string(TopicTopPosts), "sunset", topDoc(t, "sunset", t0, "old"))
	tt.Consume(string(TopicTopPosts), "Sunset", topDoc(t, "Sunset", t0.Add(2*time.Hour), "wrongkey"))

	top := tt.TableValue(TableTop, "sunset").(events.Top)
	if len(top.TopPosts) != 2 || top.TopPosts[0].PostID != "new1" {
		t.Fatalf("top = %+v, want the newest list [new1 new2]", top)
	}
	_, v, ok := dead.Next()
	if !ok || v.(events.DeadLetter).Reason != events.ReasonKeyMismatch {
		t.Fatalf("non-normalised key not dead-lettered: %v", v)
	}
}

// A document computed in the far future would pin its list (no later
// document is newer): it is dead-lettered, and the next real one applies.
func TestTopPostsRefusesAFutureComputedAt(t *testing.T) {
	tt := run(t, TopPosts(topology.Gen{}, anySource))
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
	now := time.Now().UTC()
	tt.Consume(string(TopicTopPosts), "sunset", topDoc(t, "sunset", now.Add(-time.Minute), "first"))
	tt.Consume(string(TopicTopPosts), "sunset", topDoc(t, "sunset", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), "pinned"))
	tt.Consume(string(TopicTopPosts), "sunset", topDoc(t, "sunset", now, "next"))
	if top := tt.TableValue(TableTop, "sunset").(events.Top); len(top.TopPosts) != 1 || top.TopPosts[0].PostID != "next" {
		t.Fatalf("top = %+v, want [next]", top)
	}
	_, v, ok := dead.Next()
	if !ok || v.(events.DeadLetter).Reason != events.ReasonInvalid || !strings.Contains(v.(events.DeadLetter).Error, "future") {
		t.Fatalf("future document not dead-lettered: %v", v)
	}
}

// Every count change rewrites the whole count record into the changelog,
// so the record must stay small whatever grows in it: with a watermark for
// each of 48 posts partitions (the most partitions topology.md plans for),
// under 1 KB. (The top list cannot be in it: the counter has no edge to
// the top table, and Count has no field for a list.)
func TestCountRecordStaysSmall(t *testing.T) {
	var c events.Count
	for p := range int32(48) {
		c, _ = ApplyDelta(c, events.Delta{Hashtag: "sunset", Display: "Sunset", Delta: 1,
			Source: events.Source{Partition: p, Offset: 1 << 40}}, time.Now())
	}
	b, _ := events.JSON[events.Count]{}.Encode(c)
	if len(b) > 1024 {
		t.Fatalf("count value is %d bytes: %s", len(b), b)
	}
}

// A delta re-read after a crash or rebalance is recognised by its source
// offset and counts once, whatever else arrived in between.
func TestCounterSkipsReplayedDeltas(t *testing.T) {
	at := time.Now()
	d := func(p int32, o, n int64) events.Delta {
		return events.Delta{Hashtag: "x", Display: "x", Delta: n, Source: events.Source{Partition: p, Offset: o}}
	}
	var c events.Count
	seq := []struct {
		d     events.Delta
		apply bool
	}{
		{d(0, 5, 2), true}, {d(1, 3, 1), true}, {d(0, 9, -1), true},
		{d(0, 5, 2), false}, {d(1, 3, 1), false}, {d(0, 9, -1), false}, // the replay
		{d(1, 4, 3), true},
	}
	for i, s := range seq {
		var ok bool
		c, ok = ApplyDelta(c, s.d, at)
		if ok != s.apply {
			t.Fatalf("step %d (%+v): applied %v, want %v", i, s.d.Source, ok, s.apply)
		}
	}
	if c.PostCount != 5 {
		t.Fatalf("count %d after replays, want 5", c.PostCount)
	}
}
