package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestReserveMapsBadRequests(t *testing.T) {
	up := NewUploads(newLocal(t), UploadConfig{})
	for _, c := range []struct {
		user, ct string
		size     int64
		status   int
	}{
		{"alice", "image/gif", 0, http.StatusBadRequest},
		{"alice", "", 10, http.StatusBadRequest},
		{"../bob", "image/png", 10, http.StatusBadRequest},
		{"alice", "text/html", 10, http.StatusUnsupportedMediaType},
		{"alice", "image/svg+xml", 10, http.StatusUnsupportedMediaType},
		{"alice", "image/png", 20<<20 + 1, http.StatusRequestEntityTooLarge},
	} {
		_, err := up.Reserve(context.Background(), c.user, c.ct, c.size)
		var re *RequestError
		if !errors.As(err, &re) || re.Status != c.status {
			t.Errorf("Reserve(%q, %q, %d) = %v, want status %d", c.user, c.ct, c.size, err, c.status)
		}
	}
}

func TestReservation(t *testing.T) {
	up := NewUploads(newLocal(t), UploadConfig{})
	res, err := up.Reserve(context.Background(), "alice", "Image/PNG", 20<<20)
	if err != nil {
		t.Fatal(err)
	}
	if res.Key != "alice/"+res.ImageID || res.Fields["key"] != res.Key || res.Fields["Content-Type"] != "image/png" {
		t.Errorf("reservation %+v", res)
	}
	if ttl := time.Until(res.ExpiresAt); ttl < 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("expires in %s, want 5 minutes", ttl)
	}
	if err := up.Exists(context.Background(), "alice", "../../etc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Exists with a path in the id: %v", err)
	}
}

// countingStore counts the bytes read from its objects.
type countingStore struct {
	Storage
	read atomic.Int64
}

func (s *countingStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Storage.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{readFunc(func(p []byte) (int, error) {
		n, err := rc.Read(p)
		s.read.Add(int64(n))
		return n, err
	}), rc}, nil
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// Exists reads the header only: a photo padded to 8 MiB costs it no more
// than the header limit.
func TestExistsReadsOnlyTheHeader(t *testing.T) {
	l := newLocal(t)
	photo := append(testImage(t, 300, 200, false), make([]byte, 8<<20)...)
	if _, err := l.Put("alice/BIG", bytes.NewReader(photo), 1<<30); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Storage: l}
	if err := NewUploads(store, UploadConfig{}).Exists(context.Background(), "alice", "BIG"); err != nil {
		t.Fatal(err)
	}
	if n := store.read.Load(); n == 0 || n > headerLimit {
		t.Fatalf("read %d bytes of a %d-byte object to check it, want at most %d", n, len(photo), headerLimit)
	}
}

// The check is the origin's: its MaxPixels and DecodeBudget, at its widths.
func TestExistsUsesTheOriginsLimits(t *testing.T) {
	l := newLocal(t)
	if _, err := l.Put("alice/IMG", bytes.NewReader(testImage(t, 1200, 800, false)), 1<<30); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		origin OriginConfig
		ok     bool
	}{
		{OriginConfig{}, true},
		{OriginConfig{MaxPixels: 1000 * 800}, false},
		{OriginConfig{DecodeBudget: 12 << 20}, false},                     // 27 MiB of scaler rows at width 1080
		{OriginConfig{DecodeBudget: 12 << 20, Widths: []int{1200}}, true}, // served as is: no scaling
	} {
		err := NewUploads(l, UploadConfig{Origin: c.origin}).Exists(context.Background(), "alice", "IMG")
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrNotImage) {
			t.Errorf("origin %+v: Exists = %v, want ok=%v", c.origin, err, c.ok)
		}
	}
}
