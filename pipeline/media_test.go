package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/topology"
)

// photo is a w×h JPEG gradient.
func photo(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), 80, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload reserves an upload as user and posts the file the way a browser
// does (postForm). It returns the image id.
func upload(t *testing.T, base, user string, file []byte) string {
	t.Helper()
	resp, b := do(t, http.MethodPost, base+"/v1/uploads", bearer(t, user),
		fmt.Sprintf(`{"content_type":"image/jpeg","size":%d}`, len(file)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("reserve: %d %s", resp.StatusCode, b)
	}
	var res media.Reservation
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	postForm(t, http.DefaultClient, res, file)
	return res.ImageID
}

// postForm posts a reserved upload as a browser does, with client: a
// multipart form of the reservation's fields, then the file, to its url.
func postForm(t *testing.T, client *http.Client, res media.Reservation, file []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range res.Fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "photo.jpg")
	fw.Write(file)
	mw.Close()
	up, err := client.Post(res.URL, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Body.Close()
	if up.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(up.Body)
		t.Fatalf("upload to %s: %d %s", res.URL, up.StatusCode, msg)
	}
}

// `tagstream run` with its embedded storage: a photo uploaded through a
// reservation, posted, ranked, shows on the hashtag page with a signed URL
// that this same server resizes to the requested width.
func TestPhotoFlow(t *testing.T) {
	n := startEmbedded(t, t.TempDir(), 3)
	base := "http://" + n.http
	file := photo(t, 1600, 1200)
	id := upload(t, base, "alice", file)

	// Only the uploader may post it.
	if resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, "bob"), `{"caption":"#stolen","image_id":"`+id+`"}`); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bob posting alice's image: %d %s", resp.StatusCode, b)
	}
	resp, b := do(t, http.MethodPost, base+"/v1/posts", bearer(t, "alice"), `{"caption":"Golden hour #Goldenhour","image_id":"`+id+`","post_id":"p1"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %d %s", resp.StatusCode, b)
	}
	awaitCount(t, n.http, "goldenhour", 1)

	// The ranking job lists the post, denormalised, with its image id.
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	doc := fmt.Sprintf(`{"hashtag":"goldenhour","computed_at":%q,"posts":[{"post_id":"p1","user_id":"alice","image_id":%q,"caption":"Golden hour"}]}`,
		time.Now().UTC().Format(time.RFC3339), id)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topology.Namespace("").TopPosts(), Key: []byte("goldenhour"), Value: []byte(doc)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var imageURL string
	for deadline := time.Now().Add(30 * time.Second); imageURL == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if p := awaitCount(t, n.http, "goldenhour", 1); len(p.TopPosts) == 1 {
			imageURL = p.TopPosts[0].ImageURL
		}
	}
	if !strings.HasPrefix(imageURL, "/img/alice/"+id+"?w=640&exp=") {
		t.Fatalf("image_url %q", imageURL)
	}

	// A browser resolves the relative URL against the page's origin.
	img, err := http.Get(base + imageURL)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Body.Close()
	if img.StatusCode != http.StatusOK || img.Header.Get("Content-Type") != "image/jpeg" || img.Header.Get("ETag") == "" {
		t.Fatalf("image: %d %v", img.StatusCode, img.Header)
	}
	cfg, _, err := image.DecodeConfig(img.Body)
	if err != nil || cfg.Width != 640 || cfg.Height != 480 {
		t.Fatalf("image is %dx%d (%v), want 640x480", cfg.Width, cfg.Height, err)
	}
	// The URL is good at every width the origin allows (a srcset), and
	// at no other; another user's image under it is refused.
	resp, body := do(t, http.MethodGet, base+strings.Replace(imageURL, "w=640", "w=1080", 1), "", "")
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); resp.StatusCode != http.StatusOK || err != nil || cfg.Width != 1080 {
		t.Fatalf("w=1080: %d, %d px (%v)", resp.StatusCode, cfg.Width, err)
	}
	if resp, _ := do(t, http.MethodGet, base+strings.Replace(imageURL, "w=640", "w=700", 1), "", ""); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a width not allowed: %d", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodGet, base+strings.Replace(imageURL, "/img/alice/", "/img/bob/", 1), "", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another user's path under the signature: %d", resp.StatusCode)
	}
}

// `tagstream api` replicas without --image-keys derive the signing key from
// the token secret they share: they build the same URLs, and a replica with
// another secret does not.
func TestDerivedImageKeysAgreeAcrossReplicas(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	a, err := keyring(MediaOptions{DeriveFrom: secret})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := keyring(MediaOptions{DeriveFrom: append([]byte{}, secret...)})
	other, _ := keyring(MediaOptions{DeriveFrom: []byte(strings.Repeat("t", 32))})
	exp := time.Unix(1_800_000_000, 0)
	ua, ub, uo := a.Build("", "alice", "img", 640, exp), b.Build("", "alice", "img", 640, exp), other.Build("", "alice", "img", 640, exp)
	if ua != ub || ua == uo {
		t.Fatalf("replicas: %s / %s; other secret: %s", ua, ub, uo)
	}
	if _, err := keyring(MediaOptions{}); err == nil {
		t.Fatal("no keys, no directory, no secret: accepted")
	}
}
