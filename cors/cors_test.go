package cors

import (
	"net/http"
	"strings"
	"testing"
)

// An origin is accepted only as a browser sends it: a list entry a browser
// can never send would allow nothing, in silence.
func TestCheckAcceptsOnlyOriginsAsBrowsersSendThem(t *testing.T) {
	for _, s := range []string{"https://app.example.com", "http://localhost:3000", "http://127.0.0.1:8080",
		"http://[::1]:5173", "https://xn--bcher-kva.example"} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q): %v", s, err)
		}
	}
	for s, why := range map[string]string{
		"https://app.example.com/":             "a trailing slash",
		"https://app.example.com/app":          "a path",
		"https://app.example.com?x=1":          "a query",
		"https://app.example.com#x":            "a fragment",
		"https://App.Example.com":              "upper case",
		"HTTPS://app.example.com":              "an upper-case scheme",
		"https://app.example.com:443":          "the default port",
		"http://app.example.com:80":            "the default port",
		"https://app.example.com:":             "an empty port",
		"https://app.example.com:99999":        "a port out of range",
		"https://app.example.com:0443":         "a port with a leading zero",
		"ftp://app.example.com":                "another scheme",
		"app.example.com":                      "no scheme",
		"https://":                             "no host",
		"https://user@app.example.com":         "a user",
		"https://bücher.example":               "a host not in punycode",
		"null":                                 "the origin of sandboxed pages",
		"":                                     "nothing",
		"https://" + strings.Repeat("a", 300):  "over the length bound",
		"javascript:alert(1)":                  "not a URL with a host",
		"https://app.example.com\n":            "a control character",
		"https://app.example.com, https://b.c": "two origins in one",
	} {
		if err := Check(s); err == nil {
			t.Errorf("Check(%q) accepted %s", s, why)
		} else if !strings.Contains(err.Error(), "scheme://host[:port]") {
			t.Errorf("Check(%q): %v does not say what is wanted", s, err)
		}
	}
}

func TestParse(t *testing.T) {
	o, err := Parse([]string{"https://app.example.com", "http://localhost:3000"})
	if err != nil || !o.Enabled() || !o.Varies() || o.Allow(http.Header{"Origin": {"http://localhost:3000"}}) != "http://localhost:3000" {
		t.Fatalf("two origins: %+v %v", o, err)
	}
	if o, err := Parse([]string{"*"}); err != nil || o.Allow(http.Header{}) != "*" || o.Varies() || !o.Enabled() {
		t.Fatalf("*: %+v %v", o, err)
	}
	if o, err := Parse(nil); err != nil || o.Enabled() || o.Varies() {
		t.Fatalf("none: %+v %v", o, err)
	}
	if _, err := Parse([]string{"*", "https://app.example.com"}); err == nil {
		t.Fatal(`"*" with an origin beside it accepted`)
	}
	if _, err := Parse([]string{"https://app.example.com", "https://app.example.com/"}); err == nil {
		t.Fatal("a bad origin after a good one accepted")
	}
}

func TestAllow(t *testing.T) {
	list, _ := Parse([]string{"https://app.example.com"})
	anyOrigin, _ := Parse([]string{"*"})
	hdr := func(origins ...string) http.Header { return http.Header{"Origin": origins} }
	for _, c := range []struct {
		name    string
		o       Origins
		h       http.Header
		want    string
		because string
	}{
		{"listed", list, hdr("https://app.example.com"), "https://app.example.com", "it is in the list"},
		{"unlisted", list, hdr("https://evil.example"), "", "it is not in the list"},
		{"prefix of a listed one", list, hdr("https://app.example.co"), "", "matching is exact"},
		{"listed one as a prefix", list, hdr("https://app.example.com.evil.example"), "", "matching is exact"},
		{"other case", list, hdr("https://APP.example.com"), "", "browsers send lower case: another spelling is another sender"},
		{"null", list, hdr("null"), "", "null is never listed"},
		{"no Origin", list, http.Header{}, "", "there is no origin to allow"},
		{"two Origins", list, hdr("https://app.example.com", "https://app.example.com"), "", "a browser sends one"},
		{"huge", list, hdr("https://app.example.com" + strings.Repeat("a", 1<<20)), "", "it is over the bound"},
		{"any, no Origin", anyOrigin, http.Header{}, "*", "the answer is the same for everyone"},
		{"any, an origin", anyOrigin, hdr("https://evil.example"), "*", "every origin is allowed"},
		{"none", Origins{}, hdr("https://app.example.com"), "", "no origin is allowed"},
	} {
		if got := c.o.Allow(c.h); got != c.want {
			t.Errorf("%s: Allow = %q, want %q: %s", c.name, got, c.want, c.because)
		}
	}
}
