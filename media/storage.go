package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// Storage holds the original images. S3 and Local implement it; both
// presign uploads with the same minio-go code, and both enforce the policy
// themselves when the browser posts.
type Storage interface {
	// PresignPost returns what a browser posts, as a multipart form, to
	// upload one object within p.
	PresignPost(ctx context.Context, p PostPolicy) (*PresignedPost, error)
	// Stat returns ErrNotFound (wrapped) when no object has the key.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Open returns ErrNotFound (wrapped) when no object has the key.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// PostPolicy is what an upload may be: exactly Key, exactly ContentType,
// 1 to MaxSize bytes, posted before Expires.
type PostPolicy struct {
	Key         string
	ContentType string
	MaxSize     int64
	Expires     time.Time
}

// PresignedPost is a browser upload: post the Fields, then the file (as
// field "file", last), as multipart/form-data to URL.
type PresignedPost struct {
	URL    string
	Fields map[string]string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size    int64
	ModTime time.Time
	// ContentType is the type the upload declared (and its policy
	// enforced); empty when the storage does not know it.
	ContentType string
}

// prefixOpener is a Storage that can fetch the start of an object alone
// (an S3 range request) rather than open all of it.
type prefixOpener interface {
	openPrefix(ctx context.Context, key string, n int64) (io.ReadCloser, error)
}

// openPrefix opens at most the first n bytes of key.
func openPrefix(ctx context.Context, s Storage, key string, n int64) (io.ReadCloser, error) {
	if p, ok := s.(prefixOpener); ok {
		return p.openPrefix(ctx, key, n)
	}
	rc, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, n), rc}, nil
}

// presign signs p as an S3 SigV4 POST policy for bucket with c's
// credentials; minio-go needs no request for it when c has a region.
func presign(ctx context.Context, c *minio.Client, bucket string, p PostPolicy) (*PresignedPost, error) {
	pp := minio.NewPostPolicy()
	if err := errors.Join(pp.SetBucket(bucket), pp.SetKey(p.Key), pp.SetContentType(p.ContentType),
		pp.SetContentLengthRange(1, p.MaxSize), pp.SetExpires(p.Expires)); err != nil {
		return nil, fmt.Errorf("media: post policy: %w", err)
	}
	u, fields, err := c.PresignedPostPolicy(ctx, pp)
	if err != nil {
		return nil, fmt.Errorf("media: presign post: %w", err)
	}
	return &PresignedPost{URL: u.String(), Fields: fields}, nil
}
