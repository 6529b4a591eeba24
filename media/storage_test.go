package media

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// The same suite runs against the embedded store and a real S3 server: the
// storage itself, not our code in front of it, must refuse uploads outside
// the policy.
func TestLocalStorage(t *testing.T) { testStorage(t, newLocal(t, appOrigin)) }

// appOrigin is the web app both stores of the suite allow to upload.
const appOrigin = "https://app.example.com"

func TestS3Storage(t *testing.T) {
	endpoint := testenv.Get(t, "TAGSTREAM_S3_ENDPOINT", "a real S3 server (services/s3.sh up starts versitygw on http://127.0.0.1:19000)")
	s, err := NewS3(context.Background(), S3Config{
		Endpoint:  endpoint,
		AccessKey: os.Getenv("TAGSTREAM_S3_ACCESS_KEY"), SecretKey: os.Getenv("TAGSTREAM_S3_SECRET_KEY"),
		Region:       os.Getenv("TAGSTREAM_S3_REGION"),
		Bucket:       fmt.Sprintf("media-%d", time.Now().UnixNano()),
		CreateBucket: true,
		CORSOrigins:  []string{appOrigin},
	})
	if err != nil {
		t.Fatal(err)
	}
	testStorage(t, s)
}

func testStorage(t *testing.T, store Storage) {
	ctx := context.Background()
	up := NewUploads(store, UploadConfig{})
	photo := testImage(t, 1200, 800, false)
	reserve := func(t *testing.T, up *Uploads) *Reservation {
		t.Helper()
		res, err := up.Reserve(ctx, "alice", "image/jpeg", int64(len(photo)))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// refused checks that the storage refused an upload and stored nothing.
	refused := func(t *testing.T, res *Reservation, code int, body string) {
		t.Helper()
		if code/100 == 2 {
			t.Fatalf("upload accepted: %d %s", code, body)
		}
		t.Logf("refused: %d %s", code, body)
		for _, user := range []string{"alice", "bob"} {
			if err := up.Exists(ctx, user, res.ImageID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Exists(%s) after a refused upload: %v", user, err)
			}
		}
	}
	with := func(fields map[string]string, k, v string) map[string]string {
		m := map[string]string{k: v}
		for fk, fv := range fields {
			if !strings.EqualFold(fk, k) {
				m[fk] = fv
			}
		}
		return m
	}

	t.Run("within the policy, then resized by the origin", func(t *testing.T) {
		res := reserve(t, up)
		if code, body := browserPost(t, res.URL, res.Fields, photo); code/100 != 2 {
			t.Fatalf("upload within the policy: %d %s", code, body)
		}
		if err := up.Exists(ctx, "alice", res.ImageID); err != nil {
			t.Fatalf("Exists(alice): %v", err)
		}
		if err := up.Exists(ctx, "bob", res.ImageID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Exists(bob) = %v, want ErrNotFound", err)
		}

		kr := testKeyring(t, "k1:"+secretA)
		o := NewOrigin(store, kr, OriginConfig{})
		u := kr.Build("", "alice", res.ImageID, 320, DefaultExpiry.At(time.Now()))
		rec := get(o, u)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/jpeg" {
			t.Fatalf("GET %s: %d %s %s", u, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		cfg, _, err := image.DecodeConfig(rec.Body)
		if err != nil || cfg.Width != 320 || cfg.Height != 213 {
			t.Fatalf("resized to %dx%d (%v), want 320x213", cfg.Width, cfg.Height, err)
		}
		tampered := strings.Replace(u, "w=320", "w=640", 1)
		expired := kr.Build("", "alice", res.ImageID, 320, time.Now().Add(-time.Second))
		for name, u := range map[string]string{"tampered": tampered, "expired": expired} {
			if rec := get(o, u); rec.Code != http.StatusForbidden {
				t.Errorf("%s URL: %d %s, want 403", name, rec.Code, rec.Body)
			}
		}
	})
	// The bucket's CORS rule (bucketCORS, and the embedded store's copy of
	// it) lets a page of the app post the form and read the answer, and
	// no other origin: their preflights are refused, and their answers
	// carry no allow-origin, so the browser hides them from the script.
	t.Run("CORS for the app's origin only", func(t *testing.T) {
		res := reserve(t, up)
		code, h, body := preflight(t, res.URL, appOrigin, "POST", "")
		if code/100 != 2 || h.Get("Access-Control-Allow-Origin") != appOrigin || h.Get("Access-Control-Allow-Methods") != "POST" ||
			h.Get("Access-Control-Max-Age") != "3600" || !strings.Contains(h.Get("Vary"), "Origin") {
			t.Fatalf("preflight from the app: %d %v %s", code, h, body)
		}
		for name, c := range map[string]struct{ origin, method, headers string }{
			"another origin":               {"https://evil.example", "POST", ""},
			"the app's origin as a prefix": {appOrigin + ".evil.example", "POST", ""},
			"another method":               {appOrigin, "PUT", ""},
			"a request header":             {appOrigin, "POST", "x-amz-acl"},
		} {
			code, h, body := preflight(t, res.URL, c.origin, c.method, c.headers)
			if code != http.StatusForbidden || h.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(body, "CORSResponse") {
				t.Errorf("preflight, %s: %d %v %s", name, code, h, body)
			}
		}
		code, h, body = browserPostFrom(t, res.URL, res.Fields, photo, appOrigin)
		if code/100 != 2 || h.Get("Access-Control-Allow-Origin") != appOrigin || !strings.Contains(h.Get("Vary"), "Origin") {
			t.Fatalf("upload from the app: %d %v %s", code, h, body)
		}
		if err := up.Exists(ctx, "alice", res.ImageID); err != nil {
			t.Fatalf("Exists after the app's upload: %v", err)
		}
		// A form post is a simple request: the browser sends it without a
		// preflight, and the storage stores it; what the other origin
		// lacks is the answer. The signed policy, not CORS, guards writes.
		other := reserve(t, up)
		code, h, body = browserPostFrom(t, other.URL, other.Fields, photo, "https://evil.example")
		if code/100 != 2 || h.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("upload from another origin: %d %v %s", code, h, body)
		}
		// A refused upload: the app's script reads why (S3's XML error)
		// from both stores when a condition of the policy fails. A bad
		// signature differs: versitygw v1.8.0 checks it before its CORS
		// step and answers without an allow-origin, so the script sees a
		// network error; the embedded store lets it read why. Either way
		// nothing is stored.
		_, embedded := store.(*Local)
		for name, c := range map[string]struct {
			k, v     string
			readable bool
		}{
			"another user's key":   {"key", "bob/", true},
			"a tampered signature": {"x-amz-signature", strings.Repeat("0", 64), embedded},
		} {
			res := reserve(t, up)
			v := c.v
			if c.k == "key" {
				v += res.ImageID
			}
			code, h, body := browserPostFrom(t, res.URL, with(res.Fields, c.k, v), photo, appOrigin)
			refused(t, res, code, body)
			if readable := h.Get("Access-Control-Allow-Origin") == appOrigin; readable != c.readable {
				t.Errorf("%s: the refusal readable by the app's script: %v, want %v for %T", name, readable, c.readable, store)
			}
		}
	})
	t.Run("over the size limit", func(t *testing.T) {
		res := reserve(t, up)
		code, body := browserPost(t, res.URL, res.Fields, append(photo, make([]byte, 100)...))
		refused(t, res, code, body)
	})
	t.Run("another content type", func(t *testing.T) {
		res := reserve(t, up)
		code, body := browserPost(t, res.URL, with(res.Fields, "Content-Type", "text/html"), photo)
		refused(t, res, code, body)
	})
	t.Run("another user's key", func(t *testing.T) {
		res := reserve(t, up)
		code, body := browserPost(t, res.URL, with(res.Fields, "key", "bob/"+res.ImageID), photo)
		refused(t, res, code, body)
	})
	t.Run("tampered signature", func(t *testing.T) {
		res := reserve(t, up)
		sig := res.Fields["x-amz-signature"]
		code, body := browserPost(t, res.URL, with(res.Fields, "x-amz-signature", strings.Repeat("0", len(sig))), photo)
		refused(t, res, code, body)
	})
	// Exists reads the header of what was stored, never the pixels, and
	// refuses what the origin would not serve.
	posted := func(t *testing.T, contentType string, file []byte) (*Reservation, error) {
		t.Helper()
		res, err := up.Reserve(ctx, "alice", contentType, int64(len(file)))
		if err != nil {
			t.Fatal(err)
		}
		if code, body := browserPost(t, res.URL, res.Fields, file); code/100 != 2 {
			t.Fatalf("upload: %d %s", code, body)
		}
		return res, up.Exists(ctx, "alice", res.ImageID)
	}
	notImage := func(t *testing.T, contentType string, file []byte) {
		t.Helper()
		if _, err := posted(t, contentType, file); !errors.Is(err, ErrNotImage) {
			t.Fatalf("Exists = %v, want ErrNotImage", err)
		} else {
			t.Log(err)
		}
	}
	t.Run("each allowed type is an image", func(t *testing.T) {
		gifImg := manyFrameGIF(t, 30, 20, 2, false)
		webp := losslessWebP(30, 20, color.NRGBA{A: 255})
		for ct, file := range map[string][]byte{"image/png": testImage(t, 30, 20, true), "image/gif": gifImg, "image/webp": webp} {
			if _, err := posted(t, ct, file); err != nil {
				t.Errorf("%s: Exists = %v", ct, err)
			}
		}
	})
	t.Run("not an image", func(t *testing.T) {
		notImage(t, "image/jpeg", []byte("<html><script>alert(1)</script></html>"))
	})
	t.Run("over the pixel limit", func(t *testing.T) {
		notImage(t, "image/png", rawPNG(60000, 60000, 6, 8, false, 100))
	})
	t.Run("over the decode budget", func(t *testing.T) {
		notImage(t, "image/jpeg", jpegDC(jpegSpec{w: 7071, h: 7071, progressive: true,
			sampling: []byte{0x11, 0x11, 0x11}, adobe: -1, jfif: true}))
	})
	t.Run("another type than declared", func(t *testing.T) {
		res, err := posted(t, "image/jpeg", testImage(t, 30, 20, true))
		if info, serr := store.Stat(ctx, res.Key); serr != nil || info.ContentType != "image/jpeg" {
			testenv.Skip(t, fmt.Sprintf("the storage keeps no declared type: %+v %v", info, serr))
		}
		if !errors.Is(err, ErrNotImage) {
			t.Fatalf("a PNG uploaded as image/jpeg: Exists = %v, want ErrNotImage", err)
		}
		t.Log(err)
	})
	t.Run("after expiry", func(t *testing.T) {
		short := NewUploads(store, UploadConfig{TTL: time.Second})
		res := reserve(t, short)
		time.Sleep(time.Until(res.ExpiresAt) + time.Second)
		code, body := browserPost(t, res.URL, res.Fields, photo)
		refused(t, res, code, body)
	})
}
