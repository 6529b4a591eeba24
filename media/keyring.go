package media

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MinKeyLen is the shortest image-signing secret accepted, in bytes.
const MinKeyLen = 32

// KeyFile is where LoadOrCreateKeyring keeps the keys inside a data dir.
const KeyFile = "image-keys"

var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Keyring signs image URLs with one key and accepts the signatures of all of
// its keys, each named by a key id that travels in the URL (kid=), so keys
// can rotate without breaking URLs already handed out.
type Keyring struct {
	signing string
	keys    map[string][]byte
	// macs holds, per key id, HMACs keyed with its secret, reused after a
	// Reset: hmac.New hashes the key into fresh inner and outer states
	// every time, and a page signs some 200 URLs (23 % of the API's CPU
	// under bench-read.sh went to signing, most of it in hmac.New).
	macs map[string]*sync.Pool
}

// ParseKeyring reads "kid1:base64secret,kid2:base64secret" (commas or
// newlines between keys; standard base64, e.g. `openssl rand -base64 32`).
// The first key signs; every key verifies. To rotate: add the new key in
// second place everywhere, then move it first, then drop the old key once
// the longest URL lifetime (see Expiry) has passed.
func ParseKeyring(spec string) (*Keyring, error) {
	kr := &Keyring{keys: map[string][]byte{}, macs: map[string]*sync.Pool{}}
	for _, item := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		kid, b64, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			// Without its ':', the item may be the secret alone: never
			// quoted in an error, which may reach a log.
			return nil, fmt.Errorf("media: a key without its id: want kid:base64secret")
		}
		if !kidRE.MatchString(kid) {
			return nil, fmt.Errorf("media: key id %.64q: want kid:base64secret with kid of [A-Za-z0-9_-]", kid)
		}
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("media: key %q: %w", kid, err)
		}
		if len(secret) < MinKeyLen {
			return nil, fmt.Errorf("media: key %q is %d bytes, need at least %d", kid, len(secret), MinKeyLen)
		}
		if _, dup := kr.keys[kid]; dup {
			return nil, fmt.Errorf("media: key id %q given twice", kid)
		}
		if kr.signing == "" {
			kr.signing = kid
		}
		kr.keys[kid] = secret
		kr.macs[kid] = &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}
	}
	if kr.signing == "" {
		return nil, errors.New("media: no image-signing key given")
	}
	return kr, nil
}

// LoadOrCreateKeyring reads the keyring kept in dir/KeyFile (ParseKeyring's
// format), creating one random key on first use, so image URLs stay valid
// across restarts of `tagstream run`.
func LoadOrCreateKeyring(dir string) (*Keyring, error) {
	spec, err := loadOrCreate(filepath.Join(dir, KeyFile), func(b []byte) string {
		return "k" + time.Now().UTC().Format("20060102") + ":" + base64.StdEncoding.EncodeToString(b)
	})
	if err != nil {
		return nil, err
	}
	return ParseKeyring(spec)
}

// loadOrCreate returns the trimmed content of path, first writing
// encode(32 random bytes) there if the file does not exist.
func loadOrCreate(path string, encode func([]byte) string) (string, error) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Whoever reads the key can sign any image URL.
		return "", fmt.Errorf("media: %s is readable or writable by others (mode %#o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("media: read %s: %w", path, err)
	}
	raw := make([]byte, MinKeyLen)
	rand.Read(raw)
	s := encode(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("media: create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("media: write %s: %w", path, err)
	}
	return s, nil
}

// Build returns the signed URL of an image at a width, valid until exp:
// <cdnBase>/img/<user>/<image>?w=<width>&exp=<unix seconds>&kid=<key id>&sig=<mac>,
// where mac is the unpadded base64url HMAC-SHA256, under the key kid names,
// of the URL's path and query up to and including kid.
func (k *Keyring) Build(cdnBase, userID, imageID string, width int, exp time.Time) string {
	return k.build(cdnBase, userID, imageID, width, false, exp)
}

// AnyWidth is what the MAC of a URL from BuildAnyWidth covers in place of
// the width: a character no width can hold (queryValueRE), so the canonical
// forms of a one-width and an any-width signature never coincide.
const AnyWidth = "*"

// BuildAnyWidth returns a signed URL of an image at width, like Build, but
// whose MAC covers every width the origin allows (the width in the
// canonical form is AnyWidth): a client may replace the w parameter's
// value with any of them. Pages carry these, so that one URL per post
// gives a browser its whole srcset; the origin still refuses a width
// outside its list, so one URL costs at most one decode per allowed width.
func (k *Keyring) BuildAnyWidth(cdnBase, userID, imageID string, width int, exp time.Time) string {
	return k.build(cdnBase, userID, imageID, width, true, exp)
}

// build writes the URL in one buffer: the signed part in place, then the
// MAC, over that part or, for anyWidth, over it with AnyWidth as the width.
func (k *Keyring) build(cdnBase, userID, imageID string, width int, anyWidth bool, exp time.Time) string {
	base := strings.TrimRight(cdnBase, "/")
	b := make([]byte, 0, len(base)+len(userID)+len(imageID)+len(k.signing)+96)
	b = append(b, base...)
	var wb, eb [20]byte
	e := strconv.AppendInt(eb[:0], exp.Unix(), 10)
	b = appendSignedPart(b, userID, imageID, strconv.AppendInt(wb[:0], int64(width), 10), e, k.signing)
	signed := b[len(base):]
	if anyWidth {
		signed = appendSignedPart(nil, userID, imageID, []byte(AnyWidth), e, k.signing)
	}
	b = append(b, "&sig="...)
	b = k.appendMAC(b, k.signing, signed)
	return string(b)
}

