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
	b := Durable(t.TempDir(), true)
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
	b := Durable(t.TempDir(), true)
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
	b := Durable(t.TempDir(), true)
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
	b := Durable(t.TempDir(), false)
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
	s := open(t, Durable(dir, true), "counts")
	defer s.Close()
	st, _ := Durable(dir, true)("counts", 3)
	if err := st.Open(); err == nil {
		t.Fatalf("a second store opened the journal in use (%s)", filepath.Join(dir, "counts", "3.journal"))
	}
}
