// Package demo seeds a fresh `tagstream run --demo` with posts a newcomer
// can look at: a few hundred posts by a few dozen users across a few
// dozen hashtags, each with a generated photo, and likes skewed toward
// some posts so that Top differs from Recent.
//
// It is a client of the HTTP API, as an app would be: it reserves each
// upload, posts the photo to the presigned URL, creates the post and likes
// posts with bearer tokens it mints from the server's secret. So the demo
// goes through the same checks (sizes, image types, rate limits) as any
// client, and works whatever storage the server has. Post ids are fixed
// (demo-0001, ...), and a second create of a known post or a second like
// by the same user counts nothing, so seeding again never doubles a count.
package demo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/token"
)

// Options configures Seed.
type Options struct {
	// BaseURL is the API, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Secret mints the demo users' tokens (the server's token secret).
	Secret []byte
	// Posts is how many posts to create. Default 300.
	Posts int
	// Seed picks the captions, hashtags and likes. Default 1.
	Seed uint64
	// Workers is how many requests run at once. Default 4.
	Workers int
	// Client is the HTTP client. Default one with a 30 s timeout.
	Client *http.Client
}

// Result is what Seed created.
type Result struct {
	Posts, Likes int
	// Tags are the hashtags used, most posts first.
	Tags []string
}

