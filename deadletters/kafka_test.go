package deadletters_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/deadletters"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// setup returns the real cluster and a namespace of the test's own whose
// posts, likes and dead-letters topics exist, with 3 partitions.
func setup(t *testing.T) (kafka.Cluster, topology.Namespace) {
	t.Helper()
	c := kafkatest.Cluster(t)
	c.Partitions = 3
	ns := kafkatest.NamespaceOn(t, c)
	var specs []kafka.TopicSpec
	for _, s := range ns.Gen(0).Topics() {
		if s.Name == ns.Posts() || s.Name == ns.Likes() || s.Name == ns.DeadLetters() {
			specs = append(specs, s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.EnsureTopics(ctx, specs); err != nil {
		t.Fatal(err)
	}
	return c, ns
}

// letter is a dead-letters record as a processor writes it.
func letter(ns topology.Namespace, topic, key, value, reason string, at time.Time) *kgo.Record {
	d := events.NewDeadLetter(string(ns.Gen(0).Extractor()), topic, 1, 42, []byte(key), []byte(value), reason, errors.New("events: "+reason), at)
	v, err := events.JSON[events.DeadLetter]{}.Encode(d)
	if err != nil {
		panic(err)
	}
	return &kgo.Record{Topic: ns.DeadLetters(), Key: events.DeadLetterKey([]byte(key)), Value: v, Timestamp: at}
}

// produce writes records and returns them with their offsets.
func produce(t *testing.T, c kafka.Cluster, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	cl, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func pos(r *kgo.Record) string { return fmt.Sprintf("%d:%d", r.Partition, r.Offset) }

func list(t *testing.T, c kafka.Cluster, ns topology.Namespace, s deadletters.Selection) []string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := deadletters.List(ctx, deadletters.ListOptions{Cluster: c, Namespace: ns, Selection: s, Out: &out}); err != nil {
		t.Fatalf("list %+v: %v", s, err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

// starting returns the lines that start with one of the positions.
func starting(lines []string, recs ...*kgo.Record) []string {
	var out []string
	for _, l := range lines {
		for _, r := range recs {
			if strings.HasPrefix(l, pos(r)+" ") {
				out = append(out, l)
			}
		}
	}
	return out
}

// The listing shows every dead letter with its reason, source, group and
// value, and a record that is not a dead letter as MALFORMED at its
// offset, without stopping; the filters and --from select among them.
func TestListSelects(t *testing.T) {
	c, ns := setup(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	recs := produce(t, c,
		letter(ns, ns.Posts(), "alice", `{"type":"created","post_id":"p1"`, events.ReasonBadJSON, t0),
		&kgo.Record{Topic: ns.DeadLetters(), Key: []byte("x"), Value: []byte("\x1b[31mnot a dead letter"), Timestamp: t0.Add(time.Minute)},
		letter(ns, ns.Likes(), "bob", `{"type":"liked"}`, events.ReasonMissing, t0.Add(2*time.Minute)),
		letter(ns, ns.Gen(0).PostHashtags(), "sunset", `{"delta":1}`, events.ReasonInvalid, t0.Add(3*time.Minute)),
	)
	all := list(t, c, ns, deadletters.Selection{})
	if len(all) != 4 {
		t.Fatalf("listed %d lines, want 4:\n%s", len(all), strings.Join(all, "\n"))
	}
	for i, want := range []string{
		` bad_json ` + ns.Posts() + `/1@42 group=` + ns.Gen(0).Extractor() + ` key="alice" error="events: bad_json" value="{\"type\":\"created\",\"post_id\":\"p1\"" (32 B)`,
		` MALFORMED error="not a dead letter: invalid character '\\x1b' looking for beginning of value" key="x" value="\x1b[31mnot a dead letter" (22 B)`,
		` missing_field ` + ns.Likes() + `/1@42 `,
		` invalid_field ` + ns.Gen(0).PostHashtags() + `/1@42 `,
	} {
		if l := starting(all, recs[i]); len(l) != 1 || !strings.Contains(l[0], want) {
			t.Errorf("record %d (%s) listed as %q, want it to hold %q", i, pos(recs[i]), l, want)
		}
	}

	// Filters keep the malformed record: it has no reason to filter by.
	got := list(t, c, ns, deadletters.Selection{Reasons: []string{events.ReasonMissing, events.ReasonBadJSON}, SourceTopics: []string{"likes"}})
	if want := starting(all, recs[1], recs[2]); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("--reason missing_field,bad_json --source-topic likes listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The last 2, in time order across partitions.
	got = list(t, c, ns, deadletters.Selection{From: deadletters.From{Last: 2}})
	if want := append(starting(all, recs[2]), starting(all, recs[3])...); !slices.Equal(got, want) {
		t.Errorf("--from 2 listed\n%s\nwant, in this order,\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The last 1 of a reason: the earlier letters of other reasons do not
	// count, the malformed record does.
	got = list(t, c, ns, deadletters.Selection{From: deadletters.From{Last: 1}, Reasons: []string{events.ReasonBadJSON}})
	if want := starting(all, recs[1]); !slices.Equal(got, want) {
		t.Errorf("--from 1 --reason bad_json listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// From a time: the records written at or after it.
	got = list(t, c, ns, deadletters.Selection{From: deadletters.From{Time: t0.Add(90 * time.Second)}})
	if want := starting(all, recs[2], recs[3]); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("--from %s listed\n%s\nwant\n%s", t0.Add(90*time.Second).Format(time.RFC3339), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// --follow prints the dead letters there are, then a new one as it comes,
// and ends when its context does.
func TestFollowPrintsNewDeadLetters(t *testing.T) {
	c, ns := setup(t)
	old := produce(t, c, letter(ns, ns.Posts(), "alice", "old", events.ReasonBadJSON, time.Now()))[0]
	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- deadletters.List(ctx, deadletters.ListOptions{Cluster: c, Namespace: ns, Follow: true, JSON: true, Out: &out})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("following ended with %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("following still running 30 s after its context ended")
		}
	}()
	has := func(r *kgo.Record) bool {
		return strings.Contains(out.String(), fmt.Sprintf(`{"partition":%d,"offset":%d,`, r.Partition, r.Offset))
	}
	testenv.Await(t, 30*time.Second, "the dead letter already there", func() bool { return has(old) })
	// Only once it is following: the new one must come from following, not
	// from the first read.
	fresh := produce(t, c, letter(ns, ns.Likes(), "bob", "new", events.ReasonMissing, time.Now()))[0]
	testenv.Await(t, 30*time.Second, "the dead letter written while following", func() bool { return has(fresh) })
	if !strings.Contains(out.String(), `"value":"bmV3"`) {
		t.Errorf("followed JSON lacks the new dead letter's value (base64 of \"new\"):\n%s", out.String())
	}
}

// readPosts returns the records of the namespace's posts topic.
func readPosts(t *testing.T, c kafka.Cluster, ns topology.Namespace) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spans, err := c.Whole(ctx, ns.Posts())
	if err != nil {
		t.Fatal(err)
	}
	var out []*kgo.Record
	if err := c.ReadSpans(ctx, spans, false, func(r *kgo.Record) { out = append(out, r) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Republish sends a dead letter's original key and value back to posts,
// says so, and refuses a truncated copy, a derived topic's record and a
// malformed one; --dry-run publishes nothing.
func TestRepublish(t *testing.T) {
	c, ns := setup(t)
	value := "{\"type\":\"created\",\"post_id\":\"p1\",\"user_id\":\"alice\",\"caption\":\"\xff binary \x00 #fixed\"}"
	now := time.Now()
	recs := produce(t, c,
		letter(ns, ns.Posts(), "alice", value, events.ReasonBadJSON, now),
		letter(ns, ns.Posts(), "bob", strings.Repeat("#big ", 2000), events.ReasonTooLarge, now),
		letter(ns, ns.Gen(0).PostChanges(), "sunset", "{}", events.ReasonInvalid, now),
		&kgo.Record{Topic: ns.DeadLetters(), Value: []byte("garbage")},
	)
	good, truncated, derived, malformed := recs[0], recs[1], recs[2], recs[3]
	run := func(s deadletters.Selection, dry bool) (string, error) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := deadletters.Republish(ctx, deadletters.RepublishOptions{Cluster: c, Namespace: ns, Selection: s, DryRun: dry, Out: &out})
		return out.String(), err
	}
	at := func(rs ...*kgo.Record) []deadletters.Position {
		var ps []deadletters.Position
		for _, r := range rs {
			ps = append(ps, deadletters.Position{Partition: r.Partition, Offset: r.Offset})
		}
		return ps
	}

	if _, err := run(deadletters.Selection{}, false); err == nil || !strings.Contains(err.Error(), "selects nothing") {
		t.Errorf("republish with no selection: %v, want it refused", err)
	}
	out, err := run(deadletters.Selection{Positions: at(good)}, true)
	if err != nil || !strings.Contains(out, "would republish "+pos(good)+" -> "+ns.Posts()+` key="alice"`) {
		t.Errorf("dry run: %v\n%s", err, out)
	}
	if got := readPosts(t, c, ns); len(got) != 0 {
		t.Fatalf("the dry run published %d records to posts", len(got))
	}

	out, err = run(deadletters.Selection{Positions: at(good)}, false)
	if err != nil || !strings.Contains(out, "republished "+pos(good)+" -> "+ns.Posts()+"/") || !strings.Contains(out, "republished 1, refused 0") {
		t.Fatalf("republish %s: %v\n%s", pos(good), err, out)
	}
	got := readPosts(t, c, ns)
	if len(got) != 1 || string(got[0].Key) != "alice" || string(got[0].Value) != value {
		t.Fatalf("posts holds %d records after the republish, want 1 with key alice and the original value; first: %+v", len(got), got)
	}

	out, err = run(deadletters.Selection{Positions: append(at(truncated, derived, malformed), deadletters.Position{Partition: 0, Offset: 1 << 40})}, false)
	if err == nil {
		t.Errorf("republishing a truncated, a derived and a malformed dead letter succeeded:\n%s", out)
	}
	for _, want := range []string{
		"refused " + pos(truncated) + ": value truncated: the dead letter kept its first 4096 of 10000 bytes",
		"refused " + pos(derived) + ": source topic " + ns.Gen(0).PostChanges() + " is not " + ns.Posts() + " or " + ns.Likes(),
		"refused " + pos(malformed) + ": malformed",
		"not found 0:1099511627776",
		"republished 0, refused 3, not found 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("republish output lacks %q:\n%s", want, out)
		}
	}
	if got := readPosts(t, c, ns); len(got) != 1 {
		t.Errorf("posts holds %d records after the refused republish, want the 1 from before", len(got))
	}

	// By filter: every posts dead letter of a reason.
	out, err = run(deadletters.Selection{Reasons: []string{events.ReasonBadJSON}, SourceTopics: []string{"posts"}}, false)
	if err == nil || !strings.Contains(out, "republished "+pos(good)) || !strings.Contains(out, "refused "+pos(malformed)) || strings.Contains(out, pos(truncated)) {
		t.Errorf("republish --reason bad_json --source-topic posts: %v\n%s", err, out)
	}
	if got := readPosts(t, c, ns); len(got) != 2 || string(got[1].Value) != value {
		t.Errorf("posts holds %d records after the republish by filter, want 2", len(got))
	}
}
