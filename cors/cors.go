// Package cors decides which web origins may read tagstream's answers from
// a browser script (Cross-Origin Resource Sharing): an exact list of
// origins, or any origin. The API (package api) and the embedded store's
// upload endpoint (media.Local) answer with it, and the S3 bucket gets a
// rule made from the same list (media.NewS3).
//
// Credentials are never allowed: bearer tokens travel in the Authorization
// header, set by the script, not in cookies, so no answer needs
// Access-Control-Allow-Credentials. That is also why "*" is safe to offer:
// a page of another site reads with "*" only what anyone can read with
// curl, and cannot send a user's token it does not hold.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxOriginBytes bounds an Origin header: "https://" and a port around the
// longest DNS name (253 bytes) fit. A longer one is no origin any list can
// hold, and is refused before it is looked up.
const MaxOriginBytes = 280

// Any is the list entry that allows every origin.
const Any = "*"

// Origins is a parsed --cors-origins: the zero value allows no origin and
// adds no header at all.
type Origins struct {
	any  bool
	list map[string]bool
}

// Parse checks every origin of list (Check) and returns the set. "*" must
// stand alone: next to exact origins it would make them meaningless, which
// is more likely a mistake than a wish.
func Parse(list []string) (Origins, error) {
	var o Origins
	for _, s := range list {
		if s == Any {
			if len(list) > 1 {
				return Origins{}, errors.New(`cors: "*" allows every origin, so it stands alone, not in a list`)
			}
			o.any = true
			continue
		}
		if err := Check(s); err != nil {
			return Origins{}, err
		}
		if o.list == nil {
			o.list = map[string]bool{}
		}
		o.list[s] = true
	}
	return o, nil
}

// Check returns an error unless s is an origin exactly as a browser sends
// it in the Origin header: scheme://host[:port], http or https, lower case,
// the host in ASCII (punycode), no default port, and nothing after it, not
// even "/". Browsers compare origins as strings, so "https://App.example.com/"
// would match no request; it is refused rather than silently rewritten.
func Check(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("cors: origin %.100q: %s; want scheme://host[:port] as a browser sends it, e.g. https://app.example.com", s, why)
	}
	if len(s) > MaxOriginBytes {
		return bad(fmt.Sprintf("over %d bytes", MaxOriginBytes))
	}
	if s == "null" {
		// Sandboxed frames and file: pages all send "null": allowing it
		// would allow any of them.
		return bad(`"null" is the origin of every sandboxed or local page`)
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad(err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("the scheme must be http or https")
	case u.Host == "" || u.Opaque != "":
		return bad("no host")
	case u.User != nil:
		return bad("an origin has no user")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.ContainsAny(s, "#?"):
		return bad("an origin ends after the host and port, without even a /")
	case s != strings.ToLower(s):
		return bad("browsers send origins in lower case")
	}
	for _, r := range u.Hostname() {
		if r >= 0x80 {
			return bad("browsers send the host in punycode (xn--...)")
		}
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		switch {
		case err != nil || n < 1 || n > 65535 || p[0] == '0':
			return bad("bad port")
		case u.Scheme == "http" && n == 80, u.Scheme == "https" && n == 443:
			return bad("browsers leave the default port out")
		}
	}
	return nil
}

// Enabled reports whether any origin is allowed: with none, no CORS header
// is sent at all.
func (o Origins) Enabled() bool { return o.any || len(o.list) > 0 }

// Allow returns the Access-Control-Allow-Origin for a request with header
// h: "*" for any origin, whatever h holds (so the answer is the same for
// every origin, and a cache need not vary on it), the request's origin if
// it is in the list, "" otherwise. An Origin header given twice, or longer
// than any origin, is allowed nothing.
func (o Origins) Allow(h http.Header) string {
	if o.any {
		return Any
	}
	v := h["Origin"]
	if len(v) != 1 || len(v[0]) > MaxOriginBytes || !o.list[v[0]] {
		return ""
	}
	return v[0]
}

// Varies reports whether answers depend on the request's Origin, so that
// each must carry Vary: Origin, whatever that Origin was or whether there
// was one: a cache that stored the answer to one origin (or to no origin)
// must not serve it to another.
func (o Origins) Varies() bool { return !o.any && len(o.list) > 0 }

// IsPreflight reports whether r is a CORS preflight: OPTIONS with an
// Access-Control-Request-Method. Any other OPTIONS is an ordinary request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}