// Seed creates the demo's posts, photos and likes through the API at
// o.BaseURL, and returns once the API has accepted all of them (they show
// on the pages once the pipeline has processed them).
func Seed(ctx context.Context, o Options) (Result, error) {
	if o.Posts <= 0 {
		o.Posts = 300
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	c := &client{o: o, tokens: map[string]string{}}
	plan := Plan(o.Posts, o.Seed)
	var res Result
	res.Tags = plan.Tags
	// Posts first, then likes: a like of a post the pipeline has not seen
	// yet would count nothing.
	err := each(ctx, o.Workers, len(plan.Posts), func(ctx context.Context, i int) error {
		return c.post(ctx, plan.Posts[i])
	})
	if err != nil {
		return res, err
	}
	res.Posts = len(plan.Posts)
	err = each(ctx, o.Workers, len(plan.Likes), func(ctx context.Context, i int) error {
		l := plan.Likes[i]
		p := plan.Posts[l.Post]
		return c.do(ctx, l.Liker, http.MethodPost, "/v1/posts/"+p.User+"/"+p.ID+"/like", nil, http.StatusAccepted, nil)
	})
	res.Likes = len(plan.Likes)
	return res, err
}

// each runs fn for 0..n-1, workers at a time, and returns the first
// error once every started call has returned.
func each(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range n {
		if ctx.Err() != nil {
			break // a call failed: start no more
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

type client struct {
	o      Options
	mu     sync.Mutex
	tokens map[string]string
}

func (c *client) token(user string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[user]; ok {
		return t, nil
	}
	t, err := token.Mint(c.o.Secret, user, time.Hour, time.Hour)
	if err != nil {
		return "", fmt.Errorf("demo: token for %s: %w", user, err)
	}
	c.tokens[user] = t
	return t, nil
}

// post uploads p's photo and creates p.
func (c *client) post(ctx context.Context, p Post) error {
	photo, err := Photo(p.Scene)
	if err != nil {
		return err
	}
	var res struct {
		ImageID string            `json:"image_id"`
		URL     string            `json:"url"`
		Fields  map[string]string `json:"fields"`
	}
	req := map[string]any{"content_type": "image/jpeg", "size": len(photo)}
	if err := c.do(ctx, p.User, http.MethodPost, "/v1/uploads", req, http.StatusCreated, &res); err != nil {
		return err
	}
	if err := c.upload(ctx, res.URL, res.Fields, photo); err != nil {
		return err
	}
	create := map[string]any{"post_id": p.ID, "caption": p.Caption, "image_id": res.ImageID}
	return c.do(ctx, p.User, http.MethodPost, "/v1/posts", create, http.StatusAccepted, nil)
}

// upload posts the file as a browser would: the presigned fields, then
// the file, as a multipart form.
func (c *client) upload(ctx context.Context, url string, fields map[string]string, file []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", "photo.jpg")
	if err == nil {
		_, err = fw.Write(file)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return fmt.Errorf("demo: build upload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return fmt.Errorf("demo: upload: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("demo: upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("demo: upload to %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// maxRetries bounds the retries of a request the API answered 429 or 503
// (a rate limit, storage briefly away).
const maxRetries = 10

// do sends a JSON request as user and decodes a JSON answer into out,
// expecting status want; it waits out a 429's Retry-After.
func (c *client) do(ctx context.Context, user, method, path string, in any, want int, out any) error {
	tok, err := c.token(user)
	if err != nil {
		return err
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.o.BaseURL, "/")+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.o.Client.Do(req)
		if err != nil {
			return fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("demo: %s %s: read the answer: %w", method, path, err)
		}
		switch {
		case resp.StatusCode == want:
			if out != nil {
				if err := json.Unmarshal(b, out); err != nil {
					return fmt.Errorf("demo: %s %s: %w", method, path, err)
				}
			}
			return nil
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < maxRetries:
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, 30*time.Second)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		default:
			return fmt.Errorf("demo: %s %s as %s: %d %s", method, path, user, resp.StatusCode, bytes.TrimSpace(b))
		}
	}
}

// Post is one planned post.
type Post struct {
	ID, User, Caption string
	Scene             Scene
}

// Like is one planned like: Liker likes Posts[Post].
type Like struct {
	Liker string
	Post  int
}

// Seeding is the whole demo, decided before any request.
type Seeding struct {
	Posts []Post
	Likes []Like
	Tags  []string
}

var users = strings.Fields(`ana ben chloe dev emma farid gia hugo ines jon kai lena milo nora omar pia quinn rosa sam tara
	uma vic wen xavi yara zoe aiko bruno carla dario elif finn greta hana ivan jade kofi luca maya nils`)

// tags are the demo's hashtags as written; the first are the most used.
var tags = strings.Fields(`Sunset Travel Coffee Foodie NightSky Hiking Beach Cats Dogs StreetArt Architecture Mountains
	CityLights Autumn Rain Plants Bakery RoadTrip Surf Snow Flowers Vintage Minimal BlackAndWhite Portrait Garden
	Ocean Desert Forest Bridges Music Festival Skate Books Café Zürich`)

var openers = []string{"Golden hour at the pier", "Morning walk", "Found this on the way home", "Weekend mood",
	"Could look at this all day", "First try, not bad", "Throwback to last summer", "Quiet moment", "Best view in town",
	"Colours today!", "Lucky shot", "Before the storm", "Sunday done right", "New favourite spot", "No filter needed"}

// Plan decides the demo: posts spread over the users in turn, one to
// three hashtags each (the first tags far more often than the last),
// and likes skewed so that a few posts get many.
func Plan(n int, seed uint64) Seeding {
	r := rand.New(rand.NewPCG(seed, 0x7461677374726561))
	zipf := rand.NewZipf(r, 1.3, 2, uint64(len(tags)-1))
	var s Seeding
	used := map[string]int{}
	for i := range n {
		k := 1 + r.IntN(3)
		var picked []string
		for len(picked) < k {
			t := tags[zipf.Uint64()]
			if !slices.Contains(picked, t) {
				picked = append(picked, t)
			}
		}
		caption := openers[r.IntN(len(openers))]
		for _, t := range picked {
			caption += " #" + t
			used[t]++
		}
		s.Posts = append(s.Posts, Post{ID: fmt.Sprintf("demo-%04d", i+1), User: users[i%len(users)], Caption: caption,
			Scene: Scene{Seed: seed*1_000_003 + uint64(i), Hue: math.Mod(hueOf(picked[0])+0.15*r.Float64(), 1)}})
	}
	for _, t := range tags {
		if used[t] > 0 {
			s.Tags = append(s.Tags, t)
		}
	}
	slices.SortStableFunc(s.Tags, func(a, b string) int { return cmp.Compare(used[b], used[a]) })
	// A user's writes, an upload and a post per post and a like per
	// like, stay within the API's default write burst (api.Config's
	// WriteBurst, 30), so seeding never waits on the rate limit.
	const writeBurst = 30
	writes := map[string]int{}
	for _, p := range s.Posts {
		writes[p.User] += 2
	}
	likeZipf := rand.NewZipf(r, 1.2, 4, uint64(n-1))
	for _, u := range users {
		seen := map[int]bool{}
		for range max(0, writeBurst-writes[u]) {
			// Skewed over a random order of the posts, so the liked
			// posts are not simply the first ones.
			p := int((likeZipf.Uint64()*7919 + seed) % uint64(n))
			if !seen[p] && s.Posts[p].User != u {
				seen[p] = true
				s.Likes = append(s.Likes, Like{Liker: u, Post: p})
			}
		}
	}
	return s
}

func hueOf(tag string) float64 {
	var h uint32 = 2166136261
	for i := 0; i < len(tag); i++ {
		h = (h ^ uint32(tag[i])) * 16777619
	}
	return float64(h%360) / 360
}
