package pipeline

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/metrics"
)

// imageRenders times the origin's renders of a variant (read, decode,
// resize, encode) by result; a cache hit renders nothing.
var imageRenders = metrics.Default.NewHistogramVec("tagstream_image_render_duration_seconds",
	"Time the image origin took to read, decode, resize and encode a variant, by result (ok or error).", nil, "result")

// MediaOptions configures the photo half of an API process: where originals
// are stored, the keys signing image URLs, upload and resize limits.
type MediaOptions struct {
	// S3 is the S3 storage, used when S3.Endpoint is set.
	S3 media.S3Config
	// EmbeddedDir, used when S3.Endpoint is empty, keeps originals in the
	// embedded store (media.Local) under this directory and serves its
	// upload endpoint from the API's own server: `tagstream run`'s demo
	// default. Empty too: no storage, and uploads, posts naming an image
	// and the image origin answer 503 (a read-only API replica).
	EmbeddedDir string
	// Keys are the image-URL signing keys (media.ParseKeyring). Empty: one
	// generated and kept in KeysDir (media.LoadOrCreateKeyring), or, with
	// KeysDir empty too, one derived from DeriveFrom.
	Keys    string
	KeysDir string
	// DeriveFrom is the secret the default key of a scaled-out API is
	// derived from: the token secret, which every replica already shares,
	// so replicas sign and verify alike with no key file to distribute.
	DeriveFrom []byte
	Uploads    media.UploadConfig
	Origin     media.OriginConfig
}

// Describe says, in one line for a start-up banner, where images go.
func (o MediaOptions) Describe() string {
	switch {
	case o.S3.Endpoint != "":
		bucket := o.S3.Bucket
		if bucket == "" {
			bucket = "tagstream-images"
		}
		d := fmt.Sprintf("S3 at %s, bucket %s", o.S3.Endpoint, bucket)
		if o.S3.CAFile != "" {
			d += ", CA " + o.S3.CAFile
		}
		if !o.S3.CreateBucket {
			d += " (made by an admin: not created here)"
		}
		return d
	case o.EmbeddedDir != "":
		return "embedded (no S3 server) at " + o.EmbeddedDir
	}
	return "none (no --s3-endpoint): uploads, posts with an image_id and /img/ answer 503"
}

// withMedia fills cfg's photo dependencies: storage, uploads, signer,
// origin, and the embedded store's upload route. addr is the API's bound
// address, which the embedded store's presigned URLs point at. The
// storage allows browser uploads from cfg.CORSOrigins, the origins the
// API allows: a web app that may reserve an upload may post it.
func withMedia(ctx context.Context, o MediaOptions, cfg api.Config, addr net.Addr) (api.Config, error) {
	if o.S3.CAFile != "" && o.S3.Endpoint == "" {
		return cfg, fmt.Errorf("pipeline: --s3-ca %s without --s3-endpoint: there is no S3 server to trust it for", o.S3.CAFile)
	}
	keys, err := keyring(o)
	if err != nil {
		return cfg, err
	}
	cfg.Signer = keys
	cfg.ImageWidths = o.Origin.Widths
	if len(cfg.ImageWidths) == 0 {
		cfg.ImageWidths = media.DefaultWidths
	}
	width := cfg.ImageWidth
	if width == 0 {
		width = 640
	}
	if len(o.Origin.Widths) > 0 && !slices.Contains(o.Origin.Widths, width) {
		return cfg, fmt.Errorf("pipeline: image widths %v lack %d, the width hashtag pages link", o.Origin.Widths, width)
	}
	var store media.Storage
	switch {
	case o.S3.Endpoint != "":
		s3 := o.S3
		s3.CORSOrigins = cfg.CORSOrigins
		if store, err = openS3(ctx, s3); err != nil {
			return cfg, err
		}
	case o.EmbeddedDir != "":
		local, err := media.NewLocal(media.LocalConfig{Dir: o.EmbeddedDir, PublicURL: "http://" + reachable(addr.String()),
			CORSOrigins: cfg.CORSOrigins})
		if err != nil {
			return cfg, err
		}
		if cfg.Routes == nil {
			cfg.Routes = map[string]http.Handler{}
		}
		cfg.Routes["POST "+local.UploadPath()] = local
		if len(cfg.CORSOrigins) > 0 {
			// The store answers its own preflights, as a bucket does.
			cfg.Routes["OPTIONS "+local.UploadPath()] = local
		}
		store = local
	default:
		// Image URLs are still signed: another process may serve them.
		return cfg, nil
	}
	// Uploads are checked against the limits of the origin that will
	// serve them, so a post never names an image the origin refuses.
	up := o.Uploads
	up.Origin = o.Origin
	cfg.Uploads = media.NewUploads(store, up)
	oc := o.Origin
	oc.ObserveRender = func(d time.Duration, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		imageRenders.WithLabelValues(result).Observe(d.Seconds())
	}
	origin := media.NewOrigin(store, keys, oc)
	metrics.Default.NewCounterFunc("tagstream_image_cache_hits_total", "Image requests served from the origin's cache of resized variants.",
		func() float64 { return float64(origin.Stats().CacheHits) })
	metrics.Default.NewCounterFunc("tagstream_image_decodes_total", "Originals the image origin read and decoded to resize.",
		func() float64 { return float64(origin.Stats().Decodes) })
	metrics.Default.NewGaugeFunc("tagstream_image_cache_bytes", "Bytes of resized variants the image origin keeps.",
		func() float64 { return float64(origin.Stats().CachedBytes) })
	cfg.Origin = origin
	return cfg, nil
}

