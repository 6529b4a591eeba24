package events

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// sameAsMarshal checks append.go's invariant for one value: its bytes are
// json.Marshal's, or it says it cannot and json.Marshal fails too... or
// succeeds (the codec then uses it: only equality when it claims ok
// matters).
func sameAsMarshal(t *testing.T, v jsonAppender) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, ok := v.appendJSON(nil)
	if !ok {
		if wantErr == nil {
			t.Logf("appendJSON declined a value json.Marshal encodes (the codec falls back): %s", want)
		}
		return
	}
	if wantErr != nil {
		t.Fatalf("appendJSON encoded a value json.Marshal refuses (%v): %s", wantErr, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendJSON differs from json.Marshal:\n got %s\nwant %s", got, want)
	}
}

var appendCases = []string{
	"",
	"#sunset over the bay",
	`quotes " and \ backslash`,
	"html <b>&amp;</b> >",
	"controls \x00\x01\b\f\n\r\t\x1f\x7f",
	"unicode é 日本 🌅 \u2028 \u2029",
	"invalid \xff\xfe utf-8 \xc3",
	"surrogate half \xed\xa0\x80",
}

var appendTimes = []time.Time{
	{},
	time.Date(2026, 11, 29, 21, 10, 28, 38_000_000, time.UTC),
	time.Date(2026, 11, 29, 21, 10, 28, 123_456_789, time.FixedZone("CET", 3600)),
	time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("odd", -(5*3600+30*60))),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // json.Marshal refuses
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("s", 61)),
}

func TestAppendJSONEqualsMarshal(t *testing.T) {
	for _, caption := range appendCases {
		for _, at := range appendTimes {
			s := PostSummary{PostID: "p" + caption, UserID: "u", ImageID: caption, Caption: caption, CreatedAt: at, LikeCount: -3, Rev: 7}
			w := ChangeWatermarks{11: {Posts: 5, Likes: -1}, 2: {Posts: 0, Likes: 9}}
			sameAsMarshal(t, Recent{Posts: []PostSummary{s, {PostID: "x", UserID: "y"}}, UpdatedAt: at, W: w})
			sameAsMarshal(t, Recent{})
			sameAsMarshal(t, Recent{Posts: []PostSummary{}})
			sameAsMarshal(t, Top{TopPosts: []PostSummary{s}, ComputedAt: at, Removed: []Removal{{Key: caption, At: at}, {Key: "b"}}, W: w, UpdatedAt: at})
			sameAsMarshal(t, Top{})
			for _, floor := range []float64{0, 1.5, -2e-9, 1e21, 123456789.125} {
				sameAsMarshal(t, Ranked{Display: caption, Posts: []PostSummary{s, s}, Floor: floor, Dirty: true, PublishedAt: at, W: w})
			}
			sameAsMarshal(t, Ranked{})
			sameAsMarshal(t, Delta{Hashtag: caption, Display: caption, Delta: -2, Source: Source{Partition: 3, Offset: 1 << 40}})
			sameAsMarshal(t, Delta{})
			sameAsMarshal(t, PostChanges{Hashtag: caption, Display: "D" + caption, Source: ChangeSource{Partition: 1, Posts: -1, Likes: 4},
				Changes: []PostChange{{Post: s, Live: true, N: 1}, {Post: PostSummary{PostID: "q", UserID: "v"}}, {Post: s, N: -1}}})
			sameAsMarshal(t, PostChanges{})
			sameAsMarshal(t, PostChanges{Changes: []PostChange{}})
			sameAsMarshal(t, PostState{Keys: []string{caption, "b"}, Display: []string{"A" + caption, "B"}, ImageID: caption,
				Created: at, Caption: caption, Likes: 3, Rev: 9, Deleted: true})
			sameAsMarshal(t, PostState{Caption: caption, Created: at})
			sameAsMarshal(t, PostState{Deleted: true})
			sameAsMarshal(t, PostState{Keys: []string{}, Likes: -1})
			sameAsMarshal(t, PostState{})
			sameAsMarshal(t, Count{Display: caption, PostCount: -4, UpdatedAt: at, Watermarks: map[int32]int64{10: 1 << 40, 2: -1, 0: 0, -3: 5, 100: 7}})
			sameAsMarshal(t, Count{Display: caption, UpdatedAt: at, Watermarks: map[int32]int64{}})
			sameAsMarshal(t, Count{})
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		if _, ok := (Ranked{Floor: bad}).appendJSON(nil); ok {
			t.Errorf("appendJSON encoded floor %v, which JSON cannot hold", bad)
		}
	}
}

// The codec still encodes what appendJSON declines, through json.Marshal,
// and refuses what that refuses.
func TestCachedEncodeFallsBack(t *testing.T) {
	c := NewCached[Recent]("test_fallback", 0, Replaced)
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := c.Encode(Recent{UpdatedAt: far}); err == nil {
		t.Fatalf("encoded a time json.Marshal refuses")
	}
	b, err := c.Encode(Recent{Posts: []PostSummary{{PostID: "p", UserID: "u", Caption: "<x>"}}})
	if want, _ := json.Marshal(Recent{Posts: []PostSummary{{PostID: "p", UserID: "u", Caption: "<x>"}}}); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("encoded %s, %v; want %s", b, err, want)
	}
}

