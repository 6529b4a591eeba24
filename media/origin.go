package media

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// OriginConfig configures the origin. Zero fields take the defaults.
type OriginConfig struct {
	Widths         []int // allowed widths; default 160, 320, 360, 640, 1080
	CacheBytes     int64 // bound of the resized-variant cache; default 64 MiB, negative: no cache
	MaxPixels      int64 // largest original decoded, width×height; default 50 million
	MaxSourceBytes int64 // largest original read; default 32 MiB
	JPEGQuality    int   // default 80
	MaxDecodes     int   // decodes at once (each holds a full-size original); default GOMAXPROCS
}

// Origin is the CDN origin for signed image URLs (Keyring.Build): it serves
// GET /img/{user_id}/{image_id}?w=&exp=&kid=&sig= (mount it at "GET /img/").
type Origin struct {
	store  Storage
	keys   *Keyring
	cfg    OriginConfig
	cache  *lru
	flight singleflight.Group
	decode chan struct{}
	now    func() time.Time

	decodes, hits atomic.Int64
}

// OriginStats counts the origin's work since it started.
type OriginStats struct {
	Decodes     int64 // originals decoded and resized
	CacheHits   int64 // requests served from the variant cache
	CachedBytes int64 // bytes of variants cached now
}

// NewOrigin returns an origin serving images of store signed by keys.
func NewOrigin(store Storage, keys *Keyring, cfg OriginConfig) *Origin {
	if len(cfg.Widths) == 0 {
		cfg.Widths = []int{160, 320, 360, 640, 1080}
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = 50_000_000
	}
	if cfg.MaxSourceBytes <= 0 {
		cfg.MaxSourceBytes = 32 << 20
	}
	if cfg.JPEGQuality <= 0 {
		cfg.JPEGQuality = 80
	}
	if cfg.MaxDecodes <= 0 {
		cfg.MaxDecodes = runtime.GOMAXPROCS(0)
	}
	return &Origin{store: store, keys: keys, cfg: cfg, cache: newLRU(cfg.CacheBytes),
		decode: make(chan struct{}, cfg.MaxDecodes), now: time.Now}
}

// Stats returns the origin's counters.
func (o *Origin) Stats() OriginStats {
	return OriginStats{Decodes: o.decodes.Load(), CacheHits: o.hits.Load(), CachedBytes: o.cache.bytes()}
}

// ServeHTTP answers 200 with the resized image (Cache-Control public until
// the URL's expiry, ETag; 304 on a matching If-None-Match), 403 for a
// missing, tampered or expired signature, 400 for a width not allowed, 404
// for a missing image, 422 for an original it cannot decode, 502 when the
// storage fails.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, image, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/img/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/img/") || !ok || strings.Contains(image, "/") {
		httpError(w, http.StatusNotFound, "not an image path: want /img/{user_id}/{image_id}")
		return
	}
	now := o.now()
	width, exp, err := o.keys.verify(user, image, r.URL.Query(), now)
	if err != nil {
		httpError(w, http.StatusForbidden, err.Error())
		return
	}
	if !slices.Contains(o.cfg.Widths, width) {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("media: width %d is not one of %v", width, o.cfg.Widths))
		return
	}
	v, err := o.variant(r, user+"/"+image, width)
	if err != nil {
		code := http.StatusBadGateway
		switch {
		case errors.Is(err, ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, errUnprocessable):
			code = http.StatusUnprocessableEntity
		}
		httpError(w, code, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", v.contentType)
	h.Set("ETag", v.etag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(exp.Sub(now)/time.Second))+", immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.data))
}

// variant returns key at width from the cache, or resizes it once however
// many requests ask at the same time (a purge storm on a hot image).
func (o *Origin) variant(r *http.Request, key string, width int) (*variant, error) {
	ck := key + "@" + strconv.Itoa(width)
	if v := o.cache.get(ck); v != nil {
		o.hits.Add(1)
		return v, nil
	}
	v, err, _ := o.flight.Do(ck, func() (any, error) {
		// Detached from r: other requests wait on this one.
		rc, err := o.store.Open(context.WithoutCancel(r.Context()), key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		src, err := io.ReadAll(io.LimitReader(rc, o.cfg.MaxSourceBytes+1))
		if err != nil {
			return nil, fmt.Errorf("media: read %s: %w", key, err)
		}
		if int64(len(src)) > o.cfg.MaxSourceBytes {
			return nil, fmt.Errorf("%w: %s is over %d bytes", errUnprocessable, key, o.cfg.MaxSourceBytes)
		}
		o.decode <- struct{}{}
		defer func() { <-o.decode }()
		o.decodes.Add(1)
		v, err := resize(src, width, o.cfg.MaxPixels, o.cfg.JPEGQuality)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, key)
		}
		o.cache.add(ck, v)
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*variant), nil
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// lru is a cache of variants bounded by the bytes they hold.
type lru struct {
	mu        sync.Mutex
	max, size int64
	order     *list.List // front: most recently used
	byKey     map[string]*list.Element
}

type lruEntry struct {
	key string
	v   *variant
}

func newLRU(maxBytes int64) *lru {
	return &lru{max: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *lru) get(key string) *variant {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).v
}

func (c *lru) add(key string, v *variant) {
	n := int64(len(v.data))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok || n > c.max {
		return
	}
	c.byKey[key] = c.order.PushFront(&lruEntry{key, v})
	for c.size += n; c.size > c.max; {
		e := c.order.Back().Value.(*lruEntry)
		c.order.Remove(c.order.Back())
		delete(c.byKey, e.key)
		c.size -= int64(len(e.v.data))
	}
}

func (c *lru) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
