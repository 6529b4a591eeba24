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
// A policy binds the declared type and the size, not the bytes: anything
// can be uploaded as image/jpeg. So Exists also reads the header, and only
// the header (at most 256 KiB, a range request on S3; never the pixels),
// and with image.DecodeConfig requires an image of an allowed type, the
// one declared when the storage kept it, that the origin will decode:
// within its MaxPixels, and its estimated cost (below) within its
// DecodeBudget at each of its widths (UploadConfig.Origin). Otherwise
// ErrNotImage, which the API answers with 422 too: a post never carries
// an image that would only fail at the origin.
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
// another user's key, with a tampered signature or after expiry, and
// Exists refusing what is not an image.
//
// Local's endpoint reads the form part by part, and holds what precedes
// the file in memory, so that is bounded: 64 KiB in all (part headers
// included: mime/multipart alone would take 10 MiB of them per part),
// 16 KiB a field, 32 fields. The signature is checked as soon as its
// fields are in, and a forged one refused (403) before anything else is
// read; the file is read only once the policy and every condition hold.
// It keeps the declared content type beside the object, as S3 keeps it.
// The API server's read and write timeouts (30 s) suit its JSON, not a
// 20 MiB photo on a poor uplink that the policy allows; once the policy is
// verified, and not before, the handler extends its own deadlines through
// http.ResponseController to 30 s plus the policy's largest size at
// 32 KiB/s (at most 20 minutes), so a slow upload is stored and answered.
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
// A signed URL is served under that one spelling only. An extra, repeated
// or reordered query parameter, an escape, a double or trailing slash, a
// dot segment: each would otherwise be one more CDN cache key for the
// same image, and one more decode at the origin. The origin refuses the
// query with 403 and the path with 400 (404 when it is not an image path
// at all).
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
// image and width.
//
// # Decoding memory
//
// What an image costs to decode is not its file size: a 293 KB progressive
// 4:4:4 JPEG of 7071×7071 takes 740 MB, as Go's decoder keeps a block of
// 64 int32 coefficients for every 8×8 block of every component until the
// last scan, on top of the image; a 16-bit PNG is 8 bytes a pixel; a
// lossless WebP may hold 2600 groups of Huffman tables. Nor is it bounded
// by counting decodes, since one can cost a thousand times another. But
// Go's decoders allocate from what the header declares, before decoding,
// so the cost is known from the header: for each format and layout
// (sampling, progressive, interlaced, 16-bit, tRNS, RGB or CMYK
// conversions), the image and working state the decoder allocates, plus
// the source, the resizer's pre-shrunk copy, its Catmull-Rom rows (32
// bytes per destination column and source row), the destination and the
// encoded variant (capped: an encoder going past it fails). It is an upper
// bound of all that is allocated, garbage included, which
// TestEstimateCoversAllocations measures for every layout.
//
// The origin admits a decode only once a budget of bytes
// (OriginConfig.DecodeBudget, default 256 MiB for a process of 512 MiB)
// grants its estimate, first come first served. Concurrency thus follows
// memory, not cores. The source object is read only after admission: its
// size comes from Stat, its header from a prefix read, then the whole
// source into a buffer of exactly its size. An image whose estimate alone
// exceeds the budget is refused with 422 and never decoded (so is one over
// MaxPixels or MaxSourceBytes); one that fits waits for the budget at most
// DecodeWait (default 5 s) while its request lasts, then gets 503 with
// Retry-After. The bytes of a finished decode return to the budget only
// once the garbage collector has run past them (forcing a collection when
// a waiter needs them), since the collector, paced on the live heap, would
// otherwise let dead images pile up to as much again as the live ones.
// Eight hostile images at once keep the process within the budget
// (TestHostileImagesPeakMemory measures its resident peak); the same
// requests without one go well past it. In a container, GOMEMLIMIT set a
// little under its limit remains a good idea for the rest of the process.
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
