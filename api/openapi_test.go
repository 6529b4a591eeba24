package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tagstream/tagstream/media"
)

// The contract (openapi.yaml) is held true two ways here:
//   - TestSpecNamesEveryRoute: every route New registers is in the
//     document and every operation of the document is a route;
//   - every answer any test of this package receives through call is
//     checked against it (conformance, below): its status is one the
//     operation lists, its headers and body validate against the schemas.
//     An answer to a path or method the document does not have must be
//     the Error shape with 404 or 405. TestMain fails the run on the
//     first answers that do not conform.

// contract is the document loaded for checking: openapi.json as served,
// so that the YAML-to-JSON conversion is under test too.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	errors *openapi3.Schema // Error
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	e := doc.Components.Schemas["Error"]
	if e == nil || e.Value == nil {
		return nil, errors.New("openapi.json has no Error schema")
	}
	// The bodies of images, the page and metrics are not JSON: checked
	// for their content type, not decoded.
	for _, ct := range []string{"image/jpeg", "image/png", "text/html", "application/openmetrics-text"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	return &contract{doc: doc, router: router, errors: e.Value}, nil
})

// conformance collects the answers of this package's tests that break the
// contract, for TestMain to report.
var conformance struct {
	sync.Mutex
	checked  int
	failures []string
}

// maxReported bounds the failures kept: the first say enough.
const maxReported = 20

// checkConformance checks one answer against the contract and records
// a failure. A fuzz target's answers are checked too.
func checkConformance(req *http.Request, body []byte, w *httptest.ResponseRecorder) {
	problem := conformanceOf(req, body, w)
	conformance.Lock()
	defer conformance.Unlock()
	conformance.checked++
	if problem != nil && len(conformance.failures) < maxReported {
		conformance.failures = append(conformance.failures,
			fmt.Sprintf("%s %.120s -> %d %.200q: %v", req.Method, req.URL.RequestURI(), w.Code, w.Body.String(), problem))
	}
}

// conformanceOf returns why an answer does not conform, or nil.
func conformanceOf(req *http.Request, body []byte, w *httptest.ResponseRecorder) error {
	c, err := loadContract()
	if err != nil {
		return err
	}
	return c.check(req, body, w.Code, w.Header(), w.Body.Bytes())
}

// mustConform fails t at once on an answer that breaks the contract: the
// fuzz targets', so that the fuzzer keeps and minimises the input.
func mustConform(t *testing.T, req *http.Request, body []byte, w *httptest.ResponseRecorder) {
	t.Helper()
	if err := conformanceOf(req, body, w); err != nil {
		t.Fatalf("%s %.120s -> %d %.200q breaks api/openapi.yaml: %v", req.Method, req.URL.RequestURI(), w.Code, w.Body.String(), err)
	}
}

