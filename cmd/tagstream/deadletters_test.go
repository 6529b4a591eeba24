package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/pipeline"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
)

// A post the extractor rejects shows in `tagstream dead-letters` with its
// reason, its source and the group that rejected it; --reason, --json and
// `republish --offsets --dry-run` reach the package from their flags.
func TestDeadLettersCommandShowsWhatAWorkerRejected(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 3
	ns := kafkatest.NamespaceOn(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.EnsureTopics(ctx, ns.Gen(0).Topics()); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ignoreCancel(pipeline.Worker(wctx, c, processors.Options{Gen: ns.Gen(0), Groups: []string{"extractor"}}))
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	cl, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: ns.Posts(), Key: []byte("alice"), Value: []byte("not json \x1b[2J")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := dispatch(ctx, append(args, "--brokers", strings.Join(c.Brokers, ","), "--namespace", string(ns)), nil, &out)
		return out.String(), err
	}
	var out string
	testenv.Await(t, time.Minute, "the extractor's dead letter in the listing", func() bool {
		out, err = run("dead-letters")
		return err == nil && out != ""
	})
	line := regexp.MustCompile(`^(\d+:\d+) \S+ bad_json ` + regexp.QuoteMeta(ns.Posts()) + `/\d+@0 group=` + regexp.QuoteMeta(ns.Gen(0).Extractor()) +
		` key="alice" error="events: bad_json: [^\n]*" value="not json \\x1b\[2J" \(13 B\)\n$`)
	m := line.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dead-letters printed %q, want one line matching %s", out, line)
	}
	if out, err := run("dead-letters", "--reason", "limit"); err != nil || out != "" {
		t.Errorf("dead-letters --reason limit: %q, %v; want nothing", out, err)
	}
	if out, err := run("dead-letters", "--json"); err != nil || !strings.HasPrefix(out, `{"partition":`) || !strings.Contains(out, `"reason":"bad_json"`) {
		t.Errorf("dead-letters --json: %q, %v", out, err)
	}
	if out, err := run("dead-letters", "republish", "--offsets", m[1], "--dry-run"); err != nil ||
		!strings.Contains(out, "would republish "+m[1]+" -> "+ns.Posts()+` key="alice" value="not json \x1b[2J" (13 B)`) {
		t.Errorf("dead-letters republish --offsets %s --dry-run: %v\n%s", m[1], err, out)
	}
	if _, err := run("dead-letters", "republish"); err == nil {
		t.Error("dead-letters republish with no selection succeeded")
	}
}
