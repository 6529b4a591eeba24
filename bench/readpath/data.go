package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/bench/harness"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/topology"
)

// dataOptions are `tagstream load`'s options (same names and defaults, so
// the posts it produced can be regenerated) and the shape of what fill
// adds.
type dataOptions struct {
	Posts   int
	Seed    int64
	Users   int
	Tags    int
	PerPost int
	Zipf    float64
	// Hot is the number of hottest hashtags (by posts) given image posts,
	// and the pages' hot set.
	Hot int
	// ImagesPerHot is the least number of image posts of each hot
	// hashtag: more than the top list's 100, so that the top and recent
	// lists of a hot page are image posts only.
	ImagesPerHot int
	// TagsPerImagePost is how many hot hashtags each image post carries.
	TagsPerImagePost int
	// LoadLikeShare is the share of load posts given one like, so that
	// tail pages have a few top posts too (without images).
	LoadLikeShare float64
}

func (d *dataOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&d.Posts, "posts", 100_000, "posts `tagstream load` produced (its --posts)")
	fs.Int64Var(&d.Seed, "seed", 1, "`tagstream load`'s --seed; also seeds what readpath adds and chooses")
	fs.IntVar(&d.Users, "users", 100_000, "`tagstream load`'s --users")
	fs.IntVar(&d.Tags, "tags", 50_000, "`tagstream load`'s --tags")
	fs.IntVar(&d.PerPost, "per-post", 8, "`tagstream load`'s --per-post")
	fs.Float64Var(&d.Zipf, "zipf", 1.1, "`tagstream load`'s --zipf")
	fs.IntVar(&d.Hot, "hot", 200, "hottest hashtags: given image posts, and the pages' hot set")
	fs.IntVar(&d.ImagesPerHot, "images-per-hot", 110, "image posts of each hot hashtag at least")
	fs.IntVar(&d.TagsPerImagePost, "tags-per-image-post", 4, "hot hashtags per image post")
	fs.Float64Var(&d.LoadLikeShare, "load-like-share", 0.1, "share of load posts given one like")
}

func (d dataOptions) loadOptions() load.Options {
	return load.Options{Posts: d.Posts, Seed: d.Seed, Users: d.Users, Tags: d.Tags, PerPost: d.PerPost, Zipf: d.Zipf}
}

// loadPosts regenerates the posts of `tagstream load` with d's options,
// and counts each hashtag's posts.
func loadPosts(d dataOptions) ([]load.Post, map[string]int) {
	g := load.NewGenerator(d.loadOptions())
	posts := make([]load.Post, d.Posts)
	counts := map[string]int{}
	for i := range posts {
		posts[i] = g.Next()
		for _, k := range posts[i].Keys {
			counts[k]++
		}
	}
	return posts, counts
}

// byCount returns the keys of counts, most posts first, ties by key.
func byCount(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return keys
}

// imagePost is a post with an image that fill adds.
type imagePost struct {
	User, ID, ImageID, Caption string
	Keys                       []string
	Likes                      int
}

// imageAlphabet is the alphabet of media.NewImageID (crypto/rand.Text):
// image ids look like the API's.
const imageAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// imagePosts returns posts with an image for the hot keys: slot s of post
// i*T+j names hot[s mod len(hot)], so consecutive slots are distinct keys
// and each key gets at least ImagesPerHot posts. Each has 2 to 50 likes.
func imagePosts(d dataOptions, hot []string) []imagePost {
	if len(hot) == 0 {
		return nil
	}
	t := min(max(d.TagsPerImagePost, 1), len(hot))
	n := (len(hot)*d.ImagesPerHot + t - 1) / t
	r := rand.New(rand.NewSource(d.Seed + 1000))
	extra := rand.NewZipf(r, 1.3, 1, 48)
	out := make([]imagePost, n)
	for i := range out {
		p := imagePost{User: "u" + strconv.Itoa(r.Intn(d.Users)), ID: fmt.Sprintf("img-%d-%d", d.Seed, i+1), Likes: 2 + int(extra.Uint64())}
		id := make([]byte, 26)
		for j := range id {
			id[j] = imageAlphabet[r.Intn(len(imageAlphabet))]
		}
		p.ImageID = string(id)
		var c strings.Builder
		fmt.Fprintf(&c, "photo %d", i+1)
		for j := range t {
			k := hot[(i*t+j)%len(hot)]
			p.Keys = append(p.Keys, k)
			if r.Intn(8) == 0 {
				k = strings.ToUpper(k)
			}
			c.WriteString(" #" + k)
		}
		p.Caption = c.String()
		out[i] = p
	}
	return out
}

