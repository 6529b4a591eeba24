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
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultWidths are the widths the origin resizes to by default: phone
// thumbnails and grids at 1x-3x (160, 320, 360), a feed column (640), a
// full-screen phone (1080). Callers must not modify it.
var DefaultWidths = []int{160, 320, 360, 640, 1080}

// OriginConfig configures the origin. Zero fields take the defaults.
type OriginConfig struct {
	Widths         []int // allowed widths; default 160, 320, 360, 640, 1080
	CacheBytes     int64 // bound of the resized-variant cache; default 64 MiB, negative: no cache
	MaxPixels      int64 // largest original decoded, width×height; default 50 million
	MaxSourceBytes int64 // largest original read; default 32 MiB
	JPEGQuality    int   // default 80
	// ObserveRender, if set, is told how long each render of a variant
	// (read, decode, resize, encode) took and how it ended: the
	// process's metrics (media imports no metrics of its own).
	ObserveRender func(d time.Duration, err error)
	// DecodeBudget bounds the memory of the decodes under way, in bytes:
	// each is admitted with an estimate, from the image's header, of all
	// it allocates, and holds it until the garbage collector has reclaimed
	// it. Default DefaultDecodeBudget.
	DecodeBudget int64
	// DecodeWait is how long a request waits for budget before a 503
	// with Retry-After; default 5 seconds.
	DecodeWait time.Duration
	// MaxDecodes optionally also caps the decodes at once (CPU);
	// 0: only the budget does.
	MaxDecodes int
}

// DefaultDecodeBudget is the default OriginConfig.DecodeBudget: 256 MiB,
// sized for a process limited to 512 MiB. The budget counts what decodes
// allocate, garbage included until collected, so it bounds their share of
// the heap outright; the other half is left to the variant cache
// (CacheBytes, 64 MiB), the runtime and the rest of the server. A phone's
// 12-megapixel JPEG costs 48 MiB at width 640 and 131 MiB at 1080 (the
// scaler's rows dominate), a 50-megapixel one 137 MiB; a progressive JPEG
// over about 20 megapixels (8 at 4:4:4) is refused at width 1080.
const DefaultDecodeBudget = 256 << 20

func (cfg OriginConfig) withDefaults() OriginConfig {
	if len(cfg.Widths) == 0 {
		cfg.Widths = DefaultWidths
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
	if cfg.DecodeBudget <= 0 {
		cfg.DecodeBudget = DefaultDecodeBudget
	}
	if cfg.DecodeWait <= 0 {
		cfg.DecodeWait = 5 * time.Second
	}
	return cfg
}

// Origin is the CDN origin for signed image URLs (Keyring.Build): it serves
// GET /img/{user_id}/{image_id}?w=&exp=&kid=&sig= (mount it at "GET /img/").
type Origin struct {
	store  Storage
	keys   *Keyring
	cfg    OriginConfig
	cache  *lru
	flight singleflight.Group
	budget *budget
	slots  chan struct{} // MaxDecodes, nil without
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
	cfg = cfg.withDefaults()
	o := &Origin{store: store, keys: keys, cfg: cfg, cache: newLRU(cfg.CacheBytes),
		budget: newBudget(cfg.DecodeBudget), now: time.Now}
	if cfg.MaxDecodes > 0 {
		o.slots = make(chan struct{}, cfg.MaxDecodes)
	}
	return o
}

// Stats returns the origin's counters.
func (o *Origin) Stats() OriginStats {
	return OriginStats{Decodes: o.decodes.Load(), CacheHits: o.hits.Load(), CachedBytes: o.cache.bytes()}
}

// ServeHTTP answers 200 with the resized image (Cache-Control public until
// the URL's expiry, ETag; 304 on a matching If-None-Match), 404 for a path
// that is not /img/{user_id}/{image_id} or a missing image, 400 for one
// spelled otherwise than Keyring.Build spells it or a width not allowed,
// 403 for a query that is not exactly the signed one (missing, tampered,
// expired, or with anything added), 422 for an original it will not decode
// (not an image, over MaxPixels or MaxSourceBytes, or estimated over the
// whole DecodeBudget), 503 with Retry-After when the budget stayed full for
// DecodeWait, 502 when the storage fails.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, image, code, msg := imagePath(r.URL)
	if code != 0 {
		httpError(w, code, msg)
		return
	}
	now := o.now()
	width, exp, err := o.keys.verifyQuery(user, image, r.URL.RawQuery, now)
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
		case errors.Is(err, errBusy):
			code = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(o.cfg.DecodeWait/time.Second))))
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

// imagePath returns the user and image of /img/{user_id}/{image_id}, or
// the status to refuse the path with: 404 when, cleaned, it is not of that
// shape; 400 when it is but is not spelled as Keyring.Build spells it (an
// escape, a double or trailing slash, a dot segment). Each spelling would
// otherwise be one more CDN cache key, and one more decode, for one image.
func imagePath(u *url.URL) (user, image string, code int, msg string) {
	rest, ok := strings.CutPrefix(path.Clean(u.Path), "/img/")
	user, image, two := strings.Cut(rest, "/")
	if !ok || !two || user == "" || image == "" || strings.Contains(image, "/") {
		return "", "", http.StatusNotFound, "not an image path: want /img/{user_id}/{image_id}"
	}
	if u.EscapedPath() != "/img/"+user+"/"+image || !validSegment(user) || !validSegment(image) {
		return "", "", http.StatusBadRequest, "not the canonical image path /img/{user_id}/{image_id} of a signed URL"
	}
	return user, image, 0, ""
}

