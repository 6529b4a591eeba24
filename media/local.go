package media

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/tagstream/tagstream/cors"
)

// LocalConfig configures the embedded backend.
type LocalConfig struct {
	Dir       string // data directory: objects in Dir/objects, the upload secret in Dir/upload-secret (required)
	PublicURL string // base URL browsers reach the Local handler at, e.g. http://127.0.0.1:8080 (required)
	Bucket    string // default "uploads": the handler answers POST /<Bucket>/
	Region    string // default us-east-1
	AccessKey string // default "tagstream-local"
	SecretKey string // default: random, kept in Dir/upload-secret
	// CORSOrigins are the web origins whose scripts may post uploads and
	// read the answer, as a bucket's CORS rule allows them (package cors;
	// "*" alone for any). Empty: no CORS header, as a bucket without one.
	CORSOrigins []string
}

// Local is the embedded backend of `tagstream run`: objects are files under
// a data directory, and Local is also the http.Handler browsers post uploads
// to (mount it at UploadPath). It verifies SigV4 POST policies as S3 does,
// so uploads are presigned by the same minio-go code as for S3 and refused
// for the same reasons.
type Local struct {
	dir, bucket, region, accessKey, secret string
	presigner                              *minio.Client
	origins                                cors.Origins
}

// NewLocal opens (creating if needed) the store under cfg.Dir.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" || cfg.PublicURL == "" {
		return nil, errors.New("media: local store needs Dir and PublicURL")
	}
	origins, err := cors.Parse(cfg.CORSOrigins)
	if err != nil {
		return nil, fmt.Errorf("media: local store: %w", err)
	}
	l := &Local{dir: cfg.Dir, bucket: cmp(cfg.Bucket, "uploads"), region: cmp(cfg.Region, "us-east-1"),
		accessKey: cmp(cfg.AccessKey, "tagstream-local"), secret: cfg.SecretKey, origins: origins}
	if l.secret == "" {
		var err error
		if l.secret, err = loadOrCreate(filepath.Join(cfg.Dir, "upload-secret"), hex.EncodeToString); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(l.dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("media: local store: %w", err)
	}
	l.presigner, err = newMinio(cfg.PublicURL, l.accessKey, l.secret, l.region, nil) // presigns only: no connection
	return l, err
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// UploadPath is the path the handler answers: POST /<bucket>/, and OPTIONS
// for a CORS preflight when LocalConfig.CORSOrigins is set.
func (l *Local) UploadPath() string { return "/" + l.bucket + "/" }

// PresignPost implements Storage.
func (l *Local) PresignPost(ctx context.Context, p PostPolicy) (*PresignedPost, error) {
	return presign(ctx, l.presigner, l.bucket, p)
}

func (l *Local) path(key string) (string, error) {
	user, image, _ := strings.Cut(key, "/")
	if _, ok := objectKey(user, image); !ok {
		return "", fmt.Errorf("%w: bad key %q", ErrNotFound, key)
	}
	return filepath.Join(l.dir, "objects", user, image), nil
}

// Stat implements Storage.
func (l *Local) Stat(_ context.Context, key string) (ObjectInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, localErr(key, err)
	}
	info := ObjectInfo{Size: fi.Size(), ModTime: fi.ModTime()}
	if ct, err := os.ReadFile(l.typePath(key)); err == nil {
		info.ContentType = string(ct)
	}
	return info, nil
}

// typePath is where the content type an upload declared is kept, as S3
// keeps it with the object: Dir/types/<user>/<image>.
func (l *Local) typePath(key string) string {
	user, image, _ := strings.Cut(key, "/")
	return filepath.Join(l.dir, "types", user, image)
}

// Open implements Storage.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, localErr(key, err)
	}
	return f, nil
}

func localErr(key string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("media: local store %s: %w", key, err)
}

// Put stores r under key, bypassing any policy (seeding, imports), refusing
// more than maxSize bytes. It returns the size written. The object has no
// declared content type.
func (l *Local) Put(key string, r io.Reader, maxSize int64) (int64, error) {
	return l.put(key, r, 0, maxSize, "")
}

