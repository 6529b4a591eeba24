package journal

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

type op struct {
	key    string
	value  []byte // nil: delete
	offset int64
}

var ops = []op{
	{"a", []byte("1"), 0},
	{"b", []byte("2"), 3},
	{"a", []byte("11"), 4},
	{"c", []byte{}, 7}, // an empty value is a value, not a delete
	{"b", nil, 8},
	{"d", []byte("4"), 9},
}

// want is the state after the first n ops.
func want(n int) (map[string][]byte, int64) {
	m, off := map[string][]byte{}, int64(-1)
	for _, o := range ops[:n] {
		if o.value == nil {
			delete(m, o.key)
		} else {
			m[o.key] = o.value
		}
		off = o.offset
	}
	return m, off
}

func write(t *testing.T, path string, n int) []int64 {
	t.Helper()
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for _, o := range ops[:n] {
		if err := j.Append(o.key, o.value, o.offset); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, j.size)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return ends
}

// written journals every op in a fresh directory and returns it, where
// each record ends and the file's bytes.
func written(t *testing.T) (string, []int64, []byte) {
	t.Helper()
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	ends := write(t, full, len(ops))
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	return dir, ends, data
}

func load(t *testing.T, path string) Loaded {
	t.Helper()
	j, l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return l
}

func check(t *testing.T, l Loaded, n int) {
	t.Helper()
	m, off := want(n)
	if !maps.EqualFunc(l.Values, m, func(a, b []byte) bool { return string(a) == string(b) && (a == nil) == (b == nil) }) || l.Offset != off {
		t.Fatalf("loaded %q at %d, want %q at %d (the first %d records)", l.Values, l.Offset, m, off, n)
	}
}

func TestReopenLoadsWhatWasAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t", "0.journal")
	write(t, path, len(ops))
	l := load(t, path)
	check(t, l, len(ops))
	if l.Cut != 0 {
		t.Fatalf("a clean file was cut by %d bytes", l.Cut)
	}
}

// Invariant 1: a file cut anywhere (a kill during a write) loads the records
// wholly before the cut, and later appends continue that prefix.
func TestATornTailLoadsTheIntactPrefix(t *testing.T) {
	dir, ends, data := written(t)
	for cut := 0; cut <= len(data); cut++ {
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		whole := 0
		for whole < len(ends) && ends[whole] <= int64(cut) {
			whole++
		}
		l := load(t, path)
		check(t, l, whole)
		var kept int64
		if whole > 0 {
			kept = ends[whole-1]
		}
		if l.Cut != int64(cut)-kept {
			t.Fatalf("cut at %d: reported %d bytes cut, want %d", cut, l.Cut, int64(cut)-kept)
		}
		// Appending after the intact prefix must not leave the torn bytes
		// between: the next load sees the new record.
		appendOne(t, path, "z", "after", 100)
		if l := load(t, path); string(l.Values["z"]) != "after" || l.Offset != 100 || l.Cut != 0 {
			t.Fatalf("cut at %d: a record appended after the cut did not load: %q at %d, cut %d", cut, l.Values, l.Offset, l.Cut)
		}
	}
}

// Invariant 1: a flipped byte ends the prefix at the record that holds it.
func TestACorruptRecordEndsThePrefix(t *testing.T) {
	dir, ends, data := written(t)
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x5a
		path := filepath.Join(dir, fmt.Sprintf("bad%d", i))
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		whole := 0
		for whole < len(ends) && ends[whole] <= int64(i) {
			whole++
		}
		check(t, load(t, path), whole)
	}
}

func TestAppendIgnoresOffsetsItHasPassed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	write(t, path, len(ops))
	appendOne(t, path, "a", "stale", 4)
	check(t, load(t, path), len(ops))
}

