package media

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// countingReader counts what is read of r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// postRaw serves body to l as a multipart upload with boundary B,
// returning the response and what serving it allocated.
func postRaw(t *testing.T, l *Local, body io.Reader) (*httptest.ResponseRecorder, uint64) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, l.UploadPath(), body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l.ServeHTTP(rec, req)
	runtime.ReadMemStats(&after)
	return rec, after.TotalAlloc - before.TotalAlloc
}

// What comes before the file is bounded in all: a 10 MB part header, a
// 10 MB field or 10 MB of small fields are refused after 64 KiB, without
// being buffered (mime/multipart alone takes 10 MiB of header a part).
func TestUploadFormBeforeTheFileIsBounded(t *testing.T) {
	l := newLocal(t)
	const huge = 10 << 20
	for name, body := range map[string]io.Reader{
		"huge part header": io.MultiReader(
			strings.NewReader("--B\r\nContent-Disposition: form-data; name=\"policy\"\r\nX-Pad: "),
			io.LimitReader(repeatByte('a'), huge),
			strings.NewReader("\r\n\r\nx\r\n--B--\r\n")),
		"huge field": io.MultiReader(
			strings.NewReader("--B\r\nContent-Disposition: form-data; name=\"x-ignore-pad\"\r\n\r\n"),
			io.LimitReader(repeatByte('a'), huge),
			strings.NewReader("\r\n--B--\r\n")),
		"many fields": io.MultiReader(
			io.LimitReader(&fieldRepeater{}, huge),
			strings.NewReader("\r\n--B--\r\n")),
	} {
		t.Run(name, func(t *testing.T) {
			cr := &countingReader{r: body}
			rec, allocated := postRaw(t, l, cr)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", rec.Code, rec.Body)
			}
			if cr.n > maxFormBytes+8<<10 {
				t.Errorf("read %d bytes of the body, over the form limit of %d", cr.n, maxFormBytes)
			}
			if allocated > 1<<20 {
				t.Errorf("allocated %d bytes refusing it", allocated)
			}
			t.Logf("read %d bytes, allocated %d: %s", cr.n, allocated, rec.Body)
		})
	}
}

// fieldRepeater writes form fields x-ignore-<n> of 4 KiB each, endlessly.
type fieldRepeater struct {
	buf bytes.Buffer
	n   int
}

func (f *fieldRepeater) Read(p []byte) (int, error) {
	if f.buf.Len() == 0 {
		f.n++
		fmt.Fprintf(&f.buf, "--B\r\nContent-Disposition: form-data; name=\"x-ignore-%d\"\r\n\r\n%s\r\n", f.n, strings.Repeat("v", 4<<10))
	}
	return f.buf.Read(p)
}

// uploadBody writes a browser's upload form: the fields, those of the
// signature first, then the file part's header (head); the file's bytes
// and tail are for the caller to append. sigFields is how long the
// signature's fields are, from the start of head, with the boundary line
// that ends the last (a parser cannot know a field ended before it).
func uploadBody(fields map[string]string) (head, tail string, sigFields int) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary("B")
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		as, bs := slices.Contains(signatureFields, strings.ToLower(a)), slices.Contains(signatureFields, strings.ToLower(b))
		switch {
		case as && !bs:
			return -1
		case bs && !as:
			return 1
		}
		return strings.Compare(a, b)
	})
	for i, k := range keys {
		if i == len(signatureFields) {
			sigFields = b.Len() + len("\r\n--B\r\n")
		}
		mw.WriteField(k, fields[k])
	}
	mw.CreateFormFile("file", "photo")
	return b.String(), "\r\n--B--\r\n", sigFields
}

// The signature is checked as soon as its fields are in: a forged one is
// refused before the other fields, let alone the file, are read.
func TestUploadChecksSignatureBeforeReadingTheRest(t *testing.T) {
	l := newLocal(t)
	up := NewUploads(l, UploadConfig{})
	photo := testImage(t, 200, 100, false)
	for _, forged := range []bool{true, false} {
		res, err := up.Reserve(context.Background(), "alice", "image/jpeg", int64(len(photo)))
		if err != nil {
			t.Fatal(err)
		}
		if forged {
			res.Fields["x-amz-signature"] = strings.Repeat("0", len(res.Fields["x-amz-signature"]))
		}
		head, tail, sig := uploadBody(res.Fields)
		rest := &countingReader{r: io.MultiReader(strings.NewReader(head[sig:]), bytes.NewReader(photo), strings.NewReader(tail))}
		rec, _ := postRaw(t, l, io.MultiReader(strings.NewReader(head[:sig]), rest))
		switch {
		case forged && (rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "signature does not match")):
			t.Errorf("forged signature: %d %s, want 403", rec.Code, rec.Body)
		case forged && rest.n > 0:
			t.Errorf("forged signature: %d bytes after the signature's fields read before refusing it", rest.n)
		case !forged && (rec.Code != http.StatusNoContent || rest.n < int64(len(head)-sig+len(photo))):
			t.Errorf("valid signature: %d %s, %d bytes after the signature read", rec.Code, rec.Body, rest.n)
		}
	}
}

