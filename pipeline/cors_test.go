package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/testenv"
)

const webApp = "https://app.example.com"

// uploadPreflight asks, as a browser of origin would, whether it may post
// a reserved upload of cfg's storage, and returns the answer's status and
// allow-origin.
func uploadPreflight(t *testing.T, h http.Handler, cfg api.Config, origin string) (int, string) {
	t.Helper()
	res, err := cfg.Uploads.Reserve(context.Background(), "alice", "image/jpeg", 100)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodOptions, res.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	if h != nil {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Header().Get("Access-Control-Allow-Origin")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin")
}

// The storage allows browser uploads from the origins the API allows,
// and from no other: the embedded store through the API's own server, and
// an S3 bucket through the rule put on it at start.
func TestStorageAllowsTheAPIsOrigins(t *testing.T) {
	ctx := context.Background()
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	t.Run("embedded", func(t *testing.T) {
		for _, origins := range [][]string{{webApp}, nil} {
			dir := t.TempDir()
			cfg, err := withMedia(ctx, MediaOptions{EmbeddedDir: dir, KeysDir: dir}, api.Config{CORSOrigins: origins}, addr)
			if err != nil {
				t.Fatal(err)
			}
			// Through the API's handler, as `tagstream run` serves it.
			code, allow := uploadPreflight(t, api.New(cfg, nil, nil), cfg, webApp)
			if want := len(origins) > 0; (code == http.StatusNoContent && allow == webApp) != want {
				t.Errorf("origins %q: preflight %d, allow-origin %q; allowed: want %v", origins, code, allow, want)
			}
		}
	})
	t.Run("S3", func(t *testing.T) {
		endpoint := testenv.Get(t, "TAGSTREAM_S3_ENDPOINT", "a real S3 server (services/s3.sh up starts versitygw on http://127.0.0.1:19000)")
		for _, origins := range [][]string{{webApp}, nil} {
			dir := t.TempDir()
			s3 := media.S3Config{Endpoint: endpoint, AccessKey: os.Getenv("TAGSTREAM_S3_ACCESS_KEY"), SecretKey: os.Getenv("TAGSTREAM_S3_SECRET_KEY"),
				Region: os.Getenv("TAGSTREAM_S3_REGION"), Bucket: fmt.Sprintf("pipeline-cors-%d", time.Now().UnixNano()), CreateBucket: true}
			cfg, err := withMedia(ctx, MediaOptions{S3: s3, KeysDir: dir}, api.Config{CORSOrigins: origins}, addr)
			if err != nil {
				t.Fatal(err)
			}
			code, allow := uploadPreflight(t, nil, cfg, webApp)
			if want := len(origins) > 0; (code/100 == 2 && allow == webApp) != want {
				t.Errorf("origins %q: preflight %d, allow-origin %q; allowed: want %v", origins, code, allow, want)
			}
		}
	})
}

// A bad origin stops the API at start with an error, before it listens,
// rather than a panic in api.New.
func TestAPIRefusesBadOrigins(t *testing.T) {
	o := APIOptions{HTTP: "127.0.0.1:0"}
	o.API.CORSOrigins = []string{"https://app.example.com/"}
	if err := API(context.Background(), o); err == nil {
		t.Fatal("accepted")
	} else {
		t.Log(err)
	}
}