// appendSignedPart appends the canonical form the MAC covers. Escaping
// makes it unambiguous whatever the ids hold.
func appendSignedPart(b []byte, userID, imageID string, width, exp []byte, kid string) []byte {
	b = append(b, "/img/"...)
	b = append(b, url.PathEscape(userID)...)
	b = append(b, '/')
	b = append(b, url.PathEscape(imageID)...)
	b = append(b, "?w="...)
	b = append(b, width...)
	b = append(b, "&exp="...)
	b = append(b, exp...)
	b = append(b, "&kid="...)
	return append(b, url.QueryEscape(kid)...)
}

// appendMAC appends the unpadded base64url HMAC-SHA256 of s under the key
// kid names, which must be in the keyring.
func (k *Keyring) appendMAC(b []byte, kid string, s []byte) []byte {
	pool := k.macs[kid]
	h := pool.Get().(hash.Hash)
	h.Reset()
	h.Write(s)
	var sum [sha256.Size]byte
	b = base64.RawURLEncoding.AppendEncode(b, h.Sum(sum[:0]))
	pool.Put(h)
	return b
}

// errSignature is why the origin answers 403.
var errSignature = errors.New("media: bad image signature")

// verify checks a request for an image against the keyring and returns the
// width and expiry it names.
func (k *Keyring) verify(userID, imageID string, q url.Values, now time.Time) (width int, exp time.Time, err error) {
	return k.check(userID, imageID, q.Get("w"), q.Get("exp"), q.Get("kid"), q.Get("sig"), now)
}

// verifyQuery checks the raw query of a request for an image: it must be
// exactly w=&exp=&kid=&sig= as Build writes it, in that order, unescaped,
// nothing added or repeated. Anything else is refused even when the signed
// part is intact, or every variant would be one more CDN cache key (and
// decode) for one image.
func (k *Keyring) verifyQuery(userID, imageID, rawQuery string, now time.Time) (width int, exp time.Time, err error) {
	names := [4]string{"w", "exp", "kid", "sig"}
	var vals [4]string
	parts := strings.Split(rawQuery, "&")
	if len(parts) != len(names) {
		return 0, exp, fmt.Errorf("%w: the query must be exactly w, exp, kid and sig", errSignature)
	}
	for i, p := range parts {
		name, v, _ := strings.Cut(p, "=")
		if name != names[i] || !queryValueRE.MatchString(v) {
			return 0, exp, fmt.Errorf("%w: the query must be exactly w, exp, kid and sig, in that order, unescaped", errSignature)
		}
		vals[i] = v
	}
	return k.check(userID, imageID, vals[0], vals[1], vals[2], vals[3], now)
}

// queryValueRE is what a value of a signed query can hold: digits, a key
// id, an unpadded base64url MAC; nothing that needs escaping.
var queryValueRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (k *Keyring) check(userID, imageID, w, e, kid, sig string, now time.Time) (width int, exp time.Time, err error) {
	if _, ok := k.keys[kid]; !ok {
		return 0, exp, fmt.Errorf("%w: unknown key id %q", errSignature, kid)
	}
	// A URL is signed for its width (Build) or for any allowed width
	// (BuildAnyWidth); the second MAC is computed only when the first
	// does not match.
	want := k.appendMAC(nil, kid, appendSignedPart(nil, userID, imageID, []byte(w), []byte(e), kid))
	if !hmac.Equal(want, []byte(sig)) {
		want = k.appendMAC(want[:0], kid, appendSignedPart(nil, userID, imageID, []byte(AnyWidth), []byte(e), kid))
		if !hmac.Equal(want, []byte(sig)) {
			return 0, exp, fmt.Errorf("%w: signature does not match", errSignature)
		}
	}
	secs, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return 0, exp, fmt.Errorf("%w: exp %q: %v", errSignature, e, err)
	}
	if exp = time.Unix(secs, 0); !now.Before(exp) {
		return 0, exp, fmt.Errorf("%w: expired at %s", errSignature, exp.UTC().Format(time.RFC3339))
	}
	if width, err = strconv.Atoi(w); err != nil {
		return 0, exp, fmt.Errorf("%w: w %q: %v", errSignature, w, err)
	}
	return width, exp, nil
}

// Expiry is the rule for the exp of image URLs embedded in a page a CDN
// caches. See the package doc for the reasoning.
type Expiry struct {
	MaxAge               time.Duration // the page's Cache-Control max-age
	StaleWhileRevalidate time.Duration // the page's stale-while-revalidate
	Margin               time.Duration // time a client may take to fetch an image after getting the page
	Bucket               time.Duration // exp is rounded up to a multiple of this (0: whole seconds)
}

// DefaultExpiry matches the hashtag page's Cache-Control (max-age=5,
// stale-while-revalidate=30), leaves a client 10 minutes to fetch the
// images, and rounds to the hour: URLs live between 10m35s and 1h10m35s.
var DefaultExpiry = Expiry{MaxAge: 5 * time.Second, StaleWhileRevalidate: 30 * time.Second, Margin: 10 * time.Minute, Bucket: time.Hour}

// At returns the exp for a page generated at now: now + MaxAge +
// StaleWhileRevalidate + Margin, rounded up to the next multiple of Bucket
// since the Unix epoch.
func (e Expiry) At(now time.Time) time.Time {
	least := now.Add(e.MaxAge + e.StaleWhileRevalidate + e.Margin)
	b := max(int64(e.Bucket/time.Second), 1)
	secs := least.Unix()
	if least.Nanosecond() > 0 {
		secs++
	}
	return time.Unix((secs+b-1)/b*b, 0)
}
