package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tagstream/tagstream/cors"
)

// corsMaxAge is how long a browser may keep a preflight's answer: an hour
// spares a web app one OPTIONS per route and hour (Chromium keeps it two
// hours at most), and an origin removed from --cors-origins is refused
// within the hour.
const corsMaxAge = time.Hour

// The header values of CORS answers, made once and shared between answers:
// net/http only reads them, and each has len == cap, so that a handler
// appending to one (Header.Add) gets a copy rather than writing into
// another answer's.
var (
	varyOrigin = []string{"Origin"}
	// corsAllowHeaders are the request headers a script may set: the
	// bearer token, the JSON body's type, and a conditional page read.
	corsAllowHeaders = []string{"Authorization, Content-Type, If-None-Match"}
	// corsExposeHeaders are the answer headers a script may read beyond the
	// CORS-safelisted ones (Content-Type, Content-Length, Cache-Control...):
	// a page's ETag, when a 429 or 503 may be retried, and why a token was
	// refused (invalid_token: mint a new one).
	corsExposeHeaders = []string{"ETag, Retry-After, WWW-Authenticate"}
	corsMaxAgeValue   = []string{strconv.Itoa(int(corsMaxAge.Seconds()))}
)

// corsRoutes collects the routes a browser on an allowed origin may call,
// so that each path answers its own preflight with its own methods.
type corsRoutes struct {
	origins cors.Origins
	paths   []string            // in registration order, for a stable mux
	methods map[string][]string // path -> methods
}

// wrap adds the CORS headers of an actual request to h's answers and
// records pattern's method for the path's preflight. With no origin
// configured it returns h as it is: no header at all.
func (c *corsRoutes) wrap(pattern string, h http.Handler) http.Handler {
	if !c.origins.Enabled() {
		return h
	}
	method, path, _ := strings.Cut(pattern, " ")
	if _, ok := c.methods[path]; !ok {
		c.paths = append(c.paths, path)
	}
	c.methods[path] = append(c.methods[path], method)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.headers(w.Header(), r)
		h.ServeHTTP(w, r)
	})
}

// headers sets what every answer of a CORS route carries: the allowed
// origin, if any, with what the script may read, and Vary: Origin whenever
// the answer depends on the origin, also when this request had none or a
// refused one: a CDN that cached the answer without an allow-origin must
// not serve it to an allowed origin, nor one origin's to another.
func (c *corsRoutes) headers(h http.Header, r *http.Request) {
	if c.origins.Varies() {
		h["Vary"] = varyOrigin
	}
	if allow := c.origins.Allow(r.Header); allow != "" {
		h["Access-Control-Allow-Origin"] = allowOrigin(allow)
		h["Access-Control-Expose-Headers"] = corsExposeHeaders
	}
}

var anyOrigin = []string{cors.Any}

// allowOrigin is the header value for allow, shared when it is "*".
func allowOrigin(allow string) []string {
	if allow == cors.Any {
		return anyOrigin
	}
	return []string{allow}
}

// mount registers on mux, for every path wrap saw, the OPTIONS route that
// answers its preflight.
func (c *corsRoutes) mount(mux interface{ Handle(string, http.Handler) }) {
	for _, path := range c.paths {
		methods := strings.Join(c.methods[path], ", ")
		mux.Handle("OPTIONS "+path, instrument("OPTIONS "+path, c.preflight(methods)))
	}
}

// preflight answers OPTIONS for a route with methods. An allowed origin
// gets 204 with what the route takes: its methods, the fixed request
// headers (whatever Access-Control-Request-Headers asked: nothing of it is
// parsed or echoed, the browser compares), and how long to keep it. A
// refused origin gets 403 and no allow header: the browser reports the
// CORS failure, and the 403 says why to whoever looks at the network tab.
// An OPTIONS that is no preflight is told the route's methods (Allow).
func (c *corsRoutes) preflight(methods string) http.HandlerFunc {
	allowMethods := []string{methods}
	allowed := []string{methods + ", OPTIONS"}
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if c.origins.Varies() {
			h["Vary"] = varyOrigin
		}
		if !cors.IsPreflight(r) {
			h["Allow"] = allowed
			w.WriteHeader(http.StatusNoContent)
			return
		}
		allow := c.origins.Allow(r.Header)
		if allow == "" {
			writeError(w, http.StatusForbidden, "this origin may not call the API from a browser: it is not in the API's --cors-origins")
			return
		}
		h["Access-Control-Allow-Origin"] = allowOrigin(allow)
		h["Access-Control-Allow-Methods"] = allowMethods
		h["Access-Control-Allow-Headers"] = corsAllowHeaders
		h["Access-Control-Max-Age"] = corsMaxAgeValue
		w.WriteHeader(http.StatusNoContent)
	}
}
