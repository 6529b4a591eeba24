package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKeyringRotation(t *testing.T) {
	old := testKeyring(t, "k1:"+secretA)
	both := testKeyring(t, "k2:"+secretB+",k1:"+secretA)
	exp := time.Now().Add(time.Hour)
	now := time.Now()
	check := func(kr *Keyring, raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = kr.verify("alice", "IMG1", u.Query(), now)
		return err
	}
	oldURL, newURL := old.Build("https://cdn.example/", "alice", "IMG1", 360, exp), both.Build("https://cdn.example", "alice", "IMG1", 360, exp)
	if !strings.HasPrefix(oldURL, "https://cdn.example/img/alice/IMG1?w=360&exp=") || !strings.Contains(newURL, "&kid=k2&sig=") {
		t.Fatalf("URLs %s, %s", oldURL, newURL)
	}
	if err := check(both, oldURL); err != nil {
		t.Errorf("a URL signed with the old key during rotation: %v", err)
	}
	if err := check(old, newURL); err == nil {
		t.Error("a keyring without k2 accepted a URL signed with k2")
	}
	if err := check(both, strings.Replace(newURL, "kid=k2", "kid=k1", 1)); err == nil {
		t.Error("a URL with its kid swapped was accepted")
	}
}

func TestParseKeyringRejects(t *testing.T) {
	for _, spec := range []string{"", "k1", "k1:not-base64!", "k1:c2hvcnQ=", "bad kid:" + secretA, "k1:" + secretA + ",k1:" + secretB} {
		if _, err := ParseKeyring(spec); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", spec)
		}
	}
}

func TestLoadOrCreateKeyringKeepsItsKey(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(2e9, 0)
	if a.Build("", "u", "i", 360, exp) != b.Build("", "u", "i", 360, exp) {
		t.Fatal("a restart changed the signing key")
	}
}

// A page cached for max-age + stale-while-revalidate must never carry a URL
// that is expired, or about to be, when a client gets it; and URLs must be
// stable within a bucket so the page's ETag is.
func TestExpiry(t *testing.T) {
	e := DefaultExpiry
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for s := 0; s < 7200; s += 7 {
		now := start.Add(time.Duration(s)*time.Second + 123*time.Millisecond)
		exp := e.At(now)
		servedUntil := now.Add(e.MaxAge + e.StaleWhileRevalidate)
		if left := exp.Sub(servedUntil); left < e.Margin || left > e.Margin+e.Bucket {
			t.Fatalf("at %s: exp %s leaves %s after the last cached serve", now, exp, left)
		}
		if exp.Unix()%3600 != 0 {
			t.Fatalf("exp %s is not on the hour", exp)
		}
	}
	if a, b := e.At(start.Add(time.Minute)), e.At(start.Add(40*time.Minute)); !a.Equal(b) {
		t.Errorf("exp changed within one bucket: %s, %s", a, b)
	}
}

// A key file others can read is refused: whoever reads it signs any URL.
func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateKeyring(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("new key file has mode %#o, want 0600", fi.Mode().Perm())
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyring(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a group-readable key file was accepted: %v", err)
	}
}

// buildByHand is Build as it was written before the pooled HMACs, from
// the URL format its doc gives: the reference its URLs must equal.
func buildByHand(secret []byte, kid, cdnBase, userID, imageID string, width int, exp time.Time) string {
	signed := "/img/" + url.PathEscape(userID) + "/" + url.PathEscape(imageID) +
		"?w=" + strconv.Itoa(width) + "&exp=" + strconv.FormatInt(exp.Unix(), 10) + "&kid=" + url.QueryEscape(kid)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signed))
	return strings.TrimRight(cdnBase, "/") + signed + "&sig=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Build's URLs are byte for byte those of a fresh HMAC per URL, for ids
