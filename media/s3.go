package media

import (
	"context"
	"crypto/tls"
	"errors"
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
	// CAFile is a PEM file of the CAs to trust for an https Endpoint,
	// instead of the system's (the AWS CLI's --ca-bundle); empty: the
	// system's. With an http Endpoint it is refused: the operator meant
	// TLS and would not get it.
	CAFile       string
	CreateBucket bool // create Bucket at start when missing
	// CORSOrigins, with CreateBucket, are put on the bucket at start as its
	// CORS configuration (bucketCORS), replacing any other: web pages of
	// these origins may post uploads and read the answer. Empty: the
	// bucket's CORS configuration is left as it is.
	CORSOrigins []string
}

// S3 stores images in an S3 bucket through minio-go.
type S3 struct {
	client, public *minio.Client
	bucket, region string
	corsOrigins    []string
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
	if cfg.CAFile != "" && !strings.HasPrefix(cfg.Endpoint, "https://") {
		return nil, fmt.Errorf("media: s3: a CA file (%s) is set but the endpoint %q is not https://: the connection would not use TLS", cfg.CAFile, cfg.Endpoint)
	}
	tlsConf, err := TLSConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	client, err := newMinio(cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Region, tlsConf)
	if err != nil {
		return nil, err
	}
	public, err := newMinio(cfg.PublicEndpoint, cfg.AccessKey, cfg.SecretKey, cfg.Region, tlsConf)
	if err != nil {
		return nil, err
	}
	if _, err := cors.Parse(cfg.CORSOrigins); err != nil {
		return nil, fmt.Errorf("media: s3: %w", err)
	}
	s := &S3{client: client, public: public, bucket: cfg.Bucket, region: cfg.Region, corsOrigins: cfg.CORSOrigins}
	if cfg.CreateBucket {
		if err := s.EnsureBucket(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// EnsureBucket creates the bucket when missing and, with CORS origins,
// puts its CORS rule: what an admin key does once (tagstream s3-init), or
// the API at start when its key may (--s3-create-bucket).
func (s *S3) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err == nil && !ok {
		err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	}
	if err != nil {
		return fmt.Errorf("media: create bucket %s: %w", s.bucket, err)
	}
	if len(s.corsOrigins) > 0 {
		if err := s.client.SetBucketCors(ctx, s.bucket, bucketCORS(s.corsOrigins)); err != nil {
			return fmt.Errorf("media: put the CORS configuration of bucket %s: %w", s.bucket, err)
		}
	}
	return nil
}

// ErrBucketMissing means the bucket does not exist and this process may
// not create it (S3Config.CreateBucket false).
var ErrBucketMissing = errors.New("media: s3 bucket missing")

// CheckBucket proves the bucket exists and the key may use it, for a
// process that does not create it: a HEAD of the bucket, the one request
// that needs nothing beyond the object permissions (AWS maps it to
// s3:ListBucket, which the least-privilege policy of the README grants).
// A missing bucket is ErrBucketMissing; a refused key or a server that
// does not answer is returned as it is, for the caller to tell apart
// with IsUnreachable.
func (s *S3) CheckBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("media: s3 bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s does not exist, and this key may not create it: make it with an admin key (tagstream s3-init) and give this key access to it", ErrBucketMissing, s.bucket)
	}
	return nil
}

// IsUnreachable tells a server that did not answer (connection refused,
// timeout) from one that answered with an S3 error or whose certificate
// is not trusted (IsUntrusted): those are mistakes of the configuration,
// which waiting does not cure.
func IsUnreachable(err error) bool {
	var answer minio.ErrorResponse
	if err == nil || errors.Is(err, ErrBucketMissing) || IsUntrusted(err) {
		return false
	}
	return !errors.As(err, &answer) || answer.StatusCode == 0
}

// IsUntrusted: the server's certificate did not verify (an unknown CA, a
// name it is not for, expired).
func IsUntrusted(err error) bool {
	var cert *tls.CertificateVerificationError
	return errors.As(err, &cert)
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
// presigning needs no request. tlsConf, when not nil, replaces the system's
// trust for an https endpoint.
func newMinio(endpoint, accessKey, secretKey, region string, tlsConf *tls.Config) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("media: endpoint %q: want http(s)://host[:port]", endpoint)
	}
	secure := u.Scheme == "https"
	var transport http.RoundTripper
	if secure && tlsConf != nil {
		// minio's own transport (its timeouts, no gzip decoding), with our trust.
		tr, err := minio.DefaultTransport(true)
		if err != nil {
			return nil, fmt.Errorf("media: s3 transport for %s: %w", endpoint, err)
		}
		tr.TLSClientConfig = tlsConf.Clone()
		transport = tr
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:    secure,
		Region:    region,
		Transport: transport,
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
