package token

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte(strings.Repeat("s", MinSecretLen))

func TestMintVerifyRoundTrip(t *testing.T) {
	tok, err := Mint(secret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	user, err := Verify(secret, tok)
	if err != nil || user != "alice" {
		t.Fatalf("Verify = %q, %v; want alice", user, err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	good, _ := Mint(secret, "alice", time.Hour)
	expired, _ := Mint(secret, "alice", -time.Minute)
	otherSecret, _ := Mint([]byte(strings.Repeat("x", MinSecretLen)), "alice", time.Hour)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{
		Issuer: Issuer, Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: Issuer, Subject: "alice"}).SignedString(secret)
	wrongIss, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer: "evil", Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(secret)
	cases := map[string]string{
		"expired":      expired,
		"other secret": otherSecret,
		"alg none":     none,
		"no exp":       noExp,
		"wrong issuer": wrongIss,
		"tampered":     good[:len(good)-2] + "xx",
		"garbage":      "not.a.token",
		"empty":        "",
	}
	for name, tok := range cases {
		if user, err := Verify(secret, tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %q, %v; want ErrInvalid", name, user, err)
		}
	}
}

func TestMintRefusesShortSecretAndBadUser(t *testing.T) {
	if _, err := Mint([]byte("short"), "alice", time.Hour); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := Mint(secret, "a/b", time.Hour); err == nil {
		t.Error("user with '/' accepted")
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