func keyring(o MediaOptions) (*media.Keyring, error) {
	if o.Keys != "" {
		return media.ParseKeyring(o.Keys)
	}
	if o.KeysDir != "" {
		return media.LoadOrCreateKeyring(o.KeysDir)
	}
	if len(o.DeriveFrom) == 0 {
		return nil, fmt.Errorf("pipeline: no image-signing keys, no directory to keep generated ones in, no secret to derive one from")
	}
	// HMAC with a fixed label: a key of its own, which reveals nothing of
	// the token secret and cannot mint tokens.
	h := hmac.New(sha256.New, o.DeriveFrom)
	h.Write([]byte("tagstream image-url signing key v1"))
	return media.ParseKeyring("derived:" + base64.StdEncoding.EncodeToString(h.Sum(nil)))
}

// openS3 connects to S3 and, with c.CreateBucket, creates the bucket if
// missing, with its CORS rule; without, it checks that the bucket exists
// (a key limited to the bucket may not create it). An S3 server that is
// down at start must not keep the read API down: then the bucket is
// assumed to exist (with the rule it had), and uploads answer 503 until
// the server is back. An untrusted certificate stops the start, and so do
// a missing bucket and a refused key without c.CreateBucket: mistakes of
// the configuration, which no wait repairs. With it, a refusal is only
// warned of, as before --s3-create-bucket existed.
func openS3(ctx context.Context, c media.S3Config) (media.Storage, error) {
	create := c.CreateBucket
	c.CreateBucket = false
	s, err := media.NewS3(ctx, c) // no request yet: the configuration's own errors
	if err != nil {
		return nil, err
	}
	// minio-go retries an unreachable server for minutes; the start waits
	// this long at most.
	ctx, cancel := context.WithTimeout(ctx, s3StartTimeout)
	defer cancel()
	if create {
		err = s.EnsureBucket(ctx)
	} else {
		err = s.CheckBucket(ctx)
	}
	if err == nil {
		return s, nil
	}
	if media.IsUntrusted(err) {
		return nil, fmt.Errorf("%w (is --s3-ca the CA that signed the server's certificate, and the name in --s3-endpoint one it is for?)", err)
	}
	if !create && !media.IsUnreachable(err) {
		return nil, err
	}
	slog.Warn("cannot check or create the S3 bucket, or put its CORS rule: uploads fail until S3 answers, "+
		"and those of web apps on other origins may until the API restarts",
		"endpoint", c.Endpoint, "err", err)
	return s, nil
}

// s3StartTimeout bounds the bucket check at start.
const s3StartTimeout = 15 * time.Second

// reachable returns addr with an unspecified host (0.0.0.0, ::) replaced
// by loopback, so a URL built from it can be fetched on this machine.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
