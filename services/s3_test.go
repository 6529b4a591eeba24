package services_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tagstream/tagstream/testenv"
)

func s3Client(t *testing.T) *minio.Client {
	t.Helper()
	endpoint := testenv.Get(t, "TAGSTREAM_S3_ENDPOINT", "a real S3 server (make services-up starts versitygw on http://127.0.0.1:19000)")
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	region := os.Getenv("TAGSTREAM_S3_REGION")
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("TAGSTREAM_S3_ACCESS_KEY"), os.Getenv("TAGSTREAM_S3_SECRET_KEY"), ""),
		Secure: u.Scheme == "https", Region: region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bucket(t *testing.T, c *minio.Client) string {
	t.Helper()
	name := fmt.Sprintf("smoke-%d", time.Now().UnixNano())
	if err := c.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: os.Getenv("TAGSTREAM_S3_REGION")}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return name
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The S3 server must check presigned URLs as S3 does, or the photo tests
// built on it would pass for the wrong reason.
func TestS3ChecksPresignedURLs(t *testing.T) {
	c := s3Client(t)
	b := bucket(t, c)
	ctx := context.Background()

	u, err := c.PresignedPutObject(ctx, b, "alice/ok", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	put := func(u string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("photo"))
		return send(t, req)
	}
	if code, body := put(u.String()); code != 200 {
		t.Fatalf("presigned PUT: %d %s", code, body)
	}
	obj, err := c.GetObject(ctx, b, "alice/ok", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(obj); string(got) != "photo" {
		t.Fatalf("read back %q", got)
	}

	q := u.Query()
	sig := q.Get("X-Amz-Signature")
	q.Set("X-Amz-Signature", strings.Repeat("0", len(sig)))
	tampered := *u
	tampered.RawQuery = q.Encode()
	if code, body := put(tampered.String()); code != http.StatusForbidden {
		t.Errorf("tampered signature: %d %s, want 403", code, body)
	}

	short, _ := c.PresignedPutObject(ctx, b, "alice/late", time.Second)
	time.Sleep(2 * time.Second)
	if code, body := put(short.String()); code != http.StatusForbidden {
		t.Errorf("expired URL: %d %s, want 403", code, body)
	}
}

func TestS3EnforcesPostPolicy(t *testing.T) {
	c := s3Client(t)
	b := bucket(t, c)
	p := minio.NewPostPolicy()
	p.SetBucket(b)
	p.SetKey("alice/img1")
	p.SetExpires(time.Now().UTC().Add(5 * time.Minute))
	p.SetContentLengthRange(1, 1000)
	p.SetContentTypeStartsWith("image/")
	u, fields, err := c.PresignedPostPolicy(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	post := func(contentType string, size int) (int, string) {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		for k, v := range fields {
			w.WriteField(k, v)
		}
		w.WriteField("Content-Type", contentType)
		f, _ := w.CreateFormFile("file", "img")
		f.Write(bytes.Repeat([]byte{0x89}, size))
		w.Close()
		req, _ := http.NewRequest(http.MethodPost, u.String(), &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		return send(t, req)
	}
	if code, body := post("image/png", 100); code/100 != 2 {
		t.Fatalf("upload within the policy: %d %s", code, body)
	}
	if code, body := post("image/png", 2000); code/100 == 2 {
		t.Errorf("upload over content-length-range accepted: %d %s", code, body)
	}
	if code, body := post("text/plain", 100); code/100 == 2 {
		t.Errorf("upload with another content type accepted: %d %s", code, body)
	}
}
