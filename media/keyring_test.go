package media

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