// throttled delivers r in chunks, one per tick: a slow uplink.
type throttled struct {
	r     io.Reader
	chunk int
	tick  *time.Ticker
}

func (s *throttled) Read(p []byte) (int, error) {
	<-s.tick.C
	return s.r.Read(p[:min(len(p), s.chunk)])
}

// The API server's read and write timeouts are short; an upload the policy
// allows, arriving slowly, must still be stored and answered. Here the
// server's timeouts are 2 s and the upload takes 3 s.
func TestSlowUploadOutlivesServerTimeouts(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout = 2 * time.Second
	srv.Config.WriteTimeout = 2 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	l, err := NewLocal(LocalConfig{Dir: t.TempDir(), PublicURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(l.UploadPath(), l)
	up := NewUploads(l, UploadConfig{})
	photo := append(testImage(t, 64, 64, false), make([]byte, 48<<10)...) // padded past EOI: 12 chunks of 4 KiB
	res, err := up.Reserve(context.Background(), "alice", "image/jpeg", int64(len(photo)))
	if err != nil {
		t.Fatal(err)
	}
	head, tail, _ := uploadBody(res.Fields)
	tick := time.NewTicker(3 * time.Second / time.Duration((len(photo)+4095)/4096))
	defer tick.Stop()
	start := time.Now()
	resp, err := http.Post(res.URL, "multipart/form-data; boundary=B",
		io.MultiReader(strings.NewReader(head), &throttled{r: bytes.NewReader(photo), chunk: 4096, tick: tick}, strings.NewReader(tail)))
	if err != nil {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if took < 2*time.Second {
		t.Fatalf("the upload took %s, under the server's timeouts: the test shows nothing", took)
	}
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after %s: %d %s, want 204", took, resp.StatusCode, body)
	}
	info, err := l.Stat(context.Background(), res.Key)
	if err != nil || info.Size != int64(len(photo)) {
		t.Fatalf("stored: %+v %v", info, err)
	}
	t.Logf("a %d-byte upload over %s answered %d", len(photo), took.Round(time.Millisecond), resp.StatusCode)
}

func TestUploadTime(t *testing.T) {
	for hi, want := range map[int64]time.Duration{
		1:         uploadGrace,
		20 << 20:  uploadGrace + 640*time.Second,
		1 << 40:   maxUploadTime,
		100 << 20: maxUploadTime,
	} {
		if got := uploadTime(hi); got != want {
			t.Errorf("uploadTime(%d) = %s, want %s", hi, got, want)
		}
	}
}

// The content type an upload declared is kept with the object, as S3
// keeps it; Put, bypassing policies, declares none.
func TestLocalKeepsTheDeclaredType(t *testing.T) {
	l := newLocal(t)
	up := NewUploads(l, UploadConfig{})
	photo := testImage(t, 20, 10, true)
	res, err := up.Reserve(context.Background(), "alice", "image/png", int64(len(photo)))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := browserPost(t, res.URL, res.Fields, photo); code != http.StatusNoContent {
		t.Fatalf("%d %s", code, body)
	}
	if info, err := l.Stat(context.Background(), res.Key); err != nil || info.ContentType != "image/png" {
		t.Fatalf("after an upload: %+v %v", info, err)
	}
	if _, err := l.Put(res.Key, bytes.NewReader(photo), 1<<20); err != nil {
		t.Fatal(err)
	}
	if info, err := l.Stat(context.Background(), res.Key); err != nil || info.ContentType != "" {
		t.Fatalf("after Put: %+v %v", info, err)
	}
	if _, err := os.Stat(l.typePath(res.Key)); !os.IsNotExist(err) {
		t.Fatalf("type file after Put: %v", err)
	}
}
