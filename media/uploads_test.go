package media

import (
	"context"
	"errors"
	"net/http"
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