// check returns why an answer does not conform, or nil.
func (c *contract) check(req *http.Request, reqBody []byte, code int, header http.Header, body []byte) error {
	// FindRoute reads the request; the handler has read its copy.
	probe := req.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	// The document's server is "/": a request to an absolute URL (the
	// CDN's) is routed by its path.
	probe.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	probe.Host = ""
	if probe.Method == http.MethodHead {
		// HEAD is GET without the body (net/http), not an operation.
		probe.Method = http.MethodGet
	}
	route, params, err := c.router.FindRoute(probe)
	var re *routers.RouteError
	switch {
	case errors.As(err, &re) && c.pathExists(probe):
		if req.Method == http.MethodOptions && code != http.StatusMethodNotAllowed {
			// A CORS preflight (cors_test.go): not an operation of the
			// document, which says so.
			return c.errorShape(code, header, body, http.StatusNoContent, http.StatusForbidden)
		}
		if header.Get("Allow") == "" {
			return errors.New("a 405 without Allow")
		}
		return c.errorShape(code, header, body, http.StatusMethodNotAllowed)
	case errors.As(err, &re) && (strings.HasPrefix(probe.URL.Path, "/img/") || untidy(probe.URL.Path)):
		// A path spelled untidily (//, /./, /../), or an image path
		// otherwise than signed, is refused before routing (400, which
		// info.description states).
		return c.errorShape(code, header, body, http.StatusBadRequest, http.StatusNotFound)
	case errors.As(err, &re):
		return c.errorShape(code, header, body, http.StatusNotFound)
	case err != nil:
		return err
	}
	switch {
	case code == http.StatusMovedPermanently || code == http.StatusNotModified || code == http.StatusTemporaryRedirect ||
		code == http.StatusPermanentRedirect || req.Method == http.MethodHead:
		// kin-openapi checks no HEAD and none of these statuses: each
		// must still be listed, and a 304 carry its ETag.
		if route.Operation.Responses.Status(code) == nil {
			return fmt.Errorf("status %d is not in the document", code)
		}
		if code == http.StatusNotModified && header.Get("ETag") == "" {
			return errors.New("a 304 without its ETag")
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 code,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// pathExists reports whether the document has req's path for some method:
// the legacy router tells a wrong method from a missing path only for
// paths without parameters.
func (c *contract) pathExists(req *http.Request) bool {
	probe := req.Clone(context.Background())
	for _, m := range methods {
		probe.Method = m
		if _, _, err := c.router.FindRoute(probe); err == nil {
			return true
		}
	}
	return false
}

// untidy reports whether p is a path ServeMux would redirect to another
// spelling.
func untidy(p string) bool { return p != path.Clean(p) && p != path.Clean(p)+"/" }

// errorShape checks an answer no operation describes: one of codes, and
// for an error, the Error body as JSON.
func (c *contract) errorShape(code int, header http.Header, body []byte, codes ...int) error {
	if !slices.Contains(codes, code) {
		return fmt.Errorf("status %d, want one of %v", code, codes)
	}
	if code < 400 {
		return nil
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("an error as %q, not JSON", ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("an error body that is not JSON: %w", err)
	}
	return c.errors.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

// reportConformance is TestMain's: it prints the failures and returns
// whether there were none.
func reportConformance(out io.Writer) bool {
	conformance.Lock()
	defer conformance.Unlock()
	if len(conformance.failures) == 0 {
		return true
	}
	fmt.Fprintf(out, "--- FAIL: answers that break api/openapi.yaml (%d shown, of %d checked):\n", len(conformance.failures), conformance.checked)
	for _, f := range conformance.failures {
		fmt.Fprintln(out, "    "+f)
	}
	return false
}

// fullServer is New with every optional part on, CORS included: all the
// routes there are.
func fullServer(t *testing.T) ([]string, Config) {
	t.Helper()
	cfg := Config{Secret: secret, Site: mustSite(t), Signer: keyring, CORSOrigins: []string{"https://app.example.com"},
		Uploads: media.NewUploads(store, media.UploadConfig{}), Origin: media.NewOrigin(store, keyring, media.OriginConfig{}),
		Routes: map[string]http.Handler{"POST /uploads/": http.NotFoundHandler()}}
	_, patterns := newHandler(cfg, &pages{recovered: true}, &publisher{})
	return patterns, cfg
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// routeKey spells a mux pattern or a document's operation alike:
// "GET /v1/posts/{}/{}".
func routeKey(method, path string) string {
	path = strings.TrimSuffix(path, "{$}")
	return method + " " + pathParam.ReplaceAllString(path, "{}")
}

func TestSpecNamesEveryRoute(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	patterns, cfg := fullServer(t)
	registered := map[string]bool{}
	for _, p := range patterns {
		method, path, _ := strings.Cut(p, " ")
		switch {
		case cfg.Routes[p] != nil:
			// The embedded storage's upload endpoint: the bucket's API,
			// which a reservation's url names, not this API's.
		case method == http.MethodOptions:
			// CORS preflights, which info.description explains.
		default:
			registered[routeKey(method, path)] = true
		}
	}
	documented := map[string]bool{}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[routeKey(method, path)] = true
		}
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("operation %s is in openapi.yaml but not served", r)
		}
	}
	if len(registered) < 19 {
		t.Errorf("%d routes: the server registered fewer than it has", len(registered))
	}
}

// TestConformanceCatchesADrift shows the check can fail: answers that
// break the document each way are caught.
func TestConformanceCatchesADrift(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	json := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, bad := range []struct {
		name, method, path string
		code               int
		header             http.Header
		body               string
	}{
		{"a field the schema does not have", "POST", "/v1/posts", 202, json, `{"post_id":"p1","user_id":"alice","extra":1}`},
		{"a required field missing", "POST", "/v1/posts/alice/p1/like", 202, json, `{"post_id":"p1","user_id":"alice","liked":true}`},
		{"a status not listed", "GET", "/v1/trending", 418, json, `{"error":"teapot"}`},
		{"an error in another shape", "POST", "/v1/posts", 400, json, `{"message":"bad"}`},
		{"a 401 without WWW-Authenticate", "POST", "/v1/posts", 401, json, `{"error":"missing bearer token"}`},
		{"a page without its ETag", "GET", "/v1/hashtags/sunset", 200, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"public"}},
			`{"hashtag":"Sunset","key":"sunset","post_count":1,"top_posts":[],"recent_posts":[]}`},
		{"a 404 of no route as text", "GET", "/nope", 404, http.Header{"Content-Type": {"text/plain"}}, "404 page not found"},
		{"a 405 without Allow", "PUT", "/v1/posts", 405, json, `{"error":"no"}`},
		{"a 304 the operation does not list", "POST", "/v1/posts", 304, http.Header{}, ""},
	} {
		req := httptest.NewRequest(bad.method, bad.path, nil)
		if err := c.check(req, nil, bad.code, bad.header, []byte(bad.body)); err == nil {
			t.Errorf("%s: conforms", bad.name)
		}
	}
	ok := httptest.NewRequest("POST", "/v1/posts", nil)
	if err := c.check(ok, nil, 202, json, []byte(`{"post_id":"p1","user_id":"alice","hashtags":["a"]}`)); err != nil {
		t.Errorf("a conforming answer: %v", err)
	}
}

// TestEveryAnswerIsChecked: the answers of this package's tests go
// through the check (call), not around it.
func TestEveryAnswerIsChecked(t *testing.T) {
	h, _, _ := newServer()
	conformance.Lock()
	before := conformance.checked
	conformance.Unlock()
	call(h, "GET", "/v1/trending", "", "")
	conformance.Lock()
	defer conformance.Unlock()
	if conformance.checked != before+1 {
		t.Errorf("call checked %d answers, want 1", conformance.checked-before)
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	h, _, _ := newServer()
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/v1/posts", "POST"},
		{"GET", "/v1/posts/alice/p1/like", "POST, DELETE"},
		{"POST", "/v1/hashtags/sunset", "GET, HEAD"},
		{"DELETE", "/v1/trending", "GET, HEAD"},
		{"PUT", "/v1/posts/p1", "PATCH, DELETE"},
	} {
		w := call(h, c.method, c.path, mustToken(t, "alice"), "")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", c.method, c.path, w.Code, w.Header().Get("Allow"), c.allow)
			continue
		}
		errorOf(t, w)
	}
	if w := call(h, "PUT", "/v1/nope", "", ""); w.Code != http.StatusNotFound || w.Header().Get("Allow") != "" {
		t.Errorf("PUT of no route: %d Allow %q, want 404 and no Allow", w.Code, w.Header().Get("Allow"))
	}
}

