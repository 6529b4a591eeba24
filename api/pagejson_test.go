package api

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// samplePages are pages whose every field is set, unset, or awkward to
// encode: escapes, invalid UTF-8, zones, monotonic readings, nil lists.
func samplePages() []PageJSON {
	zone := time.FixedZone("odd", -(3*3600 + 30*60))
	odd := []string{"", "plain", `"q" \ back`, "<b>&amp;</b>", "\x00\x01\b\f\n\r\t\x1f\x7f", "\xff\xfe ok \xc3", "line\u2028para\u2029", "日本 ＃ 🌅", strings.Repeat("é", 300)}
	var posts []PostJSON
	for i, s := range odd {
		posts = append(posts, PostJSON{PostID: s, UserID: odd[(i+1)%len(odd)], ImageID: odd[(i+2)%len(odd)], ImageURL: "https://cdn/img/a/b?w=640&exp=1&kid=k&sig=x" + s,
			Caption: odd[(i+3)%len(odd)], LikeCount: int64(i*1000 - 3)})
	}
	posts[1].CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	posts[2].CreatedAt = time.Date(1, 1, 1, 0, 0, 0, 1, zone)
	posts[3].CreatedAt = time.Now() // with a monotonic reading
	posts[4].CreatedAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, zone)
	posts[5].LikeCount = -1 << 63
	hot := hotPage()
	s := &server{cfg: Config{Signer: keyring, CDNBase: "https://cdn.example.com", ImageWidth: 640, ImageWidths: []int{160, 320, 640, 1080}}}
	return []PageJSON{
		{},
		{Hashtag: "Sunset", Key: "sunset", PostCount: 42, TopPosts: []PostJSON{}, RecentPosts: []PostJSON{}, ImageWidths: []int{640}},
		{Hashtag: odd[3], Key: odd[5], PostCount: -7, TopPosts: posts, RecentPosts: posts[2:], UpdatedAt: time.Date(2026, 11, 30, 4, 0, 0, 0, zone)},
		{Hashtag: odd[6], TopPosts: nil, RecentPosts: posts[:1], UpdatedAt: time.Now()},
		s.pageJSON(hot, time.Unix(1_800_000_000, 0)),
	}
}

// appendPageJSON writes what the encoder writes, byte for byte.
func TestAppendPageJSONMatchesEncoder(t *testing.T) {
	for i, p := range samplePages() {
		want, err := encodeJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendPageJSON(nil, &p)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("page %d: ok %v\n got %s\nwant %s", i, ok, got, want)
		}
	}
}

// A time the encoder refuses is reported, so the encoder's error is
// what the caller sees.
func TestAppendPageJSONRefusesWhatTheEncoderRefuses(t *testing.T) {
	for _, at := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))} {
		for _, p := range []PageJSON{{UpdatedAt: at}, {TopPosts: []PostJSON{{CreatedAt: at}}}, {RecentPosts: []PostJSON{{}, {CreatedAt: at}}}} {
			if _, ok := appendPageJSON(nil, &p); ok {
				t.Errorf("%v: appendPageJSON ok", at)
			}
			if _, err := encodeJSON(p); err == nil {
				t.Errorf("%v: the encoder took it: the fallback would differ", at)
			}
		}
	}
}

func FuzzAppendPageJSON(f *testing.F) {
	f.Add("Sunset", "sunset", "p1", "alice", "gold <&> \u2028", int64(42), int64(1_700_000_000_123_456_789), 3600)
	f.Add("\xff", "", "\x00", "\"\\", "", int64(-1), int64(0), -12*3600)
	f.Fuzz(func(t *testing.T, hashtag, key, id, user, caption string, n, nanos int64, offset int) {
		at := time.Unix(0, nanos).In(time.FixedZone("z", offset%(30*3600)))
		p := PageJSON{Hashtag: hashtag, Key: key, PostCount: n, UpdatedAt: at,
			TopPosts:    []PostJSON{{PostID: id, UserID: user, ImageID: caption, ImageURL: user + "?a&b", Caption: caption, CreatedAt: at, LikeCount: n}},
			RecentPosts: []PostJSON{{PostID: caption, UserID: id}}}
		want, err := encodeJSON(p)
		got, ok := appendPageJSON(nil, &p)
		if ok != (err == nil) || ok && !bytes.Equal(got, want) {
			t.Fatalf("ok %v err %v\n got %s\nwant %s", ok, err, got, want)
		}
	})
}