// likeEvents returns the likes fill gives: each image post its Likes,
// from distinct likers, and a LoadLikeShare of the load posts one each.
func likeEvents(d dataOptions, imgs []imagePost, posts []load.Post, now time.Time) []events.LikeEvent {
	r := rand.New(rand.NewSource(d.Seed + 2000))
	var out []events.LikeEvent
	for _, p := range imgs {
		seen := map[int]bool{}
		for len(seen) < min(p.Likes, d.Users) {
			u := r.Intn(d.Users)
			if seen[u] {
				continue
			}
			seen[u] = true
			out = append(out, events.LikeEvent{Type: events.Liked, UserID: p.User, PostID: p.ID, LikerID: "u" + strconv.Itoa(u), TS: now})
		}
	}
	for _, p := range posts {
		if r.Float64() < d.LoadLikeShare {
			out = append(out, events.LikeEvent{Type: events.Liked, UserID: p.User, PostID: p.ID, LikerID: "u" + strconv.Itoa(r.Intn(d.Users)), TS: now})
		}
	}
	return out
}

func runFill(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fill", flag.ContinueOnError)
	var d dataOptions
	d.register(fs)
	brokers := fs.String("brokers", "127.0.0.1:9092", "the embedded broker (tagstream run --kafka-listen)")
	api := fs.String("api", "http://127.0.0.1:8080", "tagstream's HTTP API")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the pipeline and the ranking")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	posts, counts := loadPosts(d)
	hot := byCount(counts)[:min(d.Hot, len(counts))]
	imgs := imagePosts(d, hot)
	now := time.Now().UTC()
	likes := likeEvents(d, imgs, posts, now)

	c := kafka.Cluster{Brokers: strings.Split(*brokers, ",")}
	ns := topology.Namespace("")
	g := ns.Gen(0)
	cl, err := c.Client("readpath", kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, len(imgs))
	for _, p := range imgs {
		v, _ := json.Marshal(events.PostEvent{Type: events.PostCreated, PostID: p.ID, UserID: p.User, ImageID: p.ImageID, Caption: p.Caption, TS: now})
		recs = append(recs, &kgo.Record{Topic: ns.Posts(), Key: []byte(p.User), Value: v})
	}
	fmt.Fprintf(os.Stderr, "fill: %d image posts for the %d hottest hashtags (%d hashtags each)\n", len(imgs), len(hot), min(d.TagsPerImagePost, len(hot)))
	if err := produce(ctx, cl, recs); err != nil {
		return err
	}
	// Likes of a post read before the post wait for it (topology.md), but
	// the posts' being processed first keeps that out of the way.
	if err := load.AwaitProcessed(ctx, c, []string{g.Extractor(), g.Counts()}, os.Stderr); err != nil {
		return err
	}
	recs = recs[:0]
	for _, l := range likes {
		v, _ := json.Marshal(l)
		recs = append(recs, &kgo.Record{Topic: ns.Likes(), Key: []byte(l.UserID), Value: v})
	}
	fmt.Fprintf(os.Stderr, "fill: %d likes (image posts 2 to 50 each, %.0f%% of the load's posts one)\n", len(likes), 100*d.LoadLikeShare)
	if err := produce(ctx, cl, recs); err != nil {
		return err
	}
	if err := load.AwaitProcessed(ctx, c, g.Groups(), os.Stderr); err != nil {
		return err
	}
	// The ranking publishes each changed top list at its next sweep (a
	// quarter of --rank-interval), then hashtag-top takes it in.
	start := time.Now()
	for {
		full, err := fullTops(ctx, *api, hot)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "\rfill: %d of %d hot pages show 100 top posts with images (%s)", full, len(hot), time.Since(start).Round(time.Second))
		if full == len(hot) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fill: waiting for the hot pages' top posts: %w", ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
	fmt.Fprintln(os.Stderr)
	if err := load.AwaitProcessed(ctx, c, g.Groups(), os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fill: done; the pipeline is idle\n")
	return nil
}

func produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	return harness.Produce(ctx, cl, harness.All(recs))
}

// pageJSON is the part of a page readpath looks at.
type pageJSON struct {
	Key         string     `json:"key"`
	PostCount   int64      `json:"post_count"`
	TopPosts    []postJSON `json:"top_posts"`
	RecentPosts []postJSON `json:"recent_posts"`
}

type postJSON struct {
	ImageURL string `json:"image_url"`
}

// fullTops counts the keys whose page shows events.MaxTopPosts top posts,
// every one with an image URL.
func fullTops(ctx context.Context, api string, keys []string) (int, error) {
	n := 0
	for _, k := range keys {
		body, _, err := fetch(ctx, api, pagePath(k))
		if err != nil {
			return 0, err
		}
		var p pageJSON
		if err := json.Unmarshal(body, &p); err != nil {
			return 0, fmt.Errorf("page %s: %w", k, err)
		}
		if len(p.TopPosts) == events.MaxTopPosts && imageURLs(p.TopPosts) == len(p.TopPosts) {
			n++
		}
	}
	return n, nil
}

func imageURLs(ps []postJSON) int {
	n := 0
	for _, p := range ps {
		if p.ImageURL != "" {
			n++
		}
	}
	return n
}

// pagePath is the URL path of key's page; load's keys are "ld" and a-z,
// so they need no escaping.
func pagePath(key string) string { return "/v1/hashtags/" + key }

var client = &http.Client{Timeout: 30 * time.Second}

// fetch GETs base+path and returns the body of a 200 and its headers.
func fetch(ctx context.Context, base, path string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, body)
	}
	return body, resp.Header, nil
}