func TestSpecIsServed(t *testing.T) {
	h, _, _ := newServer()
	w := call(h, "GET", "/openapi.json", "", "")
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), OpenAPI()) {
		t.Fatalf("GET /openapi.json: %d, %d bytes, want 200 and the document", w.Code, w.Body.Len())
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
		t.Fatalf("GET /openapi.json: %v, openapi %q, %d paths", err, doc.OpenAPI, len(doc.Paths))
	}
	// The paths keep the document's order: /v1/hashtags/{tag} first.
	if i, j := bytes.Index(w.Body.Bytes(), []byte(`"/v1/hashtags/{tag}"`)), bytes.Index(w.Body.Bytes(), []byte(`"/metrics"`)); i < 0 || j < i {
		t.Errorf("openapi.json lost openapi.yaml's order of paths")
	}
	if w2 := call(h, "GET", "/openapi.json", "", "", "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
		t.Errorf("GET /openapi.json with its ETag: %d, want 304", w2.Code)
	}
	d := call(h, "GET", "/docs", "", "")
	if d.Code != http.StatusOK || !strings.Contains(d.Header().Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(d.Body.String(), "/v1/hashtags/{tag}") {
		t.Errorf("GET /docs: %d, CSP %q: want 200, no script allowed, the operations", d.Code, d.Header().Get("Content-Security-Policy"))
	}
}

func TestYAMLToJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"b: 1\na: [x, 'y', true, null, 1.5]\n", `{"b":1,"a":["x","y",true,null,1.5]}`},
		{"a: &x {k: v}\nb: *x\n", `{"a":{"k":"v"},"b":{"k":"v"}}`},
		{"d: 2026-11-30\n", `{"d":"2026-11-30"}`},
		{"s: '200'\n", `{"s":"200"}`},
	} {
		got, err := yamlToJSON([]byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		var compact bytes.Buffer
		json.Compact(&compact, got)
		if compact.String() != c.want {
			t.Errorf("%q: %s, want %s", c.in, compact.String(), c.want)
		}
	}
	for _, bad := range []string{"a: [", "? [k]\n: v\n", "a: 1\nb: 2\na: 3\n"} {
		if _, err := yamlToJSON([]byte(bad)); err == nil {
			t.Errorf("%q: converted", bad)
		}
	}
}

// No answer outside the document: ranges and conditional writes are
// ignored (ServeContent would answer 206, 412 or a plain-text 416), and an
// untidy path is refused as JSON rather than redirected.
func TestNoUndocumentedAnswers(t *testing.T) {
	h, _, _ := newServerWith(Config{Site: mustSite(t)})
	for _, p := range []string{"/openapi.json", "/docs", "/"} {
		for _, hdr := range [][]string{{"Range", "bytes=0-10"}, {"Range", "bytes=999999-"}, {"If-Match", `"x"`}, {"If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}} {
			if w := call(h, "GET", p, "", "", hdr...); w.Code != http.StatusOK {
				t.Errorf("GET %s with %s: %d, want 200 and the whole body", p, hdr[0], w.Code)
			}
		}
	}
	for _, p := range []string{"/v1//posts", "/v1/hashtags/..", "/v1/./trending", "//healthz"} {
		if w := call(h, "GET", p, "", ""); w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("GET %s: %d Location %q, want 400 and no redirect", p, w.Code, w.Header().Get("Location"))
		} else {
			errorOf(t, w)
		}
	}
}
