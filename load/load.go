// Package load generates a reproducible stream of posts with Zipf-distributed
// hashtags, publishes it through the API or straight onto the posts topic,
// and waits until the API serves counts equal to its own ground truth.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/topology"
)

// Options configures a load run.
type Options struct {
	Cluster kafka.Cluster
	// Namespace is the deployment's (topology.Namespace); default none.
	Namespace topology.Namespace
	// Posts to create. Seed makes them reproducible.
	Posts int
	Seed  int64
	// Via is "kafka" (produce onto posts with franz-go's default murmur2
	// partitioner) or "api" (POST /v1/posts).
	Via string
	// API is the base URL read (and, with Via "api", written).
	API string
	// Users, Tags: number of distinct users and hashtag vocabulary size.
	Users, Tags int
	// PerPost is the mean number of distinct hashtags per post.
	PerPost int
	// Zipf is the exponent s > 1 of hashtag popularity.
	Zipf float64
	// Likes is the number of likes given once every post is counted:
	// Zipf (s = Zipf) over the posts, by likers drawn from Users, onto the
	// likes topic. 0: none. Only with Via "kafka".
	Likes int
	// Concurrency of API requests.
	Concurrency int
	// Timeout bounds the wait for the counts to match.
	Timeout time.Duration
	// Secret signs the per-user tokens with Via "api".
	Secret []byte
	// Progress receives progress bars; nil for none.
	Progress io.Writer
}

// Result is what a run measured.
type Result struct {
	Posts, HashtagEvents, DistinctTags int
	Via                                string
	// Publish is the time to publish every post; Converge the time from the
	// first publish until every count matched.
	Publish, Converge time.Duration
	Mismatched        int
	// Likes is the likes phase, when Options.Likes is set.
	Likes *LikesResult
}

// LikesResult is what the likes phase measured: how long until every
// group had processed the likes, and what they cost each table's
// changelog (and post-changes), in records and bytes.
type LikesResult struct {
	Likes, Posts int
	// Processed is the time from the first like produced until every
	// group (the ranking's included) had committed all of them.
	Processed time.Duration
	// Written is, per topic, the records and bytes written during the
	// phase.
	Written []TopicCost
}

// TopicCost is what one topic received.
type TopicCost struct {
	Topic          string
	Records, Bytes int64
}

func (l *LikesResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "likes: %d likes over %d posts processed by every group in %s: %.0f likes/s; written per like:",
		l.Likes, l.Posts, l.Processed.Round(time.Millisecond), float64(l.Likes)/l.Processed.Seconds())
	for _, c := range l.Written {
		fmt.Fprintf(&b, " %s %.2f records %.0f bytes;", c.Topic, float64(c.Records)/float64(l.Likes), float64(c.Bytes)/float64(l.Likes))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// PostsPerSecond is end-to-end throughput: posts over the time until the
// view matched.
func (r *Result) PostsPerSecond() float64 { return float64(r.Posts) / r.Converge.Seconds() }

func (r *Result) String() string {
	s := fmt.Sprintf("load: %d posts (%d hashtag events, %d distinct hashtags) via %s: published in %s, "+
		"view matched after %s: %.0f posts/s end to end, %d hashtag(s) still differ",
		r.Posts, r.HashtagEvents, r.DistinctTags, r.Via, r.Publish.Round(time.Millisecond),
		r.Converge.Round(time.Millisecond), r.PostsPerSecond(), r.Mismatched)
	if r.Likes != nil {
		s += "\n" + r.Likes.String()
	}
	return s
}

// Post is one generated post.
type Post struct {
	User, ID, Caption string
	Keys              []string
}

// Generator makes the posts of a seed, in order.
type Generator struct {
	o    Options
	r    *rand.Rand
	zipf *rand.Zipf
	i    int
}

// NewGenerator returns the generator of o.Seed.
func NewGenerator(o Options) *Generator {
	r := rand.New(rand.NewSource(o.Seed))
	return &Generator{o: o, r: r, zipf: rand.NewZipf(r, o.Zipf, 1, uint64(o.Tags-1))}
}

// TagKey is the normalised key of vocabulary entry n: "ld" and n in base 26
// written with the letters a-z, so it is a hashtag (never all digits) and
// distinct for every n.
func TagKey(n uint64) string {
	b := []byte{'a' + byte(n%26)}
	for n /= 26; n > 0; n /= 26 {
		b = append(b, 'a'+byte(n%26))
	}
	slices.Reverse(b)
	return "ld" + string(b)
}

// Next returns the next post. About one tag in eight is written in upper
// case, so the counts also check normalisation.
func (g *Generator) Next() Post {
	g.i++
	n := 1 + g.r.Intn(2*g.o.PerPost-1) // mean PerPost
	seen := map[string]bool{}
	var keys []string
	var cap strings.Builder
	cap.WriteString("load post ")
	for tries := 0; len(keys) < n && tries < 4*n; tries++ {
		k := TagKey(g.zipf.Uint64())
		if seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		written := k
		if g.r.Intn(8) == 0 {
			written = strings.ToUpper(k)
		}
		cap.WriteString(" #" + written)
	}
	return Post{
		User:    "u" + strconv.Itoa(g.r.Intn(g.o.Users)),
		ID:      fmt.Sprintf("load-%d-%d", g.o.Seed, g.i),
		Caption: cap.String(),
		Keys:    keys,
	}
}

// Run publishes the posts and waits for the counts to match.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Tags < 2 || o.Zipf <= 1 || o.PerPost < 1 || o.Posts < 1 || o.Users < 1 {
		return nil, fmt.Errorf("load: need posts, users, per-post >= 1, tags >= 2 and zipf > 1")
	}
	// Generate first, so publishing is measured on its own.
	g := NewGenerator(o)
	posts := make([]Post, o.Posts)
	truth := map[string]int64{}
	events := 0
	for i := range posts {
		posts[i] = g.Next()
		for _, k := range posts[i].Keys {
			truth[k]++
		}
		events += len(posts[i].Keys)
	}
	reader := NewReader(o.API)
	baseline, err := reader.counts(ctx, keysOf(truth), o.Concurrency, bar(o.Progress, len(truth), "reading baseline counts"))
	if err != nil {
		return nil, err
	}
	for k, n := range baseline {
		truth[k] += n
	}
	res := &Result{Posts: o.Posts, HashtagEvents: events, DistinctTags: len(truth), Via: o.Via}
	start := time.Now()
	switch o.Via {
	case "kafka":
		err = produce(ctx, o, posts)
	case "api":
		err = post(ctx, o, posts)
	default:
		err = fmt.Errorf("load: --via %q is not kafka or api", o.Via)
	}
	if err != nil {
		return nil, err
	}
	res.Publish = time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// Polling thousands of pages while the pipeline works would steal its
	// CPU and slow what is measured; the consumer lag says cheaply when the
	// work is done, then every count is checked.
	if err := AwaitProcessed(wctx, o.Cluster, []string{o.Namespace.Gen(0).Extractor(), o.Namespace.Gen(0).Counts()}, o.Progress); err != nil {
		return nil, err
	}
	res.Mismatched, err = reader.await(wctx, truth, o.Concurrency, bar(o.Progress, len(truth), "waiting for the view"))
	res.Converge = time.Since(start)
	if err != nil {
		return nil, err
	}
	if o.Likes > 0 {
		if o.Via != "kafka" {
			return res, errors.New("load: --likes needs --via kafka")
		}
		if res.Likes, err = like(wctx, o, posts); err != nil {
			return res, err
		}
	}
	return res, nil
}

