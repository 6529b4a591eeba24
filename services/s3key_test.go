package services_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/testenv"
)

// httpsClient trusts the test CA alone, as tagstream does with --s3-ca.
func httpsClient(t *testing.T) *http.Client {
	t.Helper()
	conf, err := media.TLSConfig(testenv.Get(t, "TAGSTREAM_TEST_TLS_CA", "the test CA (services/tls.sh up)"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: conf}}
}

// The API's account of services/s3.sh, over the TLS gateway: what it may
// do in the bucket it owns works, and everything else is refused with the
// S3 error code AWS gives a key without the permission. versitygw narrows
// ListBuckets to the caller's own buckets rather than refusing it (AWS,
// with the README's policy, answers AccessDenied): either way the key
// learns no other bucket's name.
func TestS3APIKeyIsLimitedToItsBucket(t *testing.T) {
	root := s3Client(t)
	endpoint := testenv.Get(t, "TAGSTREAM_TEST_S3_TLS_ENDPOINT", "the S3 server's https endpoint (services/s3.sh up serves https://127.0.0.1:19001)")
	access := testenv.Get(t, "TAGSTREAM_TEST_S3_API_ACCESS_KEY", "the API's limited account (services/s3.sh up makes it)")
	own := testenv.Get(t, "TAGSTREAM_TEST_S3_API_BUCKET", "the bucket the API's account owns")
	hc := httpsClient(t)
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	region := os.Getenv("TAGSTREAM_S3_REGION")
	api, err := minio.New(u.Host, &minio.Options{Secure: u.Scheme == "https", Region: region, Transport: hc.Transport,
		Creds: credentials.NewStaticV4(access, os.Getenv("TAGSTREAM_TEST_S3_API_SECRET_KEY"), "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other := bucket(t, root) // root's: another account's bucket
	if _, err := root.PutObject(ctx, other, "secret", strings.NewReader("root's"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("in its own bucket: put, get, presign, delete", func(t *testing.T) {
		key := "limited/" + time.Now().Format("150405.000000000")
		if _, err := api.PutObject(ctx, own, key, strings.NewReader("photo"), 5, minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		// A presigned upload over https, read back over https.
		pu, err := api.PresignedPutObject(ctx, own, key+"-presigned", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if pu.Scheme != "https" {
			t.Fatalf("presigned URL %s: want https", pu)
		}
		req, _ := http.NewRequest(http.MethodPut, pu.String(), strings.NewReader("presigned photo"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("presigned PUT: %d", resp.StatusCode)
		}
		for k, want := range map[string]string{key: "photo", key + "-presigned": "presigned photo"} {
			obj, err := api.GetObject(ctx, own, k, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || string(got) != want {
				t.Fatalf("GetObject %s: %q %v, want %q", k, got, err, want)
			}
			if err := api.RemoveObject(ctx, own, k, minio.RemoveObjectOptions{}); err != nil {
				t.Fatalf("RemoveObject %s: %v", k, err)
			}
			if _, err := api.StatObject(ctx, own, k, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
				t.Fatalf("StatObject after RemoveObject: %v, want NoSuchKey", err)
			}
		}
	})

	refused := func(t *testing.T, what string, err error) {
		t.Helper()
		if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
			t.Errorf("%s: %v (code %q), want AccessDenied", what, err, code)
		} else {
			t.Logf("%s: %s", what, code)
		}
	}
	t.Run("no bucket creation", func(t *testing.T) {
		refused(t, "MakeBucket", api.MakeBucket(ctx, "tagstream-api-made-"+time.Now().Format("150405"), minio.MakeBucketOptions{Region: region}))
	})
	t.Run("another account's bucket", func(t *testing.T) {
		_, err := api.StatObject(ctx, other, "secret", minio.StatObjectOptions{})
		refused(t, "StatObject", err)
		obj, err := api.GetObject(ctx, other, "secret", minio.GetObjectOptions{})
		if err == nil {
			_, err = io.ReadAll(obj)
			obj.Close()
		}
		refused(t, "GetObject", err)
		_, err = api.PutObject(ctx, other, "planted", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		refused(t, "PutObject", err)
		refused(t, "RemoveObject", api.RemoveObject(ctx, other, "secret", minio.RemoveObjectOptions{}))
		for o := range api.ListObjects(ctx, other, minio.ListObjectsOptions{}) {
			refused(t, "ListObjects", o.Err)
			break
		}
		refused(t, "SetBucketPolicy", api.SetBucketPolicy(ctx, other, `{"Version":"2012-10-17","Statement":[]}`))
		// A URL the key presigns for another bucket is refused when used.
		pu, err := api.PresignedPutObject(ctx, other, "planted", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, pu.String(), strings.NewReader("x"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
			t.Errorf("presigned PUT into another bucket: %d %s, want 403 AccessDenied", resp.StatusCode, body)
		}
		if _, err := root.StatObject(ctx, other, "planted", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Errorf("an object was planted in another bucket: %v", err)
		}
	})
	t.Run("listing shows its own bucket only", func(t *testing.T) {
		bs, err := api.ListBuckets(ctx)
		if err != nil && minio.ToErrorResponse(err).Code != "AccessDenied" {
			t.Fatal(err)
		}
		var names []string
		for _, b := range bs {
			names = append(names, b.Name)
		}
		if slices.Contains(names, other) || (err == nil && !slices.Equal(names, []string{own})) {
			t.Fatalf("ListBuckets: %v, want only %s (or AccessDenied)", names, own)
		}
		t.Logf("ListBuckets: %v %v", names, err)
	})
}
