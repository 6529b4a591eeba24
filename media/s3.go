package media

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	s3cors "github.com/minio/minio-go/v7/pkg/cors"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tagstream/tagstream/cors"
)

// S3Config configures the S3 backend.
type S3Config struct {
	Endpoint       string // server URL, e.g. http://127.0.0.1:19000 (required)
	PublicEndpoint string // URL browsers post uploads to; default Endpoint
	AccessKey      string
	SecretKey      string
	Region         string // default us-east-1
	Bucket         string // default "tagstream-images"
	CreateBucket   bool   // create Bucket at start when missing
	// CORSOrigins, with CreateBucket, are put on the bucket at start as its
	// CORS configuration (bucketCORS), replacing any other: web pages of
	// these origins may post uploads and read the answer. Empty: the
	// bucket's CORS configuration is left as it is.
	CORSOrigins []string
}

// S3 stores images in an S3 bucket through minio-go.
type S3 struct {
	client, public *minio.Client
	bucket         string
}

// NewS3 connects to the server (creating the bucket when CreateBucket is
// set, which also proves the credentials work).
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "tagstream-images"
	}
	if cfg.PublicEndpoint == "" {
		cfg.PublicEndpoint = cfg.Endpoint
	}
	client, err := newMinio(cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Region)
	if err != nil {
		return nil, err
	}
	public, err := newMinio(cfg.PublicEndpoint, cfg.AccessKey, cfg.SecretKey, cfg.Region)
	if err != nil {
		return nil, err
	}
	if _, err := cors.Parse(cfg.CORSOrigins); err != nil {
		return nil, fmt.Errorf("media: s3: %w", err)
	}
	s := &S3{client: client, public: public, bucket: cfg.Bucket}
	if cfg.CreateBucket {
		ok, err := client.BucketExists(ctx, cfg.Bucket)
		if err == nil && !ok {
			err = client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		}
		if err != nil {
			return nil, fmt.Errorf("media: create bucket %s: %w", cfg.Bucket, err)
		}
		if len(cfg.CORSOrigins) > 0 {
			if err := client.SetBucketCors(ctx, cfg.Bucket, bucketCORS(cfg.CORSOrigins)); err != nil {
				return nil, fmt.Errorf("media: put the CORS configuration of bucket %s: %w", cfg.Bucket, err)
			}
		}
	}
	return s, nil
}

// bucketCORS is the bucket's CORS configuration for browser uploads from
// origins: POST only (the presigned form), no request header beyond the
// CORS-safelisted ones (a form upload sets none), ETag readable, the
// preflight kept an hour as the API's are. The whole configuration is
// this one rule: tagstream owns the bucket, and an older rule left beside
// it would keep allowing an origin removed from the list.
func bucketCORS(origins []string) *s3cors.Config {
	return s3cors.NewConfig([]s3cors.Rule{{
		ID:            "tagstream-browser-uploads",
		AllowedOrigin: origins,
		AllowedMethod: []string{http.MethodPost},
		ExposeHeader:  []string{"ETag"},
		MaxAgeSeconds: corsMaxAge,
	}})
}

// newMinio returns a client for endpoint (a URL) with a fixed region, so
// presigning needs no request.
func newMinio(endpoint, accessKey, secretKey, region string) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("media: endpoint %q: want http(s)://host[:port]", endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure: u.Scheme == "https",
		Region: region,
	})
	if err != nil {
		return nil, fmt.Errorf("media: s3 client for %s: %w", endpoint, err)
	}
	return c, nil
}

// PresignPost implements Storage.
func (s *S3) PresignPost(ctx context.Context, p PostPolicy) (*PresignedPost, error) {
	return presign(ctx, s.public, s.bucket, p)
}

// Stat implements Storage.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s3Err(key, err)
	}
	return ObjectInfo{Size: info.Size, ModTime: info.LastModified, ContentType: info.ContentType}, nil
}

// Open implements Storage.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err(key, err)
	}
	if _, err := obj.Stat(); err != nil { // GetObject is lazy: surface a missing key now
		obj.Close()
		return nil, s3Err(key, err)
	}
	return obj, nil
}

// openPrefix fetches at most the first n bytes of key with a range
// request, so checking a header neither transfers nor buffers the rest.
func (s *S3) openPrefix(ctx context.Context, key string, n int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, n-1); err != nil {
		return nil, fmt.Errorf("media: s3 %s: %w", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, s3Err(key, err)
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).Code == "InvalidRange" { // an empty object
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s3Err(key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(obj, n), obj}, nil
}

func s3Err(key string, err error) error {
	if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("media: s3 %s: %w", key, err)
}
