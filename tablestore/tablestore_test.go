package tablestore

import (
	"fmt"
	"testing"

	"github.com/lovoo/goka/storage"
)

var _ storage.Storage = (*Store)(nil)

func TestSetGetDeleteOffset(t *testing.T) {
	s := New()
	if off, _ := s.GetOffset(-2); off != -2 {
		t.Fatalf("offset before any SetOffset = %d, want the default", off)
	}
	s.Set("b", []byte("2"))
	s.Set("a", []byte("1"))
	s.Set("b", []byte("3"))
	if v, _ := s.Get("b"); string(v) != "3" {
		t.Fatalf("b = %q", v)
	}
	if err := s.Set("c", nil); err != ErrNilValue {
		t.Fatalf("nil value: %v", err)
	}
	s.Delete("a")
	if ok, _ := s.Has("a"); ok {
		t.Fatal("a still there after Delete")
	}
	s.SetOffset(41)
	if off, _ := s.GetOffset(-2); off != 41 {
		t.Fatalf("offset = %d", off)
	}
}

func collect(it storage.Iterator) []string {
	var out []string
	for it.Next() {
		v, _ := it.Value()
		out = append(out, string(it.Key())+"="+string(v))
	}
	return out
}

func TestIteratorsAreSortedSnapshots(t *testing.T) {
	s := New()
	for _, k := range []string{"sunset", "beach", "sun", "surf", "a"} {
		s.Set(k, []byte(k))
	}
	it, _ := s.Iterator()
	s.Set("zzz", []byte("late")) // not in the snapshot
	if got := fmt.Sprint(collect(it)); got != "[a=a beach=beach sun=sun sunset=sunset surf=surf]" {
		t.Fatalf("Iterator: %s", got)
	}
	it, _ = s.IteratorWithRange([]byte("sun"), nil)
	if got := fmt.Sprint(collect(it)); got != "[sun=sun sunset=sunset]" {
		t.Fatalf("prefix range: %s", got)
	}
	it, _ = s.IteratorWithRange([]byte("b"), []byte("sunset"))
	if got := fmt.Sprint(collect(it)); got != "[beach=beach sun=sun]" {
		t.Fatalf("range [b, sunset): %s", got)
	}
	it, _ = s.Iterator()
	if !it.Seek([]byte("su")) || string(it.Key()) != "sun" {
		t.Fatalf("Seek(su) at %q", it.Key())
	}
}

// The reason this package exists: inserting new keys must not cost a sort.
// One op inserts 5,000 new keys into an empty store.
func BenchmarkInsert5000Keys(b *testing.B) {
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user%d/post%d", i%1000, i)
	}
	v := []byte(`{"keys":["a","b"]}`)
	for _, impl := range []struct {
		name string
		new  func() storage.Storage
	}{{"tablestore", func() storage.Storage { return New() }}, {"goka-memory", storage.NewMemory}} {
		b.Run(impl.name, func(b *testing.B) {
			for b.Loop() {
				s := impl.new()
				for _, k := range keys {
					s.Set(k, v)
				}
			}
		})
	}
}
