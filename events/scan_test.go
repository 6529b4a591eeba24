package events

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scanCases are post-changes records as the extractor writes them
// (json.Marshal): captions with what it escapes, times in several zones.
func scanCases() []PostChanges {
	at := time.Date(2026, 11, 30, 4, 5, 6, 789_000_000, time.UTC)
	captions := []string{"", "sunset at the pier #sunset", `she said "hi" \ bye`, "<b>&amp;</b> #tag", "tab\there\nnewline\r\u0001",
		"emoji 🌅 café Straße", "line\u2028sep\u2029", strings.Repeat("#long ", 300)}
	var out []PostChanges
	for i, c := range captions {
		pc := PostChanges{Hashtag: "sunset", Display: "Sunset", Source: ChangeSource{Partition: int32(i), Posts: int64(100 * i), Likes: -1}}
		for j := range 3 {
			pc.Changes = append(pc.Changes, PostChange{
				Post: PostSummary{PostID: "p" + string(rune('a'+j)), UserID: "u-1_x", ImageID: []string{"", "img1"}[j%2], Caption: c,
					CreatedAt: []time.Time{at, {}, at.In(time.FixedZone("", -7*3600)), at.Add(time.Nanosecond)}[(i+j)%4],
					LikeCount: int64(i * j), Rev: int64(j)},
				Live: j != 1, N: int64(j - 1),
			})
		}
		out = append(out, pc)
	}
	return append(out, PostChanges{Hashtag: "x", Changes: []PostChange{}, Source: ChangeSource{Likes: 9}})
}

func TestScanPostChangesEqualsEncodingJSON(t *testing.T) {
	for i, pc := range scanCases() {
		b, err := json.Marshal(pc)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := scanPostChanges(b)
		if !ok {
			t.Errorf("case %d: declined %s", i, b)
			continue
		}
		var want PostChanges
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("case %d: scanned\n%+v\nencoding/json\n%+v", i, got, want)
		}
	}
}

// What the scanner does not read exactly as encoding/json would, it
// declines, and DecodePostChanges gives encoding/json's answer.
func TestScanPostChangesDeclinesWhatEncodingJSONReadsOtherwise(t *testing.T) {
	const head = `{"hashtag":"t","changes":[{"post":{"post_id":"p","user_id":"u"`
	const tail = `},"live":true,"n":1}],"src":{"p":0,"o":1,"l":-1}}`
	for name, b := range map[string]string{
		"a key in another case":  `{"Hashtag":"t","changes":[{"post":{"post_id":"p","user_id":"u"},"live":true,"n":1}],"src":{"p":0,"o":1,"l":-1}}`,
		"an unknown key":         head + `,"mood":"sunny"` + tail,
		"a repeated key":         head + `,"user_id":"v"` + tail,
		"null":                   head + `,"caption":null` + tail,
		"a float":                head + `,"like_count":1.0` + tail,
		"an exponent":            head + `,"like_count":1e2` + tail,
		"a leading zero":         head + `,"like_count":01` + tail,
		"a time with +00:00":     head + `,"created_at":"2026-11-30T04:05:06+00:00"` + tail,
		"a time with zeros kept": head + `,"created_at":"2026-11-30T04:05:06.500Z"` + tail,
		"a surrogate pair":       head + `,"caption":"\ud83c\udf05"` + tail,
		"a lone surrogate":       head + `,"caption":"\ud83c"` + tail,
		"trailing data":          head + tail + `{}`,
		"a partition past int32": `{"hashtag":"t","changes":[],"src":{"p":4294967296,"o":1,"l":-1}}`,
		"a control character":    head + ",\"caption\":\"a\x01b\"" + tail,
	} {
		if c, ok := scanPostChanges([]byte(b)); ok {
			t.Errorf("%s: scanned %+v, want declined", name, c)
		}
		got, gotErr := DecodePostChanges("t", []byte(b))
		var want PostChanges
		wantErr := unmarshalJSON([]byte(b), &want)
		if (gotErr == nil) != (wantErr == nil) || (wantErr == nil && !reflect.DeepEqual(got, want) && got.Hashtag == "t") {
			t.Errorf("%s: DecodePostChanges gave %+v, %v; encoding/json %+v, %v", name, got, gotErr, want, wantErr)
		}
	}
}

// Whatever the bytes, a record the scanner reads is the record
// encoding/json reads.
func FuzzScanPostChangesEqualsEncodingJSON(f *testing.F) {
	for _, pc := range scanCases() {
		b, _ := json.Marshal(pc)
		f.Add(b)
	}
	f.Add([]byte(`{"hashtag":"t","changes":[{"post":{"post_id":"p","user_id":"u","created_at":"2026-11-30T04:05:06.5+01:00"},"live":true,"n":1}],"src":{"p":0,"o":1,"l":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkJSON(b, MaxPostChangesBytes) != nil {
			return
		}
		got, ok := scanPostChanges(b)
		if !ok {
			return
		}
		var want PostChanges
		if err := unmarshalJSON(b, &want); err != nil {
			t.Fatalf("scanned %+v from %q, which encoding/json refuses: %v", got, b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("from %q scanned\n%+v\nencoding/json\n%+v", b, got, want)
		}
	})
}

func BenchmarkDecodePostChanges(b *testing.B) {
	for _, n := range []int{1, 20} {
		pc := scanCases()[1]
		for len(pc.Changes) < n {
			pc.Changes = append(pc.Changes, pc.Changes...)
		}
		pc.Changes = pc.Changes[:n]
		data, _ := json.Marshal(pc)
		b.Run("encoding/json/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var c PostChanges
				if err := decodeJSON(data, MaxPostChangesBytes, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("scan/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodePostChanges("sunset", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
