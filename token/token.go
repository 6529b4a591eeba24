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

	"github.com/tagstream/tagstream/ids"
)

// Issuer is the iss claim of every token tagstream mints and accepts.
const Issuer = "tagstream"

// MinSecretLen is the shortest secret accepted: HS256 with a short secret
// can be brute-forced offline from a single token.
const MinSecretLen = 32

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("token: invalid")

// DefaultMaxTTL is the longest lifetime of a token by default: a week, a
// person's session on a phone between two sign-ins. A leaked token is
// worth at most that long.
const DefaultMaxTTL = 7 * 24 * time.Hour

// MaxSkew is how far in the future a token's iat may lie: clocks of the
// minting and the verifying machines differ a little, never more.
const MaxSkew = time.Minute

// Mint returns a token for user valid for ttl, which must be positive and
// at most maxTTL (0: DefaultMaxTTL). The user must be an id (package ids).
func Mint(secret []byte, user string, ttl, maxTTL time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("token: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	if err := ids.Check("user", user); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}
	if ttl <= 0 || ttl > maxTTL {
		return "", fmt.Errorf("token: lifetime %s must be positive and at most %s (--token-max-ttl)", ttl, maxTTL)
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
// token is refused), the issuer, and the lifetime: iat and exp present,
// iat no more than MaxSkew in the future, exp not passed, and exp - iat at
// most maxTTL (0: DefaultMaxTTL), so a token minted for a century, by a
// tool or a leaked secret, is refused. It returns the subject, which must
// be an id.
func Verify(secret []byte, tok string, maxTTL time.Duration) (string, error) {
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(MaxSkew),
	)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if claims.IssuedAt == nil {
		return "", fmt.Errorf("%w: no iat", ErrInvalid)
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life > maxTTL {
		return "", fmt.Errorf("%w: lifetime %s is over %s", ErrInvalid, life, maxTTL)
	}
	if !ids.Valid(claims.Subject) {
		return "", fmt.Errorf("%w: subject is not a user id (%s)", ErrInvalid, ids.Rule)
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
	b, err := readPrivate(path)
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

// readPrivate reads a secret file, refusing one that other users can read
// or write: whoever can read it can mint any user's tokens.
func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("token: %s is readable or writable by others (mode %#o); chmod 600 it", path, mode)
	}
	return os.ReadFile(path)
}
