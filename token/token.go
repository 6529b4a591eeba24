// Package token mints and verifies the API's bearer tokens: HS256 JWTs
// whose subject is the user, signed with a secret shared by every API
// process.
package token

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of every token tagstream mints and accepts.
const Issuer = "tagstream"

// MinSecretLen is the shortest secret accepted: HS256 with a short secret
// can be brute-forced offline from a single token.
const MinSecretLen = 32

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("token: invalid")

// Mint returns a token for user valid for ttl.
func Mint(secret []byte, user string, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("token: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	if user == "" || strings.ContainsAny(user, "/\x00") {
		return "", fmt.Errorf("token: user %q must be non-empty and free of '/'", user)
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return s, nil
}

// Verify checks the signature (HS256 only, so an "alg: none" or RS256
// token is refused), expiry and issuer, and returns the subject.
func Verify(secret []byte, tok string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if claims.Subject == "" || strings.ContainsAny(claims.Subject, "/\x00") {
		return "", fmt.Errorf("%w: bad subject %q", ErrInvalid, claims.Subject)
	}
	return claims.Subject, nil
}

// SecretFile is where `tagstream run` keeps its secret inside the data dir.
const SecretFile = "secret"

// LoadOrCreateSecret returns the secret stored in dir, creating a random one
// on first use, so tokens minted by `tagstream token` stay valid across
// restarts of `tagstream run`.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("token: secret in %s is shorter than %d bytes", path, MinSecretLen)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("token: read secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("token: random secret: %w", err)
	}
	s := hex.EncodeToString(raw)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token: create %s: %w", dir, err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("token: write secret: %w", err)
	}
	return []byte(s), nil
}