// that need escaping too, from concurrent callers sharing the pooled
// HMACs; and they verify.
func TestBuildMatchesFreshHMAC(t *testing.T) {
	kr := testKeyring(t, "k2:"+secretB+",k1:"+secretA)
	secret, err := base64.StdEncoding.DecodeString(secretB)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(1_800_000_000, 0)
	ids := []string{"alice", "IMG1", "a b", "ü/ß?&=", "%41", "", strings.Repeat("x", 300)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				user, image := ids[(i+g)%len(ids)], ids[(i/len(ids))%len(ids)]
				for _, base := range []string{"", "https://cdn.example", "https://cdn.example//"} {
					got := kr.Build(base, user, image, 320+i, exp.Add(time.Duration(i)*time.Hour))
					if want := buildByHand(secret, "k2", base, user, image, 320+i, exp.Add(time.Duration(i)*time.Hour)); got != want {
						t.Errorf("Build %q, by hand %q", got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	u, err := url.Parse(kr.Build("https://cdn.example", "alice", "IMG1", 640, exp))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kr.verify("alice", "IMG1", u.Query(), exp.Add(-time.Minute)); err != nil {
		t.Errorf("a built URL does not verify: %v", err)
	}
}

func BenchmarkBuild(b *testing.B) {
	kr, err := ParseKeyring("k1:" + secretA)
	if err != nil {
		b.Fatal(err)
	}
	exp := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		kr.Build("https://cdn.example", "user000123", "img00000000000000000042", 640, exp)
	}
}

// An any-width URL is the one-width URL's spelling with a MAC over
// w=* (topology.md, "Image URLs"): it verifies at every width a client
// puts in w, and only under its own key; a one-width URL still verifies
// at its own width only, so a page's srcset cannot be had from a URL
// that was signed for one width.
func TestBuildAnyWidthCoversEveryWidth(t *testing.T) {
	kr := testKeyring(t, "k2:"+secretB+",k1:"+secretA)
	secret, err := base64.StdEncoding.DecodeString(secretB)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(1_800_000_000, 0)
	now := exp.Add(-time.Minute)
	raw := kr.BuildAnyWidth("https://cdn.example", "alice", "IMG1", 640, exp)
	byHand := buildByHand(secret, "k2", "", "alice", "IMG1", 0, exp)
	sig := byHand[strings.Index(byHand, "&sig="):]
	// buildByHand signs w=0; the any-width MAC is over w=*.
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("/img/alice/IMG1?w=*&exp=" + strconv.FormatInt(exp.Unix(), 10) + "&kid=k2"))
	if want := "https://cdn.example/img/alice/IMG1?w=640&exp=1800000000&kid=k2&sig=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)); raw != want {
		t.Fatalf("BuildAnyWidth = %s, want %s", raw, want)
	}
	if strings.HasSuffix(raw, sig) {
		t.Fatal("the any-width MAC equals a one-width MAC")
	}
	for _, w := range []string{"160", "320", "640", "1080"} {
		u := strings.Replace(raw, "?w=640&", "?w="+w+"&", 1)
		q := u[strings.Index(u, "?")+1:]
		width, _, err := kr.verifyQuery("alice", "IMG1", q, now)
		if err != nil || strconv.Itoa(width) != w {
			t.Errorf("w=%s: width %d, %v", w, width, err)
		}
		if _, _, err := kr.verifyQuery("bob", "IMG1", q, now); err == nil {
			t.Errorf("w=%s: the URL verified for another user's image", w)
		}
	}
	one := kr.Build("https://cdn.example", "alice", "IMG1", 640, exp)
	q := strings.Replace(one[strings.Index(one, "?")+1:], "w=640&", "w=320&", 1)
	if _, _, err := kr.verifyQuery("alice", "IMG1", q, now); err == nil {
		t.Error("a one-width URL verified at another width")
	}
	if _, _, err := kr.verifyQuery("alice", "IMG1", raw[strings.Index(raw, "?")+1:], exp); err == nil {
		t.Error("an expired any-width URL verified")
	}
}
