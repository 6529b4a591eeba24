package processors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/journal"
	"github.com/tagstream/tagstream/topology"
)

// With --state-dir, a restore loads the journal and reads only the
// changelog after it; a journal that is not a prefix of the changelog (the
// topic was recreated) is dropped and the whole partition read.
func TestRestoreReadsTheJournalThenOnlyTheTail(t *testing.T) {
	c := startBroker(t, 1)
	c.StateDir = t.TempDir()
	ctx, cl := producerOf(t, c)
	table := topology.Gen{}.ExtractorTable()
	produce := func(key, keys string) {
		t.Helper()
		v := fmt.Appendf(nil, `{"keys":[%q]}`, keys)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: table, Key: []byte(key), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	restored := func() map[string][]string {
		t.Helper()
		states, journals, err := restore(ctx, c, table, []int32{0}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		closeAll(journals)
		got := map[string][]string{}
		for k := range states[0].raw {
			ps, err := states[0].post(k)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = ps.Keys
		}
		return got
	}
	same := func(got map[string][]string, want map[string]string) bool {
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if !slices.Equal(got[k], []string{v}) {
				return false
			}
		}
		return true
	}
	produce("alice/p1", "a") // offset 0
	produce("alice/p2", "b") // offset 1
	if got := restored(); !same(got, map[string]string{"alice/p1": "a", "alice/p2": "b"}) {
		t.Fatalf("first restore: %v", got)
	}
	// Rewrite the journal's p1 at the same offset, so the restore can only
	// show "j" if it did not read offset 0 from Kafka again.
	path := stateJournalPath(c.StateDir, table, 0)
	j, _, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Compact(func(yield func(string, []byte) error) error {
		if err := yield("alice/p1", []byte(`{"keys":["j"]}`)); err != nil {
			return err
		}
		return yield("alice/p2", []byte(`{"keys":["b"]}`))
	})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	produce("bob/p3", "c") // offset 2: the tail
	if got := restored(); !same(got, map[string]string{"alice/p1": "j", "alice/p2": "b", "bob/p3": "c"}) {
		t.Fatalf("restore from the journal: %v, want p1 from the journal and p3 from the tail", got)
	}
	// A journal past the changelog's end belongs to another incarnation of
	// the topic.
	j, _, err = journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j.Append("ghost/p9", []byte(`{"keys":["x"]}`), 99)
	j.Close()
	if got := restored(); !same(got, map[string]string{"alice/p1": "a", "alice/p2": "b", "bob/p3": "c"}) {
		t.Fatalf("restore past a foreign journal: %v, want the changelog alone", got)
	}
}
