package processors

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/tagstream/tagstream/events"
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

// drain returns the deltas emitted since the last call, as "+key"/"-key".
func drain(qt *tester.QueueTracker) []string {
	var out []string
	for {
		key, v, ok := qt.Next()
		if !ok {
			return out
		}
		d := v.(events.Delta)
		sign := "+"
		if d.Delta < 0 {
			sign = "-"
		}
		if d.Hashtag != key {
			out = append(out, "KEY MISMATCH "+key)
		}
		out = append(out, sign+d.Hashtag)
	}
}

func TestExtractorCreateEditDelete(t *testing.T) {
	tt := run(t, Extractor())
	deltas := tt.NewQueueTracker(string(TopicPostHashtags))
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
	ts := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	send := func(typ events.PostEventType, caption string) {
		tt.Consume(string(TopicPosts), "alice", postJSON(t, events.PostEvent{
			Type: typ, PostID: "p1", UserID: "alice", Caption: caption, TS: ts}))
	}

	send(events.PostCreated, "Golden hour #Sunset #beach #sunset #BEACH")
	if got, want := drain(deltas), []string{"+sunset", "+beach"}; !slices.Equal(got, want) {
		t.Fatalf("create: deltas %v, want %v (one per distinct key, first-appearance order)", got, want)
	}
	st := tt.TableValue(goka.GroupTable(GroupExtractor), events.PostKey("alice", "p1")).(events.PostState)
	if !slices.Equal(st.Display, []string{"Sunset", "beach"}) {
		t.Errorf("display forms %v, want the first as written", st.Display)
	}

	send(events.PostCreated, "again #sunset #other")
	if got := drain(deltas); len(got) != 0 {
		t.Fatalf("duplicate create emitted %v; a post created twice must count once", got)
	}

	send(events.PostEdited, "now #beach #surf")
	if got, want := drain(deltas), []string{"-sunset", "+surf"}; !slices.Equal(got, want) {
		t.Fatalf("edit: deltas %v, want %v", got, want)
	}

	send(events.PostDeleted, "")
	got := drain(deltas)
	slices.Sort(got)
	if want := []string{"-beach", "-surf"}; !slices.Equal(got, want) {
		t.Fatalf("delete: deltas %v, want %v", got, want)
	}
	send(events.PostCreated, "resurrect #sunset")
	send(events.PostEdited, "#sunset")
	send(events.PostDeleted, "")
	if got := drain(deltas); len(got) != 0 {
		t.Fatalf("events after delete emitted %v, want nothing", got)
	}
	if _, _, ok := dead.Next(); ok {
		t.Fatal("valid events were dead-lettered")
	}
}

func TestExtractorScopesPostsByUser(t *testing.T) {
	tt := run(t, Extractor())
	deltas := tt.NewQueueTracker(string(TopicPostHashtags))
	tt.Consume(string(TopicPosts), "alice", postJSON(t, events.PostEvent{Type: events.PostCreated, PostID: "p1", UserID: "alice", Caption: "#a"}))
	// bob uses the same post id: a different post, and he cannot delete alice's.
	tt.Consume(string(TopicPosts), "bob", postJSON(t, events.PostEvent{Type: events.PostCreated, PostID: "p1", UserID: "bob", Caption: "#a"}))
	tt.Consume(string(TopicPosts), "bob", postJSON(t, events.PostEvent{Type: events.PostDeleted, PostID: "p1", UserID: "bob"}))
	tt.Consume(string(TopicPosts), "bob", postJSON(t, events.PostEvent{Type: events.PostDeleted, PostID: "p1", UserID: "bob"}))
	if got, want := drain(deltas), []string{"+a", "+a", "-a"}; !slices.Equal(got, want) {
		t.Fatalf("deltas %v, want %v", got, want)
	}
}

func TestExtractorDeadLettersPoisonAndGoesOn(t *testing.T) {
	tt := run(t, Extractor())
	deltas := tt.NewQueueTracker(string(TopicPostHashtags))
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
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
	for _, p := range poison {
		tt.Consume(string(TopicPosts), p.key, p.value)
	}
	tt.Consume(string(TopicPosts), "alice", postJSON(t, events.PostEvent{Type: events.PostCreated, PostID: "ok", UserID: "alice", Caption: "#fine"}))
	for i, p := range poison {
		_, v, ok := dead.Next()
		if !ok {
			t.Fatalf("poison %d (%s) not dead-lettered", i, p.reason)
		}
		dl := v.(events.DeadLetter)
		if dl.Reason != p.reason || dl.Topic != string(TopicPosts) || string(dl.Value) != string(p.value) {
			t.Errorf("poison %d: dead letter reason %q topic %q (value kept: %v), want reason %q",
				i, dl.Reason, dl.Topic, string(dl.Value) == string(p.value), p.reason)
		}
	}
	if got := drain(deltas); !slices.Equal(got, []string{"+fine"}) {
		t.Fatalf("after poison the valid post gave %v, want [+fine]", got)
	}
	if DeadLetters.Value(string(GroupExtractor), events.ReasonBadJSON) < 1 {
		t.Error("dead-letter metric not counted")
	}
}

func delta(t *testing.T, key string, sign int) []byte {
	t.Helper()
	b, _ := json.Marshal(events.Delta{Hashtag: key, Display: key, Delta: sign, Post: events.PostSummary{PostID: "p", UserID: "u"}})
	return b
}

func TestCounterCountsAndRejectsPoison(t *testing.T) {
	tt := run(t, Counter())
	dead := tt.NewQueueTracker(string(TopicDeadLetters))
	for range 3 {
		tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1))
	}
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", -1))
	tt.Consume(string(TopicPostHashtags), "sunset", []byte("garbage"))
	tt.Consume(string(TopicPostHashtags), "beach", delta(t, "sunset", +1)) // key mismatch
	tt.Consume(string(TopicPostHashtags), "sunset", []byte(`{"hashtag":"sunset","delta":5}`))
	tt.Consume(string(TopicPostHashtags), "sunset", delta(t, "sunset", +1))

	c := tt.TableValue(TableCounts, "sunset").(events.Count)
	if c.PostCount != 3 || c.Display != "sunset" {
		t.Fatalf("count = %+v, want post_count 3", c)
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
	tt := run(t, TopPosts())
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

// The design's reason for two tables: a count change must not rewrite the
// top list. This checks the invariant on the values themselves.
func TestCountValueStaysSmall(t *testing.T) {
	c := ApplyDelta(events.Count{}, events.Delta{Hashtag: "sunset", Display: "Sunset", Delta: 1,
		Post: events.PostSummary{Caption: string(make([]byte, 2000))}}, time.Now())
	b, _ := events.JSON[events.Count]{}.Encode(c)
	if len(b) > 128 {
		t.Fatalf("count value is %d bytes: %s", len(b), b)
	}
}
