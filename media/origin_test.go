package media

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// originWith stores img for alice and returns an origin over it and a
// function building signed URLs of it.
func originWith(t *testing.T, img []byte, cfg OriginConfig) (*Origin, func(width int) string) {
	t.Helper()
	l := newLocal(t)
	if _, err := l.Put("alice/IMG1", bytes.NewReader(img), 1<<30); err != nil {
		t.Fatal(err)
	}
	kr := testKeyring(t, "k1:"+secretA)
	exp := DefaultExpiry.At(time.Now())
	return NewOrigin(l, kr, cfg), func(w int) string { return kr.Build("", "alice", "IMG1", w, exp) }
}

func TestOriginCachesVariants(t *testing.T) {
	o, url := originWith(t, testImage(t, 800, 600, false), OriginConfig{})
	first := get(o, url(360))
	if first.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", first.Code, first.Body)
	}
	etag, cc := first.Header().Get("ETag"), first.Header().Get("Cache-Control")
	if etag == "" || !strings.HasPrefix(cc, "public, max-age=") {
		t.Fatalf("headers %v", first.Header())
	}
	again := get(o, url(360))
	if !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) || o.Stats().Decodes != 1 || o.Stats().CacheHits != 1 {
		t.Fatalf("second request: stats %+v", o.Stats())
	}
	if rec := get(o, url(360), "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", rec.Code)
	}
	if d := o.Stats().Decodes; d != 1 {
		t.Errorf("%d decodes for one variant", d)
	}
}

// A purge storm: many requests for one uncached variant decode it once.
func TestOriginDecodesOnceUnderConcurrency(t *testing.T) {
	o, url := originWith(t, testImage(t, 2000, 1500, false), OriginConfig{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if rec := get(o, url(640)); rec.Code != http.StatusOK {
				t.Errorf("GET: %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if d := o.Stats().Decodes; d != 1 {
		t.Errorf("%d decodes for 16 concurrent requests of one variant", d)
	}
}

func TestOriginWidths(t *testing.T) {
	o, url := originWith(t, testImage(t, 800, 600, true), OriginConfig{})
	if rec := get(o, url(500)); rec.Code != http.StatusBadRequest {
		t.Errorf("width 500: %d, want 400", rec.Code)
	}
	for w, want := range map[int]image.Point{160: {160, 120}, 1080: {800, 600}} {
		rec := get(o, url(w))
		cfg, format, err := image.DecodeConfig(rec.Body)
		if err != nil || format != "png" || rec.Header().Get("Content-Type") != "image/png" || (image.Point{cfg.Width, cfg.Height}) != want {
			t.Errorf("width %d: %s %dx%d (%v), want png %v", w, format, cfg.Width, cfg.Height, err, want)
		}
	}
}

func TestOriginRefuses(t *testing.T) {
	o, url := originWith(t, testImage(t, 100, 100, false), OriginConfig{})
	u := url(360)
	for name, c := range map[string]struct {
		url  string
		code int
	}{
		"no signature": {u[:strings.Index(u, "&sig=")], http.StatusForbidden},
		"unknown kid":  {strings.Replace(u, "kid=k1", "kid=k9", 1), http.StatusForbidden},
		"other user":   {strings.Replace(u, "/alice/", "/bob/", 1), http.StatusForbidden},
		"later exp":    {strings.Replace(u, "&exp=", "&exp=9", 1), http.StatusForbidden},
		"not an image": {"/img/alice", http.StatusNotFound},
		"deeper path":  {strings.Replace(u, "/IMG1", "/IMG1/x", 1), http.StatusNotFound},
	} {
		if rec := get(o, c.url); rec.Code != c.code {
			t.Errorf("%s: %d %s, want %d", name, rec.Code, rec.Body, c.code)
		}
	}
}

// A PNG whose header claims 60000×60000 pixels (14 GB decoded) is refused
// from its header alone.
func TestOriginRefusesDecompressionBombs(t *testing.T) {
	png := testImage(t, 1, 1, true)
	ihdr := png[8+8 : 8+8+13] // after the signature and IHDR's length and type
	binary.BigEndian.PutUint32(ihdr[0:], 60000)
	binary.BigEndian.PutUint32(ihdr[4:], 60000)
	binary.BigEndian.PutUint32(png[8+8+13:], crc32.ChecksumIEEE(png[8+4:8+8+13]))
	o, url := originWith(t, png, OriginConfig{})
	if rec := get(o, url(360)); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "over 50000000 pixels") {
		t.Fatalf("bomb: %d %s, want 422", rec.Code, rec.Body)
	}
}

func TestLRUIsBoundedByBytes(t *testing.T) {
	c := newLRU(250)
	for _, k := range []string{"a", "b", "c"} {
		c.add(k, &variant{data: make([]byte, 100)})
	}
	if c.get("a") != nil || c.get("b") == nil || c.get("c") == nil || c.bytes() != 200 {
		t.Fatalf("after 3×100 bytes into 250: a=%v bytes=%d", c.get("a"), c.bytes())
	}
	c.get("b") // b is now more recent than c
	c.add("d", &variant{data: make([]byte, 100)})
	if c.get("c") != nil || c.get("b") == nil {
		t.Fatal("evicted the recently used entry")
	}
}
