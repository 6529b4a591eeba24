package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// A surrogate key is printable ASCII without a space or a comma, so that
// every CDN's header carries it, and distinct hashtags get distinct keys.
func TestHashtagKey(t *testing.T) {
	seen := map[string]string{}
	for _, c := range []struct{ key, want string }{
		{"sunset", "tag:sunset"},
		{"new_york2026", "tag:new_york2026"},
		{"日本", "tag:%E6%97%A5%E6%9C%AC"},
		{"a,b c", "tag:a%2Cb%20c"},
		{"%41", "tag:%2541"},
		{"A", "tag:A"},
		// 124 bytes escaped: as it is; 125 and more: hashed.
		{strings.Repeat("a", 124), "tag:" + strings.Repeat("a", 124)},
		{strings.Repeat("a", 125), "tag:~" + hexSum(strings.Repeat("a", 125))},
		{strings.Repeat("日", 1100), "tag:~" + hexSum(strings.Repeat("日", 1100))},
	} {
		got := HashtagKey(c.key)
		if got != c.want {
			t.Errorf("HashtagKey(%q) = %q, want %q", c.key, got, c.want)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] > '~' || got[i] == ',' {
				t.Errorf("HashtagKey(%q) = %q holds byte %q", c.key, got, got[i])
			}
		}
		if len(got) > maxKeyBytes {
			t.Errorf("HashtagKey of %d bytes is %d bytes long", len(c.key), len(got))
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q share the key %q", other, c.key, got)
		}
		seen[got] = c.key
	}
	if k := ImageKey("alice", "img-1"); k != "img:alice/img-1" || strings.ContainsAny(k, " ,") {
		t.Errorf("ImageKey: %q", k)
	}
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func TestHeaderBatches(t *testing.T) {
	keys := []string{"aaaa", "bbbb", "cccc", "dddddddddddd", "e"}
	got := headerBatches(keys, 9)
	want := []string{"aaaa bbbb", "cccc", "dddddddddddd", "e"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("headerBatches = %q, want %q", got, want)
	}
	if got := headerBatches(nil, 9); got != nil {
		t.Errorf("no keys: %q", got)
	}
}

// An operator's purge names what readers see; a misspelling is an error,
// never a purge of nothing.
func TestTarget(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"#Sunset", "tag:sunset", ""},
		{"＃ＳＵＮＳＥＴ", "tag:sunset", ""},
		{"#日本", "tag:%E6%97%A5%E6%9C%AC", ""},
		{"img:alice/img-1", "img:alice/img-1", ""},
		{"pages", "pages", ""},
		{"trending", "trending", ""},
		{"site", "site", ""},
		{"#", "", "not a hashtag"},
		{"#a b", "", "not a hashtag"},
		{"sunset", "", "no purge target"},
		{"tag:sunset", "", "no purge target"},
		{"img:alice", "", "img:<user_id>/<image_id>"},
		{"img:al ice/x", "", "img:<user_id>/<image_id>"},
		{"img:alice/x/y", "", "img:<user_id>/<image_id>"},
	} {
		got, err := Target(c.in)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Target(%q) = %q, %v; want %q, error containing %q", c.in, got, err, c.want, c.err)
		}
	}
}
