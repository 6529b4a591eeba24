package api

import (
	"strings"
	"testing"
)

// A size is any JSON number without a fraction, as JSON Schema's integer
// is: what a client generated from openapi.yaml may send.
func TestWholeNumbers(t *testing.T) {
	for body, want := range map[string]int64{
		`{"size": 524288}`: 524288, `{"size": 524288.0}`: 524288, `{"size": 5.24288e5}`: 524288,
		`{"size": -3}`: -3, `{"size": 0.0e9}`: 0, `{"size": null}`: 0,
	} {
		var req uploadRequest
		if err := decodeStrict([]byte(body), &req); err != nil || int64(req.Size) != want {
			t.Errorf("%s: %d, %v; want %d", body, req.Size, err, want)
		}
	}
	for body, why := range map[string]string{
		`{"size": 1.5}`:                  "number 1.5",
		`{"size": "1"}`:                  "string",
		`{"size": true}`:                 "bool",
		`{"size": [1]}`:                  "array",
		`{"size": 1e19}`:                 "number 1e19",
		`{"size": -9223372036854775808}`: "number -9223372036854775808",
		`{"size": 1` + strings.Repeat("0", 100) + `}`:              "a number of 101 characters",
		`{"size": 1e999999999}`:                                    "number 1e999999999",
		`{"size": 1.00000000000000000000000000000000000000000001}`: "number 1.00000000000000000000000000000000000000000001",
	} {
		var req uploadRequest
		err := decodeStrict([]byte(body), &req)
		if err == nil || !strings.Contains(err.Error(), `field "size" must be a whole number, not `+why) {
			t.Errorf("%.60s: %v, want a whole number refused as %s", body, err, why)
		}
	}
}

// An id given empty is malformed, not absent: only an absent post_id is
// made by the server, and only an absent image_id means no image.
func TestEmptyIDsAreRefused(t *testing.T) {
	h, _, pub := newServer()
	tok := mustToken(t, "alice")
	for _, body := range []string{`{"caption":"#a","post_id":""}`, `{"caption":"#a","image_id":""}`} {
		if w := call(h, "POST", "/v1/posts", tok, body); w.Code != 400 {
			t.Errorf("%s: %d %s, want 400", body, w.Code, w.Body)
		}
	}
	if len(pub.sent) != 0 {
		t.Errorf("%d events published", len(pub.sent))
	}
	if w := call(h, "POST", "/v1/posts", tok, `{"caption":"#a"}`); w.Code != 202 {
		t.Errorf("without ids: %d %s, want 202", w.Code, w.Body)
	}
}

func TestEmptyBodySaysSo(t *testing.T) {
	var req editRequest
	if err := decodeStrict(nil, &req); err == nil || err.Error() != "the body is empty: want a JSON object" {
		t.Errorf("empty body: %v", err)
	}
}
