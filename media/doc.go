// Package media is the photo half of tagstream: upload reservations,
// signed image URLs, the resizing CDN origin, and the storage behind them.
//
// # Uploads
//
// Photos never pass through the API. Uploads.Reserve picks a fresh image id
// and presigns an S3 POST policy (minio-go's PresignedPostPolicy) for
// exactly the key <user_id>/<image_id>, exactly the declared content type
// (one of the allowed image types), 1 byte to the declared size (itself at
// most UploadConfig.MaxSize) and a TTL of minutes; the browser posts the
// returned fields and then the file straight to storage, and the storage
// refuses anything else. Bad requests come back as *RequestError carrying
// the HTTP status (400, 413, 415). Uploads.Exists then checks, before a
// post is accepted, that the image is under the caller's own prefix, so a
// user cannot post another user's photo (ErrNotFound: the API answers 422).
//
// # Storage
//
// Storage has two implementations. S3 talks to any S3 server through
// minio-go. Local is the embedded default of `tagstream run`: files under a
// data directory, plus an HTTP upload endpoint that verifies real SigV4
// POST policies (signature, credential scope, expiration, eq and
// starts-with conditions, every form field covered, content-length-range)
// as S3 does. So both are presigned by the same code, and one test suite,
// run against each through plain multipart posts as a browser sends them,
// shows both refusing an upload over the size, of another content type, to
// another user's key, with a tampered signature or after expiry.
//
// # Signed image URLs
//
// Tables store image ids, never URLs. Keyring.Build derives
// <cdn>/img/<user>/<image>?w=<width>&exp=<unix>&kid=<key id>&sig=<mac>,
// the MAC an HMAC-SHA256 over the path and the query up to kid. The key id
// lets keys rotate: a Keyring signs with its first key and accepts all of
// them (ParseKeyring: "kid1:base64,kid2:base64"; LoadOrCreateKeyring keeps
// a generated one in the data dir).
//
// The expiry rule (Expiry.At) exists because the hashtag page is JSON that
// a CDN caches: Cache-Control max-age=5, stale-while-revalidate=30 means a
// copy generated at t may still be handed out at t+35s. Its image URLs must
// then still be valid, with time to spare for the client to fetch the
// images (Margin, default 10 minutes, also absorbing clock skew). So exp is
// at least t + max-age + stale-while-revalidate + margin; and it is rounded
// up to a bucket boundary (default the hour), so every request within the
// bucket builds the same URLs and the page's ETag stays the same, letting
// revalidations end in 304. A URL thus lives between 10m35s and 1h10m35s.
//
// # The origin
//
// Origin serves GET /img/{user_id}/{image_id}: 403 for a missing, tampered
// or expired signature, 400 for a width outside OriginConfig.Widths, else
// the original scaled to that width with its aspect ratio kept. It never
// upscales: a width over the original's answers the original's size, as
// more pixels would add bytes and no detail (the URL, hence the CDN's
// cache key, still names the requested width). A JPEG original gives a
// JPEG, any other format a PNG (it may have transparency; an animated GIF
// gives its first frame). Responses are cacheable until the URL's expiry
// and carry an ETag (If-None-Match answers 304). Variants are kept in an
// LRU bounded by bytes, and concurrent requests for one uncached variant
// decode it once, so a CDN purge on a hot hashtag costs one decode per
// image and width. Dimensions are read from the header and checked against
// MaxPixels before decoding, so a small file declaring a huge image
// (a decompression bomb) is refused without allocating it, and at most
// MaxDecodes originals are held decoded at once.
//
// # Why pure Go for images
//
// Resizing uses the standard decoders (JPEG, PNG, GIF), golang.org/x/image
// for WebP and scaling (Catmull-Rom, after a box-filter pre-shrink by an
// integer factor on large reductions). libvips through cgo is faster, but
// it would make the binary dynamic: no static build for the distroless
// image, a C toolchain for every build, and a C image parser with its own
// security updates in the process that handles untrusted uploads. Measured
// against vipsthumbnail (scripts/img-bench.sh, a 4000x3000 JPEG to 360 px
// on 2 cores), libvips does about 2.4x the images per second in 0.4x the
// peak memory, mostly because libjpeg can decode at 1/8 scale while Go's
// decoder always decodes every pixel. Behind a CDN, where the origin sees
// one request per image, width and URL bucket, that is a fair price; if it
// stops being one, Origin's resize step is the one thing to swap.
package media
