package events

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func recent(i int) Recent {
	return Recent{Posts: []PostSummary{{PostID: fmt.Sprint("p", i), UserID: "u", LikeCount: int64(i)}}, UpdatedAt: time.UnixMilli(int64(i)).UTC()}
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := (JSON[Recent]{}).Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A CachedJSON decodes what it encoded to the very value (no parse: the
// slice shares its array), anything else by parsing it, and forgets old
// values past its size.
func TestCachedJSONDecodesWhatItEncoded(t *testing.T) {
	c := NewCachedJSON[Recent](0)
	c.c.half = len(mustEncode(t, recent(5))) * 2 // two values a generation (0 is shorter: no like_count)
	encoded := map[int][]byte{}
	for i := range 6 {
		b, err := c.Encode(recent(i))
		if err != nil {
			t.Fatal(err)
		}
		encoded[i] = b
	}
	// The newest 2 to 4 values are remembered (all encodings have the
	// same length here); 0 and 1 are not.
	for i := range 6 {
		got, err := c.Decode(append([]byte(nil), encoded[i]...)) // other bytes, same content
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, recent(i)) {
			t.Fatalf("value %d decodes to %+v", i, got)
		}
		_, cached := c.c.get(encoded[i])
		if want := i >= 2; cached != want {
			t.Errorf("value %d cached %v, want %v (cache of 2 to 4 values)", i, cached, want)
		}
	}
	// A hit is the value encoded, not a parse of it.
	v := recent(9)
	b, _ := c.Encode(v)
	got, _ := c.Decode(b)
	if &got.(Recent).Posts[0] != &v.Posts[0] {
		t.Error("a cached value was parsed again")
	}
	// A pointer encodes like its value; bytes never encoded are parsed.
	if b2, err := c.Encode(&v); err != nil || string(b2) != string(b) {
		t.Errorf("*Recent encodes to %s, %v; want %s", b2, err, b)
	}
	if _, err := c.Decode([]byte(`{"posts":[`)); err == nil {
		t.Error("malformed bytes decoded")
	}
	if _, err := c.Encode(Count{}); err == nil {
		t.Error("a Count encoded as a Recent")
	}
}

// BenchmarkListDecode: what the cache saves per callback on a full
// recent list (events.RecentKept summaries).
func BenchmarkListDecode(b *testing.B) {
	r := Recent{}
	for i := range RecentKept {
		r.Posts = append(r.Posts, PostSummary{PostID: fmt.Sprint("post-", i), UserID: "someone", ImageID: "img-0123456789",
			Caption: "A caption of some length #with #a #few #hashtags", CreatedAt: time.UnixMilli(int64(i)).UTC(), LikeCount: int64(i)})
	}
	for _, codec := range []struct {
		name string
		c    interface {
			Encode(any) ([]byte, error)
			Decode([]byte) (any, error)
		}
	}{{"json", JSON[Recent]{}}, {"cached", NewCachedJSON[Recent](16 << 20)}} {
		b.Run(codec.name, func(b *testing.B) {
			data, _ := codec.c.Encode(r)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := codec.c.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
