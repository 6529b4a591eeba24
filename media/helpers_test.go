package media

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
)

// testImage is a w×h gradient; png selects PNG over JPEG.
func testImage(t testing.TB, w, h int, asPNG bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// browserPost posts a presigned upload as a browser form does: the fields,
// then the file.
func browserPost(t testing.TB, url string, fields map[string]string, file []byte) (int, string) {
	t.Helper()
	code, _, body := browserPostFrom(t, url, fields, file, "")
	return code, body
}

// browserPostFrom is browserPost from a page of origin (none if empty), as
// a browser posts a form across origins: no preflight, an Origin header.
func browserPostFrom(t testing.TB, url string, fields map[string]string, file []byte, origin string) (int, http.Header, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "photo")
	fw.Write(file)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, url, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return do(t, req)
}

// preflight asks url what a browser asks before a cross-origin request
// of method with headers (none if empty) from origin.
func preflight(t testing.TB, url, origin, method, headers string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return do(t, req)
}

// browser is the client the helpers post and ask with: a test of the
// storage over https swaps in one that trusts the test CA, as a browser
// trusts the bucket's certificate.
var browser = http.DefaultClient

func do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// get asks the origin for an image URL (path and query).
func get(o *Origin, url string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	o.ServeHTTP(rec, req)
	return rec
}

// newLocal starts a Local store behind a test HTTP server, allowing
// corsOrigins.
func newLocal(t testing.TB, corsOrigins ...string) *Local {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	l, err := NewLocal(LocalConfig{Dir: t.TempDir(), PublicURL: srv.URL, CORSOrigins: corsOrigins})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(l.UploadPath(), l)
	return l
}

func testKeyring(t testing.TB, spec string) *Keyring {
	t.Helper()
	kr, err := ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// Base64 secrets of 32 bytes for tests.
const (
	secretA = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
	secretB = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
)