// like produces o.Likes likes of posts, Zipf over them (the first posts
// most liked), every post already counted (so the extractor knows it),
// waits until every group has processed them and reads what each topic
// received meanwhile.
func like(ctx context.Context, o Options, posts []Post) (*LikesResult, error) {
	g := o.Namespace.Gen(0)
	watched := []string{g.PostChanges(), g.ExtractorTable(), g.RecentTable(), g.TopTable(), g.RankTable(), g.TrendingTable(), o.Namespace.TopPosts()}
	before := map[string]map[int32]int64{}
	for _, t := range watched {
		ends, err := o.Cluster.Ends(ctx, t)
		if err != nil {
			return nil, err
		}
		before[t] = ends
	}
	cl, err := o.Cluster.Client("load", kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	r := rand.New(rand.NewSource(o.Seed + 1))
	zipf := rand.NewZipf(r, o.Zipf, 1, uint64(len(posts)-1))
	b := bar(o.Progress, o.Likes, "producing likes")
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	now := start.UTC()
	for range o.Likes {
		p := posts[zipf.Uint64()]
		v, _ := json.Marshal(events.LikeEvent{Type: events.Liked, UserID: p.User, PostID: p.ID, LikerID: fmt.Sprintf("u%d", r.Intn(o.Users)), TS: now})
		cl.Produce(ctx, &kgo.Record{Topic: o.Namespace.Likes(), Key: []byte(p.User), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			b.Add(1)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("load: flush likes: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("load: %d likes not produced, first error: %v", n, firstErr.Load())
	}
	if err := AwaitProcessed(ctx, o.Cluster, g.Groups(), o.Progress); err != nil {
		return nil, err
	}
	res := &LikesResult{Likes: o.Likes, Posts: len(posts), Processed: time.Since(start)}
	for _, t := range watched {
		c := TopicCost{Topic: t}
		ends, err := o.Cluster.Ends(ctx, t)
		if err != nil {
			return nil, err
		}
		spans := kafka.Spans{t: {}}
		for p, end := range ends {
			spans[t][p] = kafka.Span{From: before[t][p], To: end}
		}
		err = o.Cluster.ReadSpans(ctx, spans, false, func(rec *kgo.Record) {
			c.Records++
			c.Bytes += int64(len(rec.Key) + len(rec.Value))
		})
		if err != nil {
			return nil, fmt.Errorf("load: reading %s: %w", t, err)
		}
		res.Written = append(res.Written, c)
	}
	return res, nil
}

func keysOf(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func bar(w io.Writer, n int, desc string) *progressbar.ProgressBar {
	if w == nil {
		return progressbar.DefaultSilent(int64(n))
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
}

func produce(ctx context.Context, o Options, posts []Post) error {
	cl, err := o.Cluster.Client("load", kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	b := bar(o.Progress, len(posts), "producing posts")
	var failed atomic.Int64
	var firstErr atomic.Value
	now := time.Now().UTC()
	for _, p := range posts {
		v, _ := json.Marshal(events.PostEvent{Type: events.PostCreated, PostID: p.ID, UserID: p.User, Caption: p.Caption, TS: now})
		cl.Produce(ctx, &kgo.Record{Topic: o.Namespace.Posts(), Key: []byte(p.User), Value: v},
			func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				b.Add(1)
			})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("load: flush: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("load: %d posts not produced, first error: %v", n, firstErr.Load())
	}
	return nil
}

func post(ctx context.Context, o Options, posts []Post) error {
	var mu sync.Mutex
	tokens := map[string]string{}
	tokenFor := func(user string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if t, ok := tokens[user]; ok {
			return t, nil
		}
		t, err := token.Mint(o.Secret, user, 24*time.Hour, 0)
		tokens[user] = t
		return t, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	b := bar(o.Progress, len(posts), "posting")
	return parallel(ctx, len(posts), o.Concurrency, func(i int) error {
		p := posts[i]
		tok, err := tokenFor(p.User)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(map[string]string{"caption": p.Caption, "post_id": p.ID})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.API, "/")+"/v1/posts", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("load: POST /v1/posts: %w", err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("load: POST /v1/posts: %s: %s", resp.Status, msg)
		}
		b.Add(1)
		return nil
	})
}

// parallel runs fn(0..n-1) on k goroutines and returns the first error.
func parallel(ctx context.Context, n, k int, fn func(i int) error) error {
	if k < 1 {
		k = 1
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return first
}

// AwaitProcessed waits until groups have committed every input record,
// twice in a row (the extractor's output is the other groups' input),
// printing the lag to progress if it is not nil.
func AwaitProcessed(ctx context.Context, c kafka.Cluster, groups []string, progress io.Writer) error {
	zero := 0
	for zero < 2 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("load: waiting for the processors to catch up: %w", ctx.Err())
		case <-time.After(time.Second):
		}
		lag, err := c.Lag(ctx, groups...)
		if err != nil {
			return err
		}
		if progress != nil {
			fmt.Fprintf(progress, "\rprocessors' lag: %10d records", lag)
		}
		if lag == 0 {
			zero++
		} else {
			zero = 0
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	return nil
}

// Reader reads hashtag counts from a tagstream API.
type Reader struct {
	base string
	http *http.Client
}

// NewReader returns a reader of the API at base (http://host:port).
func NewReader(base string) *Reader {
	return &Reader{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 10 * time.Second}}
}

// Counts reads the post_count of every key, 0 for a 404, with k requests
// at a time.
func (r *Reader) Counts(ctx context.Context, keys []string, k int) (map[string]int64, error) {
	return r.counts(ctx, keys, k, bar(nil, len(keys), ""))
}

// Await polls until every count equals truth or ctx ends, and returns how
// many still differ.
func (r *Reader) Await(ctx context.Context, truth map[string]int64, k int) (int, error) {
	return r.await(ctx, truth, k, bar(nil, len(truth), ""))
}

// count returns the post_count the API serves for key, 0 for a 404.
func (r *Reader) count(ctx context.Context, key string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v1/hashtags/"+url.PathEscape(key), nil)
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("load: GET %s: %w", key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		io.Copy(io.Discard, resp.Body)
		return 0, nil
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("load: GET %s: %s: %s", key, resp.Status, msg)
	}
	var page struct {
		PostCount int64 `json:"post_count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return 0, fmt.Errorf("load: GET %s: %w", key, err)
	}
	return page.PostCount, nil
}

func (r *Reader) counts(ctx context.Context, keys []string, k int, b *progressbar.ProgressBar) (map[string]int64, error) {
	out := make(map[string]int64, len(keys))
	var mu sync.Mutex
	err := parallel(ctx, len(keys), k, func(i int) error {
		n, err := r.count(ctx, keys[i])
		if err != nil {
			return err
		}
		mu.Lock()
		out[keys[i]] = n
		mu.Unlock()
		b.Add(1)
		return nil
	})
	return out, err
}

// await polls the keys that do not match yet until all do or ctx ends, and
// returns how many still differ.
func (r *Reader) await(ctx context.Context, truth map[string]int64, k int, b *progressbar.ProgressBar) (int, error) {
	pending := keysOf(truth)
	for {
		var mu sync.Mutex
		var still []string
		err := parallel(ctx, len(pending), k, func(i int) error {
			n, err := r.count(ctx, pending[i])
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if n == truth[pending[i]] {
				b.Add(1)
			} else {
				still = append(still, pending[i])
			}
			return nil
		})
		if err != nil {
			return len(pending), err
		}
		if len(still) == 0 {
			return 0, nil
		}
		pending = still
		select {
		case <-ctx.Done():
			return len(pending), fmt.Errorf("load: %d hashtag counts still differ from the ground truth: %w", len(pending), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
