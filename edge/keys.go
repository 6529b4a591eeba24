// Package edge is what tagstream tells the cache in front of it (a CDN, or
// Varnish as docker/varnish/tagstream.vcl configures it): the surrogate
// keys each cacheable response carries, and purges of those keys when what
// they name changes (topology.md, "The edge").
//
// A surrogate key names a thing a response shows, so that one purge
// reaches every cached response that shows it, whatever its URL: every
// width of an image, a hashtag's page however the hashtag was spelled in
// the URL.
package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/ids"
)

// Header is the response header that carries a response's surrogate keys,
// space-separated: Fastly's name. tagstream.vcl moves it into xkey's
// header and neither reaches the client.
const Header = "Surrogate-Key"

// Keys that name a set of responses rather than one thing.
const (
	// PagesKey is on every hashtag page (GET /v1/hashtags/{tag}, found or
	// not): purged when too many hashtags changed within one interval to
	// name them (Queue's MaxPending), or when the served generation moves.
	PagesKey = "pages"
	// TrendingKey is on GET /v1/trending.
	TrendingKey = "trending"
	// SiteKey is on the page's HTML document, the same for every hashtag:
	// it changes only with a new tagstream version.
	SiteKey = "site"
)

// maxKeyBytes bounds a surrogate key: Fastly and Cloudflare take keys of
// up to 1,024 bytes, Varnish a header line of up to 8 KiB, and a page's
// key must fit with room to spare.
const maxKeyBytes = 128

// HashtagKey is the surrogate key of the page of the normalised hashtag
// key: "tag:" then the key, every byte other than A-Z a-z 0-9 _ written
// %XX. Keys must be printable ASCII without spaces or commas to survive
// every CDN's header (Fastly, Cloudflare's Cache-Tag, xkey), and hashtags
// are Unicode. A key that would be longer than 128 bytes (a hashtag key
// may be 3,300 bytes, 9,900 escaped) is "tag:~" and 32 hex digits of the
// key's SHA-256 instead.
func HashtagKey(key string) string {
	if escapedLen(key) > maxKeyBytes {
		sum := sha256.Sum256([]byte(key))
		return "tag:~" + hex.EncodeToString(sum[:16])
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len("tag:") + len(key)*3)
	b.WriteString("tag:")
	for i := 0; i < len(key); i++ {
		c := key[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// plain reports whether c stands for itself in a key (others are %XX).
func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// escapedLen is the length of HashtagKey(key) when it is not hashed.
func escapedLen(key string) int {
	n := len("tag:")
	for i := 0; i < len(key); i++ {
		if plain(key[i]) {
			n++
		} else {
			n += 3
		}
	}
	return n
}

// ImageKey is the surrogate key of every variant (width) of user's image:
// "img:user/image". Ids are A-Z a-z 0-9 _ - only (package ids), which
// every CDN accepts as they are.
func ImageKey(user, image string) string { return "img:" + user + "/" + image }

// Target is the surrogate key an operator names on the command line
// (`tagstream purge`): "#tag" (or "＃tag") for a hashtag's page, as any
// reader might write it; "img:<user>/<image>" for every width of an image;
// "pages", "trending" or "site". Anything else is an error saying what is
// accepted: a raw key would purge nothing if misspelled, silently.
func Target(s string) (string, error) {
	for _, sign := range []string{"#", "＃"} {
		if rest, ok := strings.CutPrefix(s, sign); ok {
			key := hashtag.Normalize(rest)
			if !hashtag.IsKey(key) {
				return "", fmt.Errorf("edge: %q is not a hashtag", s)
			}
			return HashtagKey(key), nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "img:"); ok {
		user, image, _ := strings.Cut(rest, "/")
		if !ids.Valid(user) || !ids.Valid(image) {
			return "", fmt.Errorf("edge: %q: an image is img:<user_id>/<image_id>, each %s", s, ids.Rule)
		}
		return ImageKey(user, image), nil
	}
	switch s {
	case PagesKey, TrendingKey, SiteKey:
		return s, nil
	}
	return "", fmt.Errorf("edge: %q is no purge target: want #<hashtag>, img:<user_id>/<image_id>, %s, %s or %s", s, PagesKey, TrendingKey, SiteKey)
}
