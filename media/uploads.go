package media

import (
	"context"
	"fmt"
	"io"
	"mime"
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
	// Origin is the configuration of the origin that will serve the
	// uploads (zero fields: its defaults). Exists refuses an upload the
	// origin would not decode at one of its Widths: over MaxPixels or
	// MaxSourceBytes, or estimated over DecodeBudget.
	Origin OriginConfig
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
	cfg.Origin = cfg.Origin.withDefaults()
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

// Exists returns nil if userID has uploaded imageID and it is an image the
// origin will serve; an error wrapping ErrNotFound if it was not uploaded
// (also for ids that cannot exist); one wrapping ErrNotImage if it is not
// such an image; or a storage error. Checking under the caller's own
// prefix keeps a user from posting another user's image.
//
// The check reads the header only, from at most the first 256 KiB of the
// object (a range request on S3), and never decodes the pixels: with
// image.DecodeConfig it must be one of ContentTypes, the type declared at
// upload when the storage kept it (the policy only binds the declared
// type, not the bytes), within the origin's MaxPixels, and its estimated
// decode within the origin's DecodeBudget. So a post cannot carry an image
// that would only fail at the origin.
func (u *Uploads) Exists(ctx context.Context, userID, imageID string) error {
	key, ok := objectKey(userID, imageID)
	if !ok {
		return fmt.Errorf("%w: bad id %q/%q", ErrNotFound, userID, imageID)
	}
	info, err := u.store.Stat(ctx, key)
	if err != nil {
		return err
	}
	return u.checkImage(ctx, key, info)
}

func (u *Uploads) checkImage(ctx context.Context, key string, info ObjectInfo) error {
	notImage := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrNotImage, key, fmt.Sprintf(format, args...))
	}
	if info.Size > u.cfg.MaxSize || info.Size > u.cfg.Origin.MaxSourceBytes {
		return notImage("%d bytes is over the limit of %d", info.Size, min(u.cfg.MaxSize, u.cfg.Origin.MaxSourceBytes))
	}
	rc, err := openPrefix(ctx, u.store, key, headerLimit)
	if err != nil {
		return err
	}
	defer rc.Close()
	er := &errReader{r: rc}
	hd, err := readHeader(er)
	switch {
	case er.err != nil:
		return fmt.Errorf("media: read %s: %w", key, er.err)
	case err != nil:
		return notImage("%v", err)
	}
	ct := "image/" + hd.format
	if !slices.Contains(u.cfg.ContentTypes, ct) {
		return notImage("%s is not one of the allowed types (%s)", ct, strings.Join(u.cfg.ContentTypes, ", "))
	}
	declared, _, _ := mime.ParseMediaType(info.ContentType)
	// A type the storage reports but that is none of ours (S3's
	// binary/octet-stream default) says nothing of the upload's.
	if slices.Contains(u.cfg.ContentTypes, declared) && declared != ct {
		return notImage("the file is %s but was uploaded as %s", ct, declared)
	}
	o := u.cfg.Origin
	for _, w := range o.Widths {
		if _, err := admissible(hd, info.Size, w, o.MaxPixels, o.DecodeBudget); err != nil {
			return notImage("%v", err)
		}
	}
	return nil
}

// errReader remembers the first error of r other than EOF: a storage
// failure, not a malformed image.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