// An ordinary list (no escapes) encodes in one allocation: jsonSize is
// large enough for it.
func TestAppendJSONAllocatesOnce(t *testing.T) {
	r := recentOf(200, "#sunset #beach #summer over the bay, with friends")
	for i := range r.Posts {
		r.Posts[i].CreatedAt = time.Date(2026, 11, 29, 21, 10, i%60, 123_456_789, time.UTC)
		r.Posts[i].ImageID = "01JDX8Y7Q2M3N4P5R6S7T8V9W0"
	}
	// (Without watermarks: json.Marshal encodes those, in a few more.)
	if n := testing.AllocsPerRun(10, func() { r.appendJSON(make([]byte, 0, r.jsonSize())) }); n != 1 {
		t.Fatalf("%v allocations, want 1", n)
	}
}

func FuzzAppendJSONEqualsMarshal(f *testing.F) {
	for _, c := range appendCases {
		f.Add(c, c, int64(1764450628), int64(38_000_000), 0, int64(3), 1.5)
	}
	f.Fuzz(func(t *testing.T, id, caption string, sec, nsec int64, zone int, likes int64, floor float64) {
		at := time.Unix(sec%(400*365*86400), nsec%1_000_000_000).In(time.FixedZone("z", zone%(30*3600)))
		s := PostSummary{PostID: id, UserID: caption, ImageID: id, Caption: caption, CreatedAt: at, LikeCount: likes, Rev: likes / 3}
		w := ChangeWatermarks{int32(likes % 12): {Posts: sec, Likes: nsec}, int32(zone): {Posts: nsec, Likes: sec}}
		sameAsMarshal(t, Recent{Posts: []PostSummary{s}, UpdatedAt: at, W: w})
		sameAsMarshal(t, Top{TopPosts: []PostSummary{s}, ComputedAt: at, Removed: []Removal{{Key: id, At: at}}, W: w, UpdatedAt: at})
		sameAsMarshal(t, Ranked{Display: caption, Posts: []PostSummary{s}, Floor: floor, Dirty: likes%2 == 0, PublishedAt: at, W: w})
		sameAsMarshal(t, Delta{Hashtag: id, Display: caption, Delta: likes, Source: Source{Partition: int32(zone), Offset: sec}})
		sameAsMarshal(t, PostChanges{Hashtag: id, Display: caption, Changes: []PostChange{{Post: s, Live: likes%2 == 0, N: likes % 3}},
			Source: ChangeSource{Partition: int32(zone), Posts: sec, Likes: nsec}})
		sameAsMarshal(t, PostState{Keys: []string{id}[:zone&1], Display: []string{caption}[:zone>>1&1], ImageID: id, Created: at,
			Caption: caption, Likes: likes, Rev: sec, Deleted: nsec%2 == 0})
		sameAsMarshal(t, Count{Display: caption, PostCount: likes, UpdatedAt: at, Watermarks: map[int32]int64{int32(zone): sec, int32(likes % 13): nsec}})
	})
}

func BenchmarkEncodeRecent(b *testing.B) {
	r := recentOf(200, "#sunset #beach #summer over the bay, with friends <3")
	for i := range r.Posts {
		r.Posts[i].CreatedAt = time.Date(2026, 11, 29, 21, 10, i, 38_000_000, time.UTC)
	}
	b.Run("json.Marshal", func(b *testing.B) {
		for range b.N {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		for range b.N {
			if _, ok := r.appendJSON(make([]byte, 0, r.jsonSize())); !ok {
				b.Fatal("declined")
			}
		}
	})
}