// appendOne opens the journal at path, appends one record and closes it.
func appendOne(t *testing.T, path, key, value string, offset int64) {
	t.Helper()
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(key, []byte(value), offset); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// Invariant 3: compaction keeps the state and the offset, shrinks the file,
// and appends go on after it.
func TestCompactKeepsTheStateAndTheOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string][]byte{}
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i%10)
		v := []byte(fmt.Sprintf("v%d", i))
		live[k] = v
		if err := j.Append(k, v, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := j.size
	err = j.Compact(func(yield func(string, []byte) error) error {
		for k, v := range live {
			if err := yield(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if j.size*50 > before {
		t.Fatalf("compaction left %d of %d bytes for 10 live keys of 1000 writes", j.size, before)
	}
	if err := j.Append("k0", []byte("new"), 1000); err != nil {
		t.Fatal(err)
	}
	live["k0"] = []byte("new")
	j.Close()
	l := load(t, path)
	if !maps.EqualFunc(l.Values, live, func(a, b []byte) bool { return string(a) == string(b) }) || l.Offset != 1000 {
		t.Fatalf("after compaction loaded %q at %d, want %q at 1000", l.Values, l.Offset, live)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compaction left its temporary file: %v", err)
	}
}

func TestNeedsCompactionAtTwiceItsBase(t *testing.T) {
	j := &Journal{size: MinCompact + 2, base: MinCompact/2 + 1}
	if j.NeedsCompaction() {
		t.Fatal("compaction asked below twice the base")
	}
	j.base = MinCompact / 2
	if !j.NeedsCompaction() {
		t.Fatal("compaction not asked past twice the base and MinCompact")
	}
	j.size, j.base = MinCompact, 1
	if j.NeedsCompaction() {
		t.Fatal("compaction asked below MinCompact")
	}
}

func TestASecondWriterIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second Open of a journal in use: %v, want ErrLocked", err)
	}
}

// FuzzParse: any bytes load as a prefix without panicking, and the prefix
// itself loads to the same state.
func FuzzParse(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed")
	j, _, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, o := range ops {
		j.Append(o.key, o.value, o.offset)
	}
	j.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, good := parse(data)
		if good < 0 || good > int64(len(data)) || l.Cut != int64(len(data))-good {
			t.Fatalf("prefix %d, cut %d of %d bytes", good, l.Cut, len(data))
		}
		again, g2 := parse(data[:good])
		if g2 != good || again.Offset != l.Offset || !maps.EqualFunc(again.Values, l.Values, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("the intact prefix loads differently from the whole")
		}
	})
}

// A journal loaded with much overwritten history asks for compaction by
// its live records, not by its file size at load.
func TestALoadedJournalCompactsByItsLiveSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 1<<10)
	for i := range MinCompact/len(v) + 100 {
		if err := j.Append(fmt.Sprint(i%10), v, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	j, _, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if !j.NeedsCompaction() {
		t.Fatalf("a %d-byte journal of 10 live keys loaded and did not ask for compaction (base %d)", j.size, j.base)
	}
}

// A journal that cannot be a prefix of its changelog is reset, and a
// reset journal loads nothing and takes appends from any offset.
func TestFitsAndReset(t *testing.T) {
	l := Loaded{Offset: 5}
	for _, c := range []struct {
		start, end int64
		fits       bool
	}{{0, 6, true}, {6, 40, true}, {0, 5, false}, {7, 9, false}} {
		if l.Fits(c.start, c.end) != c.fits {
			t.Errorf("a journal at 5 against [%d, %d): fits %v, want %v", c.start, c.end, !c.fits, c.fits)
		}
	}
	if !(Loaded{Offset: -1}).Fits(3, 4) {
		t.Error("an empty journal does not fit")
	}
	path := filepath.Join(t.TempDir(), "j")
	write(t, path, len(ops))
	j, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append("z", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if l := load(t, path); len(l.Values) != 1 || string(l.Values["z"]) != "1" || l.Offset != 0 {
		t.Fatalf("after a reset and one append: %q at %d", l.Values, l.Offset)
	}
}
