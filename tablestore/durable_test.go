package tablestore

import (
	"path/filepath"
	"testing"

	"github.com/lovoo/goka/storage"
)

func open(t *testing.T, b storage.Builder, topic string) *Store {
	t.Helper()
	st, err := b(topic, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Store)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	return s
}

func expect(t *testing.T, s *Store, key, want string, offset int64) {
	t.Helper()
	v, _ := s.Get(key)
	if string(v) != want {
		t.Fatalf("%s = %q, want %q", key, v, want)
	}
	if off, _ := s.GetOffset(-2); off != offset {
		t.Fatalf("offset %d, want %d", off, offset)
	}
}

// recover plays what goka does while it reads the changelog: a Set (or
// Delete) per record, then SetOffset with the record's offset.
func recoverRecords(s *Store, records ...any) {
	for i := 0; i < len(records); i += 3 {
		k, v, off := records[i].(string), records[i+1], records[i+2].(int)
		if v == nil {
			s.Delete(k)
		} else {
			s.Set(k, []byte(v.(string)))
		}
		s.SetOffset(int64(off))
	}
}

func TestAReadChangelogLoadsAfterARestart(t *testing.T) {
	b := Durable(t.TempDir(), true, nil)
	s := open(t, b, "counts")
	recoverRecords(s, "a", "1", 4, "b", "2", 5, "b", nil, 6, "a", "3", 7)
	s.MarkRecovered()
	s.Close()
	s = open(t, b, "counts")
	defer s.Close()
	expect(t, s, "a", "3", 7)
	if ok, _ := s.Has("b"); ok {
		t.Fatal("a deleted key came back")
	}
}

// The reason this store exists: a processor's write that the broker never
// acknowledged (the process was killed first) is not in the changelog, so
// it must not be in the table a restart loads either.
func TestAWriteNotAcknowledgedIsNotLoaded(t *testing.T) {
	b := Durable(t.TempDir(), true, nil)
	s := open(t, b, "recent")
	recoverRecords(s, "tag", "v1", 10)
	s.MarkRecovered()
	s.Set("tag", []byte("v2")) // goka's callback; the emit is in flight
	s.Set("other", []byte("x"))
	Acked("recent", 3, "tag", []byte("v2"), 11) // the first write landed, the second did not
	// goka's SetOffset for the ack must not journal anything itself.
	s.SetOffset(11)
	s.Close() // a SIGKILL leaves the same file: nothing is written at Close
	s = open(t, b, "recent")
	defer s.Close()
	expect(t, s, "tag", "v2", 11)
	if ok, _ := s.Has("other"); ok {
		t.Fatal("a write the broker never acknowledged was loaded")
	}
}

func TestAcksOfAnotherTableOrDuringRecoveryAreIgnored(t *testing.T) {
	b := Durable(t.TempDir(), true, nil)
	s := open(t, b, "top")
	Acked("top", 3, "early", []byte("x"), 1) // recovering: the changelog read will bring it
	Acked("top", 4, "k", []byte("x"), 2)     // another partition
	Acked("dead-letters", 3, "k", []byte("x"), 3)
	recoverRecords(s, "early", "x", 1)
	s.MarkRecovered()
	s.Close()
	s = open(t, b, "top")
	defer s.Close()
	expect(t, s, "early", "x", 1)
	if ok, _ := s.Has("k"); ok {
		t.Fatal("an ack of another partition or topic reached this table")
	}
}

func TestAViewJournalsWhatItReadsAfterItsRecoveryToo(t *testing.T) {
	b := Durable(t.TempDir(), false, nil)
	s := open(t, b, "counts")
	recoverRecords(s, "a", "1", 0)
	s.MarkRecovered()
	recoverRecords(s, "a", "2", 1) // a view goes on reading the changelog
	s.Close()
	s = open(t, b, "counts")
	defer s.Close()
	expect(t, s, "a", "2", 1)
}

func TestTwoStoresOfOneJournalAreRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Durable(dir, true, nil), "counts")
	defer s.Close()
	st, _ := Durable(dir, true, nil)("counts", 3)
	if err := st.Open(); err == nil {
		t.Fatalf("a second store opened the journal in use (%s)", filepath.Join(dir, "counts", "3.journal"))
	}
}

// A compaction while writes are in flight writes the values the journal
// holds for their keys, not the table's: otherwise a kill after it would
// load a write the broker never had.
func TestACompactionKeepsInFlightWritesOut(t *testing.T) {
	b := Durable(t.TempDir(), true, nil)
	s := open(t, b, "lists")
	recoverRecords(s, "hot", "v0", 0, "gone", "g", 1)
	s.MarkRecovered()
	s.Set("hot", []byte("in flight")) // never acknowledged
	s.Delete("gone")                  // nor this
	big := make([]byte, 64<<10)
	for i := range 150 { // past journal.MinCompact, so the acks compact
		s.Set("filler", big)
		Acked("lists", 3, "filler", big, int64(2+i))
	}
	if s.d.j.NeedsCompaction() {
		t.Fatal("the journal was never compacted")
	}
	s.Close()
	s = open(t, b, "lists")
	defer s.Close()
	expect(t, s, "hot", "v0", 151)
	if v, _ := s.Get("gone"); string(v) != "g" {
		t.Fatalf("gone = %q after a compaction: its delete was in flight, the journal must still hold it", v)
	}
}

// An acknowledged offset that does not follow the journal's last means a
// record it never saw: the journal is removed, not left as a wrong prefix.
func TestAGapInTheAcknowledgedOffsetsRemovesTheJournal(t *testing.T) {
	b := Durable(t.TempDir(), true, nil)
	s := open(t, b, "counts")
	recoverRecords(s, "a", "1", 5)
	s.MarkRecovered()
	s.Set("a", []byte("2"))
	Acked("counts", 3, "a", []byte("2"), 7) // 6 was someone else's
	s.Set("a", []byte("3"))
	Acked("counts", 3, "a", []byte("3"), 8)
	s.Close()
	s = open(t, b, "counts")
	defer s.Close()
	if ok, _ := s.Has("a"); ok {
		t.Fatal("a journal with a gap was loaded")
	}
	if off, _ := s.GetOffset(-2); off != -2 {
		t.Fatalf("offset %d after the journal was removed, want none", off)
	}
}

// A journal ahead of its changelog's end (the topic was recreated under
// it) or behind its start is emptied at open, not taken for up to date.
func TestAJournalThatIsNotAPrefixOfItsChangelogIsEmptied(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Durable(dir, true, nil), "counts")
	recoverRecords(s, "a", "1", 5)
	s.MarkRecovered()
	s.Close()
	for _, c := range []struct {
		name       string
		start, end int64
		kept       bool
	}{{"recreated", 0, 3, false}, {"truncated", 7, 9, false}, {"its own", 0, 6, true}, {"behind", 6, 40, true}} {
		// write it again each time: an emptied journal stays empty
		s := open(t, Durable(dir, true, nil), "counts")
		recoverRecords(s, "a", "1", 5)
		s.Close()
		bounds := func(string, int32) (int64, int64, error) { return c.start, c.end, nil }
		s = open(t, Durable(dir, true, bounds), "counts")
		if ok, _ := s.Has("a"); ok != c.kept {
			t.Errorf("%s changelog [%d, %d) against a journal at offset 5: loaded %v, want %v", c.name, c.start, c.end, ok, c.kept)
		}
		s.Close()
	}
}
