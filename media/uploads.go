package media

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// UploadConfig limits uploads. Zero fields take the defaults.
type UploadConfig struct {
	ContentTypes []string      // allowed; default image/jpeg, image/png, image/webp, image/gif
	MaxSize      int64         // bytes; default 20 MiB
	TTL          time.Duration // how long a reservation may be used; default 5 minutes
}

// Uploads reserves image keys and presigns their browser uploads.
type Uploads struct {
	store Storage
	cfg   UploadConfig
}

// NewUploads returns Uploads storing into store.
func NewUploads(store Storage, cfg UploadConfig) *Uploads {
	if len(cfg.ContentTypes) == 0 {
		cfg.ContentTypes = []string{"image/jpeg", "image/png", "image/webp", "image/gif"}
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 20 << 20
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	return &Uploads{store: store, cfg: cfg}
}

// Reservation is the answer to POST /v1/uploads: the browser posts Fields,
// then the file as field "file", as multipart/form-data to URL before
// ExpiresAt; the image is then ImageID for a post.
type Reservation struct {
	ImageID   string            `json:"image_id"`
	Key       string            `json:"key"`
	URL       string            `json:"url"`
	Fields    map[string]string `json:"fields"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// Reserve reserves a new image key <userID>/<image id> and presigns its
// upload: exactly that key, exactly contentType, 1 to size bytes (size, the
// declared size, is itself at most MaxSize). It returns a *RequestError
// with 400 (bad user id, content type missing, size not positive), 415
// (content type not allowed) or 413 (size over MaxSize).
func (u *Uploads) Reserve(ctx context.Context, userID, contentType string, size int64) (*Reservation, error) {
	id := NewImageID()
	key, ok := objectKey(userID, id)
	ct := strings.ToLower(strings.TrimSpace(contentType))
	switch {
	case !ok:
		return nil, badRequest("user id %q must match %s", userID, segmentRE)
	case ct == "":
		return nil, badRequest("content_type is required")
	case !slices.Contains(u.cfg.ContentTypes, ct):
		return nil, &RequestError{Status: http.StatusUnsupportedMediaType,
			Msg: fmt.Sprintf("content type %q is not allowed (allowed: %s)", contentType, strings.Join(u.cfg.ContentTypes, ", "))}
	case size <= 0:
		return nil, badRequest("size must be a positive number of bytes, got %d", size)
	case size > u.cfg.MaxSize:
		return nil, &RequestError{Status: http.StatusRequestEntityTooLarge,
			Msg: fmt.Sprintf("size %d is over the limit of %d bytes", size, u.cfg.MaxSize)}
	}
	exp := time.Now().Add(u.cfg.TTL).Truncate(time.Millisecond)
	post, err := u.store.PresignPost(ctx, PostPolicy{Key: key, ContentType: ct, MaxSize: size, Expires: exp})
	if err != nil {
		return nil, err
	}
	return &Reservation{ImageID: id, Key: key, URL: post.URL, Fields: post.Fields, ExpiresAt: exp.UTC()}, nil
}

// Exists returns nil if userID has uploaded imageID, an error wrapping
// ErrNotFound if not (also for ids that cannot exist), or a storage error.
// Checking under the caller's own prefix keeps a user from posting another
// user's image.
func (u *Uploads) Exists(ctx context.Context, userID, imageID string) error {
	key, ok := objectKey(userID, imageID)
	if !ok {
		return fmt.Errorf("%w: bad id %q/%q", ErrNotFound, userID, imageID)
	}
	_, err := u.store.Stat(ctx, key)
	return err
}
