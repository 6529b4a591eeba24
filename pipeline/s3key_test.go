package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/token"
)

// The API's photo path end to end as production runs it: over https,
// trusting the test CA only, with the key limited to its bucket and
// --s3-create-bucket=false. A user reserves an upload through the API,
// posts the photo to the presigned https URL as a browser does, and the
// image origin reads it back resized. Then what stops the start: a bucket
// that is missing, one of another account, a CA that did not sign the
// server's certificate.
func TestAPIWithTheLimitedS3KeyOverTLS(t *testing.T) {
	endpoint := testenv.Get(t, "TAGSTREAM_TEST_S3_TLS_ENDPOINT", "the S3 server's https endpoint (services/s3.sh up serves https://127.0.0.1:19001)")
	ca := testenv.Get(t, "TAGSTREAM_TEST_TLS_CA", "the test CA (services/tls.sh up)")
	limited := media.S3Config{Endpoint: endpoint, CAFile: ca,
		AccessKey: testenv.Get(t, "TAGSTREAM_TEST_S3_API_ACCESS_KEY", "the API's limited S3 account (services/s3.sh up makes it)"),
		SecretKey: os.Getenv("TAGSTREAM_TEST_S3_API_SECRET_KEY"), Region: os.Getenv("TAGSTREAM_S3_REGION"),
		Bucket: testenv.Get(t, "TAGSTREAM_TEST_S3_API_BUCKET", "the bucket the API's account owns")}
	ctx := context.Background()
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	secret := []byte("0123456789abcdef0123456789abcdef")
	open := func(s3 media.S3Config) (api.Config, error) {
		return withMedia(ctx, MediaOptions{S3: s3, KeysDir: t.TempDir()}, api.Config{Secret: secret}, addr)
	}

	cfg, err := open(limited)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(cfg, nil, nil)
	tok, err := token.Mint(secret, "alice", time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/uploads", strings.NewReader(`{"content_type":"image/jpeg","size":100000}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var res media.Reservation
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &res) != nil {
		t.Fatalf("POST /v1/uploads: %d %s", w.Code, w.Body)
	}
	if !strings.HasPrefix(res.URL, endpoint+"/") {
		t.Fatalf("presigned URL %s: want one on %s", res.URL, endpoint)
	}
	tlsConf, err := media.TLSConfig(ca)
	if err != nil {
		t.Fatal(err)
	}
	postForm(t, &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tlsConf}}, res, photo(t, 800, 600))
	u := cfg.Signer.BuildAnyWidth("", "alice", res.ImageID, 320, media.DefaultExpiry.At(time.Now()))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, u, nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET %s: %d %s", u, w.Code, w.Body)
	}
	if c, _, err := image.DecodeConfig(w.Body); err != nil || c.Width != 320 {
		t.Fatalf("image read back: %dx%d %v, want width 320", c.Width, c.Height, err)
	}

	t.Run("a missing bucket stops the start", func(t *testing.T) {
		s3 := limited
		s3.Bucket = fmt.Sprintf("tagstream-missing-%d", time.Now().UnixNano())
		_, err := open(s3)
		if !errors.Is(err, media.ErrBucketMissing) || !strings.Contains(err.Error(), "s3-init") {
			t.Fatalf("got %v, want ErrBucketMissing naming s3-init", err)
		}
		t.Log(err)
	})
	t.Run("another account's bucket stops the start", func(t *testing.T) {
		s3 := limited
		s3.Bucket = fmt.Sprintf("tagstream-root-%d", time.Now().UnixNano())
		root := s3
		root.AccessKey, root.SecretKey, root.CreateBucket = os.Getenv("TAGSTREAM_S3_ACCESS_KEY"), os.Getenv("TAGSTREAM_S3_SECRET_KEY"), true
		if _, err := media.NewS3(ctx, root); err != nil {
			t.Fatal(err)
		}
		_, err := open(s3)
		if err == nil || media.IsUnreachable(err) || errors.Is(err, media.ErrBucketMissing) {
			t.Fatalf("got %v, want the server's refusal", err)
		}
		t.Log(err)
	})
	t.Run("a CA that did not sign the server's certificate stops the start", func(t *testing.T) {
		s3 := limited
		s3.CAFile = testenv.OtherCA(t)
		_, err := open(s3)
		if !media.IsUntrusted(err) || !strings.Contains(err.Error(), "--s3-ca") {
			t.Fatalf("got %v, want an untrusted certificate naming --s3-ca", err)
		}
		t.Log(err)
	})
}

// --s3-ca alone would trust a CA for nothing: refused at start, so the
// operator learns the endpoint is missing.
func TestS3CAWithoutEndpoint(t *testing.T) {
	_, err := withMedia(context.Background(), MediaOptions{S3: media.S3Config{CAFile: "ca.pem"}, KeysDir: t.TempDir()},
		api.Config{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080})
	if err == nil || !strings.Contains(err.Error(), "without --s3-endpoint") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
}
