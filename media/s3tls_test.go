package media

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// s3TLS is the TLS endpoint of the test S3 server and the test CA.
func s3TLS(t *testing.T) (endpoint, ca string) {
	t.Helper()
	endpoint = testenv.Get(t, "TAGSTREAM_TEST_S3_TLS_ENDPOINT", "the S3 server's https endpoint (services/s3.sh up serves https://127.0.0.1:19001)")
	ca = testenv.Get(t, "TAGSTREAM_TEST_TLS_CA", "the test CA (services/tls.sh up; services/all.sh env names it)")
	return endpoint, ca
}

// The whole storage suite over https, with the API's key limited to its
// bucket, as a production API runs: an admin key makes the bucket and its
// CORS rule once (tagstream s3-init), the API's key only checks it is
// there. Presigned upload URLs are https, and the browser's posts and the
// origin's reads go through TLS verified against the test CA alone.
func TestS3StorageOverTLSWithTheAPIKey(t *testing.T) {
	endpoint, ca := s3TLS(t)
	apiKey := testenv.Get(t, "TAGSTREAM_TEST_S3_API_ACCESS_KEY", "the API's limited S3 account (services/s3.sh up makes it)")
	bucket := testenv.Get(t, "TAGSTREAM_TEST_S3_API_BUCKET", "the bucket the API's account owns")
	ctx := context.Background()
	admin := S3Config{Endpoint: endpoint, CAFile: ca, AccessKey: os.Getenv("TAGSTREAM_S3_ACCESS_KEY"), SecretKey: os.Getenv("TAGSTREAM_S3_SECRET_KEY"),
		Region: os.Getenv("TAGSTREAM_S3_REGION"), Bucket: bucket, CreateBucket: true, CORSOrigins: []string{appOrigin}}
	if _, err := NewS3(ctx, admin); err != nil {
		t.Fatalf("as s3-init does, with the admin key: %v", err)
	}
	s, err := NewS3(ctx, S3Config{Endpoint: endpoint, CAFile: ca, AccessKey: apiKey, SecretKey: os.Getenv("TAGSTREAM_TEST_S3_API_SECRET_KEY"),
		Region: os.Getenv("TAGSTREAM_S3_REGION"), Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckBucket(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := NewUploads(s, UploadConfig{}).Reserve(ctx, "alice", "image/jpeg", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.URL, "https://") {
		t.Fatalf("presigned upload URL %s: want https", res.URL)
	}
	tlsConf, err := TLSConfig(ca)
	if err != nil {
		t.Fatal(err)
	}
	old := browser
	browser = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: time.Minute}
	t.Cleanup(func() { browser = old })
	testStorage(t, s)
}

// A CA that did not sign the server's certificate: the first request says
// so, and IsUntrusted tells it from a server that is down, so the API
// refuses to start instead of waiting for S3.
func TestS3RefusesAnUntrustedCertificate(t *testing.T) {
	endpoint, _ := s3TLS(t)
	other := testenv.OtherCA(t)
	s, err := NewS3(context.Background(), S3Config{Endpoint: endpoint, CAFile: other, AccessKey: os.Getenv("TAGSTREAM_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("TAGSTREAM_S3_SECRET_KEY"), Region: os.Getenv("TAGSTREAM_S3_REGION"), Bucket: "tagstream-images"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.CheckBucket(ctx)
	if !IsUntrusted(err) || IsUnreachable(err) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("CheckBucket with another CA: %v; want an untrusted certificate", err)
	}
	t.Log(err)
	// Without --s3-ca, the system's CAs do not know the test CA either.
	s, err = NewS3(context.Background(), S3Config{Endpoint: endpoint, AccessKey: "x", SecretKey: "y", Bucket: "tagstream-images"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckBucket(ctx); !IsUntrusted(err) {
		t.Fatalf("CheckBucket with the system's CAs: %v; want an untrusted certificate", err)
	}
}

// What each bad --s3-ca gets: an error at start naming the file and what
// is wrong, before any request, at a bounded cost (at most 1 MiB read).
func TestS3CAFileHostile(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := testenv.OtherCA(t)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not really")})
	huge := make([]byte, maxCAFileBytes+1)
	for _, c := range []struct {
		name, endpoint, ca, want string
	}{
		{"missing file", "https://s3.example.com", filepath.Join(dir, "absent.pem"), "no such file"},
		{"a directory", "https://s3.example.com", dir, "is a directory"},
		{"empty file", "https://s3.example.com", file("empty.pem", nil), "no PEM CERTIFICATE block"},
		{"a key, not a certificate", "https://s3.example.com", file("key.pem", keyPEM), "no PEM CERTIFICATE block"},
		{"DER or garbage", "https://s3.example.com", file("garbage.der", []byte{0x30, 0x82, 0x01, 0x00, 0xff}), "no PEM CERTIFICATE block"},
		{"a broken certificate", "https://s3.example.com", file("broken.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})), "certificate 1:"},
		{"over 1 MiB", "https://s3.example.com", file("big.pem", huge), "over 1048576 bytes"},
		{"http endpoint with a CA", "http://127.0.0.1:19000", good, "is not https://"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewS3(context.Background(), S3Config{Endpoint: c.endpoint, CAFile: c.ca, AccessKey: "k", SecretKey: "s"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			t.Log(err)
		})
	}
	t.Run("a good CA: TLS 1.2 at least, only that CA trusted", func(t *testing.T) {
		conf, err := TLSConfig(good)
		if err != nil {
			t.Fatal(err)
		}
		if conf.MinVersion != tls.VersionTLS12 || conf.RootCAs == nil || conf.InsecureSkipVerify {
			t.Fatalf("TLS config %+v", conf)
		}
	})
}
