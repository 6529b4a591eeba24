package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

// tableValues are the tables' values as the processors write them.
func tableValues() []any {
	var out []any
	for _, caption := range appendCases {
		for _, at := range appendTimes[:5] { // the ones json.Marshal encodes
			s := PostSummary{PostID: "p", UserID: "u", ImageID: "i", Caption: caption, CreatedAt: at, LikeCount: 3, Rev: 7}
			w := ChangeWatermarks{11: {Posts: 5, Likes: -1}, 2: {Posts: 0, Likes: 9}}
			out = append(out,
				Count{Display: caption, PostCount: -4, UpdatedAt: at, Watermarks: map[int32]int64{0: 1, 11: 1 << 40}},
				Count{Display: caption},
				Recent{Posts: []PostSummary{s, {PostID: "x", UserID: "y"}}, UpdatedAt: at, W: w},
				Recent{}, Recent{Posts: []PostSummary{}},
				Top{TopPosts: []PostSummary{s}, ComputedAt: at, Removed: []Removal{{Key: caption, At: at}, {Key: "b"}}, W: w, UpdatedAt: at},
				Top{},
				PostEvent{Type: PostCreated, PostID: "p1", UserID: "u-1", ImageID: "img", Caption: caption, TS: at},
				PostEvent{Type: "reposted", UserID: caption},
				Delta{Hashtag: caption, Display: caption, Delta: -3, Source: Source{Partition: 11, Offset: 1 << 40}})
		}
	}
	return out
}

// scanned decodes b into a new value of v's type with its scanner;
// want is encoding/json's value and error.
func scanned(v any, b []byte) (got any, ok bool, want any, wantErr error) {
	switch v.(type) {
	case Count:
		var g, w Count
		ok, wantErr = g.scanJSON(b), json.Unmarshal(b, &w)
		return g, ok, w, wantErr
	case Recent:
		var g, w Recent
		ok, wantErr = g.scanJSON(b), json.Unmarshal(b, &w)
		return g, ok, w, wantErr
	case PostEvent:
		var g, w PostEvent
		ok, wantErr = g.scanJSON(b), json.Unmarshal(b, &w)
		return g, ok, w, wantErr
	case Delta:
		var g, w Delta
		ok, wantErr = g.scanJSON(b), json.Unmarshal(b, &w)
		return g, ok, w, wantErr
	default:
		var g, w Top
		ok, wantErr = g.scanJSON(b), json.Unmarshal(b, &w)
		return g, ok, w, wantErr
	}
}

func TestScanTableValuesEqualsEncodingJSON(t *testing.T) {
	for _, v := range tableValues() {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, want, wantErr := scanned(v, b)
		if !ok || wantErr != nil {
			t.Errorf("%T %s: scanned %v, encoding/json %v", v, b, ok, wantErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%T %s: scanned\n%+v\nencoding/json\n%+v", v, b, got, want)
		}
	}
	// A key encoding/json reads (a sign, a leading zero, repeated) is declined.
	for _, b := range []string{`{"w":{"+1":2}}`, `{"w":{"01":2}}`, `{"w":{"1":2,"1":3}}`, `{"w":{"4294967296":1}}`, `{"display":"a","Display":"b"}`} {
		var c Count
		if c.scanJSON([]byte(b)) {
			t.Errorf("scanned %s to %+v, want declined", b, c)
		}
		v, err := JSON[Count]{}.Decode([]byte(b))
		var want Count
		if wantErr := json.Unmarshal([]byte(b), &want); (err == nil) != (wantErr == nil) || (err == nil && !reflect.DeepEqual(v, want)) {
			t.Errorf("JSON[Count] decoded %s to %+v, %v; encoding/json %+v, %v", b, v, err, want, wantErr)
		}
	}
}

// Whatever the bytes, a table value or a record a scanner reads is the
// value encoding/json reads.
func FuzzScanTableValuesEqualsEncodingJSON(f *testing.F) {
	for i, v := range tableValues() {
		if i%5 == 0 {
			b, _ := Marshal(v)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		for _, v := range []any{Count{}, Recent{}, Top{}, PostEvent{}, Delta{}} {
			got, ok, want, wantErr := scanned(v, b)
			if !ok {
				continue
			}
			if wantErr != nil {
				t.Fatalf("%T: scanned %+v from %q, which encoding/json refuses: %v", v, got, b, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%T from %q: scanned\n%+v\nencoding/json\n%+v", v, b, got, want)
			}
		}
	})
}

func BenchmarkDecodeTableValues(b *testing.B) {
	r := recentOf(200, "#sunset #beach #summer over the bay, with friends <3")
	for i := range r.Posts {
		r.Posts[i].CreatedAt = time.Date(2026, 11, 29, 21, 10, i%60, 38_000_000, time.UTC)
	}
	r.W = ChangeWatermarks{3: {Posts: 100, Likes: -1}}
	c := Count{Display: "Sunset", PostCount: 1234, UpdatedAt: r.Posts[0].CreatedAt, Watermarks: map[int32]int64{0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8, 8: 9, 9: 10, 10: 11, 11: 12}}
	for _, v := range []any{c, r} {
		data, _ := Marshal(v)
		b.Run(fmt.Sprintf("%T/encoding/json", v), func(b *testing.B) {
			for b.Loop() {
				var err error
				if _, ok := v.(Count); ok {
					var c Count
					err = json.Unmarshal(data, &c)
				} else {
					var r Recent
					err = json.Unmarshal(data, &r)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%T/scan", v), func(b *testing.B) {
			for b.Loop() {
				var err error
				if _, ok := v.(Count); ok {
					_, err = decodeScanned[Count](data)
				} else {
					_, err = decodeScanned[Recent](data)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A scanner that declines leaves its value as it was: decodeJSON then
// gives encoding/json the untouched value.
func TestScannersLeaveTheirValueOnDecline(t *testing.T) {
	half := `{"display":"x","post_count":3,"w":{"+1":2}}` // declined at the key "+1"
	c := Count{Display: "kept"}
	if c.scanJSON([]byte(half)) || c.Display != "kept" || c.PostCount != 0 {
		t.Errorf("Count after a declined scan: %+v", c)
	}
	e := PostEvent{Caption: "kept"}
	if e.scanJSON([]byte(`{"type":"created","caption":"x","Post_ID":"p"}`)) || e.Caption != "kept" || e.Type != "" {
		t.Errorf("PostEvent after a declined scan: %+v", e)
	}
	got, err := DecodePostEvent("u", []byte(`{"type":"created","Post_ID":"p","user_id":"u","caption":"#a"}`))
	if err != nil || got.PostID != "p" {
		t.Errorf("a key in another case: %+v, %v; encoding/json reads it as post_id", got, err)
	}
}
