package processors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/events"
)

// A SIGKILL between the ranking's document and the table write that marks
// it published loses the document for good; so a process that gains
// partitions republishes the tops published in the window before, and
// only those, and a sweep that fails keeps that duty for the next one.
func TestSweepsRepublishWhatADeadProcessMayHaveLost(t *testing.T) {
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	interval := time.Minute
	d := &dirtyKeys{keys: map[string]struct{}{}}
	d.gained(start)

	published := func(ago time.Duration, dirty bool) events.Ranked {
		return events.Ranked{Dirty: dirty, PublishedAt: start.Add(-ago)}
	}
	cases := []struct {
		name string
		r    events.Ranked
		want sweepAction
	}{
		{"published just before the start: may be lost", published(time.Second, false), sweepRepublish},
		{"published at the window's edge", published(RepublishWindow, false), sweepRepublish},
		{"published long before: delivered", published(RepublishWindow+time.Second, false), sweepSkip},
		{"never published, nothing to show", events.Ranked{}, sweepSkip},
		{"changed, last document old", published(2*interval, true), sweepPublish},
		{"changed, last document too recent", published(time.Second, true), sweepLater},
	}

	sw := d.take(start)
	if sw.empty() || !sw.all {
		t.Fatalf("the first sweep after gaining partitions does not visit every key: %+v", sw)
	}
	// It fails (the table is still recovering): the next one does it all.
	d.failed(sw)
	sw = d.take(start.Add(time.Second))
	sw.now = start
	for _, c := range cases {
		if got := sw.action("k", c.r, interval); got != c.want {
			t.Errorf("%s: action %d, want %d", c.name, got, c.want)
		}
	}

	// Once done, the next sweeps visit only the keys that changed, and
	// republish nothing.
	d.add("changed")
	sw = d.take(start)
	if sw.all || !sw.republish.IsZero() {
		t.Fatalf("a later sweep visits all (%v) or republishes since %v", sw.all, sw.republish)
	}
	if got := sw.action("other", published(time.Second, false), interval); got != sweepSkip {
		t.Errorf("a later sweep acts (%d) on a key that did not change", got)
	}
	if got := sw.action("changed", published(time.Second, false), interval); got != sweepSkip {
		t.Errorf("a later sweep republishes (%d) a top that did not change", got)
	}
	if got := sw.action("changed", published(2*interval, true), interval); got != sweepPublish {
		t.Errorf("a later sweep does not publish (%d) a changed top", got)
	}
	// A failed sweep without republishing keeps none.
	d.failed(sw)
	if sw = d.take(start); !sw.all || !sw.republish.IsZero() {
		t.Errorf("after a failed plain sweep: all %v, republish since %v; want every key and no republishing", sw.all, sw.republish)
	}
}

// Every goka input edge of the groups goes through input, so that no
// group commits a message ahead of earlier writes (commit.go): a new
// group defined with goka.Input would bring the lost writes back.
func TestInputsCommitInOrder(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "commit.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "goka.Input("); n > 0 {
			t.Errorf("%s defines %d input edge(s) with goka.Input; use input (commit.go)", f, n)
		}
	}
}
