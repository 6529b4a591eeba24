package token

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte(strings.Repeat("s", MinSecretLen))

func TestMintVerifyRoundTrip(t *testing.T) {
	tok, err := Mint(secret, "alice", time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	user, err := Verify(secret, tok, 0)
	if err != nil || user != "alice" {
		t.Fatalf("Verify = %q, %v; want alice", user, err)
	}
}

// sign signs claims as Mint would, for tokens Mint refuses to make.
func sign(t *testing.T, c jwt.RegisteredClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	good, _ := Mint(secret, "alice", time.Hour, 0)
	otherSecret, _ := Mint([]byte(strings.Repeat("x", MinSecretLen)), "alice", time.Hour, 0)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{
		Issuer: Issuer, Subject: "alice", IssuedAt: at(0), ExpiresAt: at(time.Hour),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	cases := map[string]string{
		"expired":           sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice", IssuedAt: at(-time.Hour), ExpiresAt: at(-2 * MaxSkew)}),
		"other secret":      otherSecret,
		"alg none":          none,
		"no exp":            sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice", IssuedAt: at(0)}),
		"no iat":            sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice", ExpiresAt: at(time.Hour)}),
		"iat in the future": sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice", IssuedAt: at(time.Hour), ExpiresAt: at(2 * time.Hour)}),
		"a century long":    sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice", IssuedAt: at(0), ExpiresAt: at(876000 * time.Hour)}),
		"subject ..":        sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "..", IssuedAt: at(0), ExpiresAt: at(time.Hour)}),
		"subject 300 bytes": sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: strings.Repeat("a", 300), IssuedAt: at(0), ExpiresAt: at(time.Hour)}),
		"wrong issuer":      sign(t, jwt.RegisteredClaims{Issuer: "evil", Subject: "alice", IssuedAt: at(0), ExpiresAt: at(time.Hour)}),
		"tampered":          good[:len(good)-2] + "xx",
		"garbage":           "not.a.token",
		"empty":             "",
	}
	for name, tok := range cases {
		if user, err := Verify(secret, tok, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %q, %v; want ErrInvalid", name, user, err)
		}
	}
	// A small clock difference is fine.
	skewed := sign(t, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice", IssuedAt: at(MaxSkew / 2), ExpiresAt: at(time.Hour)})
	if _, err := Verify(secret, skewed, 0); err != nil {
		t.Errorf("iat %s ahead refused: %v", MaxSkew/2, err)
	}
	// The bound is the verifier's: a day-long token passes a week's bound, not an hour's.
	day, _ := Mint(secret, "alice", 24*time.Hour, 0)
	if _, err := Verify(secret, day, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("a day-long token passed a one-hour bound: %v", err)
	}
}

func TestMintRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		secret []byte
		user   string
		ttl    time.Duration
	}{
		"short secret":   {[]byte("short"), "alice", time.Hour},
		"user with /":    {secret, "a/b", time.Hour},
		"user ..":        {secret, "..", time.Hour},
		"user too long":  {secret, strings.Repeat("u", 300), time.Hour},
		"negative ttl":   {secret, "alice", -time.Minute},
		"zero ttl":       {secret, "alice", 0},
		"ttl over bound": {secret, "alice", DefaultMaxTTL + time.Second},
	} {
		if _, err := Mint(c.secret, c.user, c.ttl, 0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSecretReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateSecret(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, SecretFile)
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new secret file has mode %#o, want 0600", fi.Mode().Perm())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSecret(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable secret was accepted: %v", err)
	}
}

func TestLoadOrCreateSecretIsStable(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) || len(a) < MinSecretLen {
		t.Fatalf("secret changed or too short: %q vs %q", a, b)
	}
}