// put stores r under key, declared as contentType, if it holds lo to hi
// bytes.
func (l *Local) put(key string, r io.Reader, lo, hi int64, contentType string) (int64, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "put-*")
	if err != nil {
		return 0, fmt.Errorf("media: local put: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(r, hi+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return n, fmt.Errorf("media: local put %s: %w", key, err)
	case n > hi:
		return n, &postError{http.StatusBadRequest, "EntityTooLarge", fmt.Sprintf("over %d bytes", hi)}
	case n < lo:
		return n, &postError{http.StatusBadRequest, "EntityTooSmall", fmt.Sprintf("under %d bytes", lo)}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return n, fmt.Errorf("media: local put: %w", err)
	}
	if err := l.putType(key, contentType); err != nil {
		return n, fmt.Errorf("media: local put: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return n, fmt.Errorf("media: local put: %w", err)
	}
	return n, nil
}

// putType records the content type of key, before the object itself is
// renamed into place, so that an object never has another's type.
func (l *Local) putType(key, contentType string) error {
	tp := l.typePath(key)
	if contentType == "" {
		if err := os.Remove(tp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(tp), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "type-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.WriteString(tmp, contentType)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), tp)
}

// postError is an S3-style refusal of a browser upload.
type postError struct {
	status        int
	code, message string
}

func (e *postError) Error() string { return "media: upload refused: " + e.code + ": " + e.message }

func denied(format string, args ...any) error {
	return &postError{http.StatusForbidden, "AccessDenied", fmt.Sprintf(format, args...)}
}

// Form limits of a browser upload: what comes before the file is read into
// memory, so it is bounded as a whole (mime/multipart alone would take
// 10 MiB of headers for each part), per field and in fields.
const (
	maxFormBytes  = 64 << 10 // boundaries, part headers and fields before the file
	maxFieldBytes = 16 << 10
	maxFormFields = 32
)

// Upload deadlines. The API server's read and write timeouts (30 s) suit
// its JSON, not a photo coming over a poor uplink, which its policy allows:
// once the policy is verified, an upload gets uploadGrace plus its largest
// allowed size at minUploadRate to arrive and be answered, at most
// maxUploadTime. Before that, the server's own timeouts stand, so an
// unauthenticated request gets no extra time.
const (
	minUploadRate = 32 << 10 // bytes a second: a slow mobile uplink
	uploadGrace   = 30 * time.Second
	maxUploadTime = 20 * time.Minute
)

// uploadTime is how long an upload of at most hi bytes may take.
func uploadTime(hi int64) time.Duration {
	secs := hi / minUploadRate
	if secs >= int64(maxUploadTime/time.Second) {
		return maxUploadTime
	}
	return min(uploadGrace+time.Duration(secs)*time.Second, maxUploadTime)
}

// ServeHTTP accepts a browser upload (POST /<bucket>/, multipart form:
// fields, then "file") within a presigned policy, answering like S3: 204,
// or an XML error with 403 (signature, expiry, a condition) or 400
// (malformed, form before the file over 64 KiB, size outside
// content-length-range). With CORS origins it also answers their
// preflights (localCORS).
func (l *Local) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.origins.Enabled() {
		if cors.IsPreflight(r) {
			writePostError(w, l.preflight(w.Header(), r))
			return
		}
		if l.origins.Varies() {
			w.Header().Set("Vary", "Origin")
		}
		if allow := l.origins.Allow(r.Header); allow != "" {
			w.Header().Set("Access-Control-Allow-Origin", allow)
		}
	}
	writePostError(w, l.upload(w, r))
}

// writePostError answers err as S3 does: 204 for nil, an XML error
// otherwise.
func writePostError(w http.ResponseWriter, err error) {
	var pe *postError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
		return
	case !errors.As(err, &pe):
		pe = &postError{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(pe.status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: pe.code, Message: pe.message})
}

// corsMaxAge is how long, in seconds, a browser may keep the answer to a
// preflight of an upload: an hour, as for the API's routes.
const corsMaxAge = 3600

// preflight answers a CORS preflight as S3 does for the one rule NewS3
// puts on a bucket (bucketCORS): an allowed origin may POST, with no
// request header beyond the CORS-safelisted ones (a form upload sets
// none), for an hour; anything else is 403 AccessForbidden, without an
// allow header. Refusing the actual POST is the browser's part: a form
// post is a simple request, sent without a preflight, so what guards the
// write is the signed policy, and CORS only whether the script may read
// the answer.
func (l *Local) preflight(h http.Header, r *http.Request) error {
	// The answer depends on all three, whatever the list.
	h.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	allow := l.origins.Allow(r.Header)
	if allow == "" || r.Header.Get("Access-Control-Request-Method") != http.MethodPost ||
		strings.TrimSpace(r.Header.Get("Access-Control-Request-Headers")) != "" {
		return denied("CORSResponse: this CORS request is not allowed: only POST from an allowed origin (--cors-origins), with no extra header")
	}
	h.Set("Access-Control-Allow-Origin", allow)
	h.Set("Access-Control-Allow-Methods", http.MethodPost)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	return nil
}

// formBody lets at most n more bytes of a request body through, then fails.
type formBody struct {
	io.ReadCloser
	n        int64
	exceeded bool
}

var errFormTooLarge = errors.New("media: form over its limit")

func (b *formBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		b.exceeded = true
		return 0, errFormTooLarge
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.ReadCloser.Read(p)
	b.n -= int64(n)
	return n, err
}

// signatureFields are what the policy's signature is checked with.
var signatureFields = []string{"policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm"}

// upload reads the form part by part: the fields, within maxFormBytes in
// all, refused with 403 as soon as those of the signature are in and it
// does not verify; then, the policy and every condition met, the file.
func (l *Local) upload(w http.ResponseWriter, r *http.Request) error {
	malformed := func(msg string) error { return &postError{http.StatusBadRequest, "MalformedPOSTRequest", msg} }
	tooLarge := func() error {
		return &postError{http.StatusBadRequest, "MaxPostPreDataLengthExceeded",
			fmt.Sprintf("the fields before the file are over %d bytes", maxFormBytes)}
	}
	if r.Method != http.MethodPost || r.URL.Path != l.UploadPath() {
		return &postError{http.StatusMethodNotAllowed, "MethodNotAllowed", "POST a form to " + l.UploadPath()}
	}
	body := &formBody{ReadCloser: r.Body, n: maxFormBytes}
	r.Body = body
	mr, err := r.MultipartReader()
	if err != nil {
		return malformed(err.Error())
	}
	fields := map[string]string{}
	signed := false
	for {
		part, err := mr.NextPart()
		if body.exceeded {
			return tooLarge()
		}
		if err != nil {
			return malformed("no file field: " + err.Error())
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			lo, hi, err := l.check(fields, time.Now())
			if err != nil {
				return err
			}
			deadline := time.Now().Add(uploadTime(hi))
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(deadline) // ErrNotSupported: nothing to extend
			rc.SetWriteDeadline(deadline)
			body.n = hi + maxFormBytes // the file, then its closing boundary
			_, err = l.put(fields["key"], part, lo, hi, fields["content-type"])
			return err
		}
		if _, dup := fields[name]; dup || len(fields) == maxFormFields {
			return malformed("form field " + name + " repeated, or too many fields")
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if body.exceeded {
			return tooLarge()
		}
		if err != nil || len(v) > maxFieldBytes {
			return malformed("form field " + name + " unreadable or too large")
		}
		fields[name] = string(v)
		if !signed && hasAll(fields, signatureFields) {
			if err := l.verifySignature(fields); err != nil {
				return err
			}
			signed = true
		}
	}
}

func hasAll(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// verifySignature checks the policy's SigV4 signature and credential.
func (l *Local) verifySignature(f map[string]string) error {
	cred := strings.Split(f["x-amz-credential"], "/")
	if f["x-amz-algorithm"] != "AWS4-HMAC-SHA256" || len(cred) != 5 || cred[0] != l.accessKey ||
		cred[2] != l.region || cred[3] != "s3" || cred[4] != "aws4_request" {
		return denied("bad x-amz-algorithm or x-amz-credential")
	}
	day, err := time.Parse("20060102", cred[1])
	if err != nil {
		return denied("bad credential date")
	}
	want := signer.PostPresignSignatureV4(f["policy"], day, l.secret, l.region)
	if !hmac.Equal([]byte(want), []byte(f["x-amz-signature"])) {
		return denied("signature does not match")
	}
	return nil
}

// check verifies the policy's SigV4 signature, expiry and every condition
// against the fields, and returns its content-length-range.
func (l *Local) check(f map[string]string, now time.Time) (lo, hi int64, err error) {
	if err := l.verifySignature(f); err != nil {
		return 0, 0, err
	}
	var pol struct {
		Expiration time.Time         `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	raw, err := base64.StdEncoding.DecodeString(f["policy"])
	if err == nil {
		err = json.Unmarshal(raw, &pol)
	}
	if err != nil {
		return 0, 0, denied("bad policy: %v", err)
	}
	if !now.Before(pol.Expiration) {
		return 0, 0, denied("policy expired at %s", pol.Expiration.Format(time.RFC3339))
	}
	if b, ok := f["bucket"]; ok && b != l.bucket {
		return 0, 0, denied("bucket %q is not %q", b, l.bucket)
	}
	f["bucket"] = l.bucket
	covered := map[string]bool{"policy": true, "x-amz-signature": true, "bucket": true}
	hi = -1
	for _, raw := range pol.Conditions {
		c, err := parseCondition(raw)
		if err != nil {
			return 0, 0, denied("policy condition %s: %v", raw, err)
		}
		switch got := f[c.field]; {
		case c.op == "content-length-range":
			lo, hi = c.lo, c.hi
		case c.op == "eq" && got != c.value, c.op == "starts-with" && !strings.HasPrefix(got, c.value):
			return 0, 0, denied("policy condition %s not met by %q", raw, got)
		}
		covered[c.field] = true
	}
	for name := range f {
		if !covered[name] && !strings.HasPrefix(name, "x-ignore-") {
			return 0, 0, denied("form field %q is not covered by the policy", name)
		}
	}
	if hi < 0 {
		return 0, 0, denied("the policy has no content-length-range")
	}
	return lo, hi, nil
}

// policyCondition is one condition of a POST policy, the field name
// lowercased without its "$".
type policyCondition struct {
	op, field, value string
	lo, hi           int64
}

// parseCondition reads {"field": "value"} (an eq), ["eq"|"starts-with",
// "$field", "value"] or ["content-length-range", lo, hi].
func parseCondition(raw json.RawMessage) (policyCondition, error) {
	var eq map[string]string
	if json.Unmarshal(raw, &eq) == nil && len(eq) == 1 {
		for k, v := range eq {
			return policyCondition{op: "eq", field: strings.ToLower(k), value: v}, nil
		}
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 {
		return policyCondition{}, errors.New("not a condition")
	}
	var c policyCondition
	if err := json.Unmarshal(arr[0], &c.op); err != nil {
		return c, err
	}
	c.op = strings.ToLower(c.op)
	switch c.op {
	case "content-length-range":
		c.field = "file"
		return c, errors.Join(json.Unmarshal(arr[1], &c.lo), json.Unmarshal(arr[2], &c.hi))
	case "eq", "starts-with":
		err := errors.Join(json.Unmarshal(arr[1], &c.field), json.Unmarshal(arr[2], &c.value))
		c.field = strings.ToLower(strings.TrimPrefix(c.field, "$"))
		return c, err
	}
	return c, fmt.Errorf("unsupported operator %q", c.op)
}