// variant returns key at width from the cache, or resizes it once however
// many requests ask at the same time (a purge storm on a hot image). A
// request that goes away stops waiting; the resize goes on for the others
// and the cache.
func (o *Origin) variant(r *http.Request, key string, width int) (*variant, error) {
	ck := key + "@" + strconv.Itoa(width)
	if v := o.cache.get(ck); v != nil {
		o.hits.Add(1)
		return v, nil
	}
	// Detached from r: other requests wait on this one.
	ctx := context.WithoutCancel(r.Context())
	ch := o.flight.DoChan(ck, func() (any, error) {
		start := time.Now()
		v, err := o.render(ctx, key, width)
		if o.cfg.ObserveRender != nil {
			o.cfg.ObserveRender(time.Since(start), err)
		}
		if err != nil {
			return nil, err
		}
		o.cache.add(ck, v)
		return v, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*variant), nil
	case <-r.Context().Done():
		return nil, errors.Join(errBusy, r.Context().Err())
	}
}

// render admits, reads, decodes and resizes key: the size from Stat, the
// header from a prefix read of the object, and only when the estimate of
// all the decode will allocate has been granted by the budget, the whole
// source.
func (o *Origin) render(ctx context.Context, key string, width int) (*variant, error) {
	info, err := o.store.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if info.Size > o.cfg.MaxSourceBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", errUnprocessable, key, o.cfg.MaxSourceBytes)
	}
	// One wait for all the budget it takes, however many steps.
	waitUntil := time.Now().Add(o.cfg.DecodeWait)
	hc := min(headerCost, o.budget.size)
	if err := o.budget.acquire(ctx, hc, time.Until(waitUntil)); err != nil {
		return nil, err
	}
	hd, err := o.header(ctx, key)
	o.budget.release(hc)
	if err != nil {
		return nil, err
	}
	est, err := admissible(hd, info.Size, width, o.cfg.MaxPixels, o.budget.size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (%s)", errUnprocessable, err, key)
	}
	if err := o.budget.acquire(ctx, est, time.Until(waitUntil)); err != nil {
		return nil, err
	}
	defer o.budget.release(est)
	if o.slots != nil {
		if err := o.slot(time.Until(waitUntil)); err != nil {
			return nil, err
		}
		defer func() { <-o.slots }()
	}
	src, err := o.read(ctx, key, info.Size)
	if err != nil {
		return nil, err
	}
	o.decodes.Add(1)
	v, err := resize(src, width, o.cfg.MaxPixels, o.cfg.JPEGQuality, est)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, key)
	}
	return v, nil
}

// slot takes one of MaxDecodes, waiting at most wait.
func (o *Origin) slot(wait time.Duration) error {
	select {
	case o.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case o.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errBusy
	}
}

// header reads the image header of key from at most headerLimit bytes.
func (o *Origin) header(ctx context.Context, key string) (imageHeader, error) {
	rc, err := openPrefix(ctx, o.store, key, headerLimit)
	if err != nil {
		return imageHeader{}, err
	}
	defer rc.Close()
	hd, err := readHeader(rc)
	if errors.Is(err, errNoHeader) {
		err = fmt.Errorf("%w: %v", errUnprocessable, err)
	}
	return hd, err
}

// read reads key, which Stat said holds size bytes, into a buffer of
// exactly that size (the estimate counted it once).
func (o *Origin) read(ctx context.Context, key string, size int64) ([]byte, error) {
	rc, err := o.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	src := make([]byte, size)
	if _, err := io.ReadFull(rc, src); err != nil {
		return nil, fmt.Errorf("media: read %s: %w", key, err)
	}
	if n, _ := rc.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("media: read %s: it grew past the %d bytes it had", key, size)
	}
	return src, nil
}

// admissible checks an image against the limits from its header alone and
// returns the estimate of resizing it to width, or why it will not be
// decoded: it is over maxPixels, lies about its size, or needs more than
// the whole budget.
func admissible(hd imageHeader, size int64, width int, maxPixels, budget int64) (int64, error) {
	switch {
	case int64(hd.width)*int64(hd.height) > maxPixels:
		return 0, fmt.Errorf("%dx%d is over %d pixels", hd.width, hd.height, maxPixels)
	case hd.chunk > size:
		return 0, fmt.Errorf("its image data declares %d bytes, more than the file's %d", hd.chunk, size)
	}
	est := hd.estimate(size, width)
	if est > budget {
		return 0, fmt.Errorf("a %dx%d %s takes about %d MiB to decode and resize to width %d, over the decode budget of %d MiB",
			hd.width, hd.height, hd.format, est>>20, width, budget>>20)
	}
	return est, nil
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
