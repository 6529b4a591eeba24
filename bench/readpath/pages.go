package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tagstream/tagstream/events"
)

// choosePages returns the hot set (the hot most-posted keys) and a seeded
// sample of tail keys from the rest. The image posts fill adds are all on
// the hot keys, so counting load's posts alone ranks the hot set right.
func choosePages(counts map[string]int, hot, tail int, seed int64) (hotKeys, tailKeys []string) {
	all := byCount(counts)
	hot = min(hot, len(all))
	rest := slices.Clone(all[hot:])
	slices.Sort(rest) // the sample must not depend on the ties' order
	r := rand.New(rand.NewSource(seed + 3000))
	r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return all[:hot], rest[:min(tail, len(rest))]
}

// urlOrder is the order wrk walks: every path once, shuffled with the
// seed, so hot and tail pages interleave.
func urlOrder(keys []string, seed int64) []string {
	paths := make([]string, len(keys))
	for i, k := range keys {
		paths[i] = pagePath(k)
	}
	r := rand.New(rand.NewSource(seed + 4000))
	r.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths
}

// Mix describes the pages wrk requests, each as often as the others.
type Mix struct {
	Pages int `json:"pages"`
	// BodyBytesMean is the mean body over the pages: the mean body per
	// request, since wrk walks every page in turn.
	BodyBytesMean float64 `json:"body_bytes_mean"`
	BodyBytesMax  int     `json:"body_bytes_max"`
	// Top100WithImages counts pages with 100 top posts, each with a
	// signed image URL; NoImage pages with no image URL at all.
	Top100WithImages int `json:"top100_with_images"`
	NoImage          int `json:"no_image"`
	// ImageURLsPerRequest is the mean of signed URLs a page holds
	// (tagstream signs each at every request).
	ImageURLsPerRequest float64 `json:"image_urls_per_request"`
	Hot                 Group   `json:"hot"`
	Tail                Group   `json:"tail"`
	// Headers are tagstream's and nginx's response headers of one hot
	// page (Date left out), to compare what each sends.
	TagstreamHeaders map[string]string `json:"tagstream_headers"`
	NginxHeaders     map[string]string `json:"nginx_headers,omitempty"`
	// EdgeHeaders are the edge's (Varnish's) of the same page, requested
	// as wrk does (no Accept-Encoding), once it was cached.
	EdgeHeaders map[string]string `json:"edge_headers,omitempty"`
	// HeadersPath is that page's path: the hottest hashtag's.
	HeadersPath     string `json:"headers_path"`
	ImageURLExample string `json:"image_url_example"`
}

// Group describes the hot set or the tail sample.
type Group struct {
	Pages            int     `json:"pages"`
	PostCountMin     int64   `json:"post_count_min"`
	PostCountMax     int64   `json:"post_count_max"`
	BodyBytesMin     int     `json:"body_bytes_min"`
	BodyBytesMedian  int     `json:"body_bytes_median"`
	BodyBytesMean    float64 `json:"body_bytes_mean"`
	BodyBytesMax     int     `json:"body_bytes_max"`
	TopPostsMean     float64 `json:"top_posts_mean"`
	RecentPostsMean  float64 `json:"recent_posts_mean"`
	ImageURLsMean    float64 `json:"image_urls_mean"`
	Top100WithImages int     `json:"top100_with_images"`
	NoImage          int     `json:"no_image"`
}

type pageStat struct {
	bytes, top, recent, images int
	count                      int64
}

func group(stats []pageStat) Group {
	g := Group{Pages: len(stats)}
	if len(stats) == 0 {
		return g
	}
	sizes := make([]int, len(stats))
	g.PostCountMin = stats[0].count
	var bytes, top, recent, images int
	for i, s := range stats {
		sizes[i] = s.bytes
		bytes += s.bytes
		top += s.top
		recent += s.recent
		images += s.images
		g.PostCountMin = min(g.PostCountMin, s.count)
		g.PostCountMax = max(g.PostCountMax, s.count)
		if s.top == events.MaxTopPosts && s.images >= s.top {
			g.Top100WithImages++
		}
		if s.images == 0 {
			g.NoImage++
		}
	}
	slices.Sort(sizes)
	n := float64(len(stats))
	g.BodyBytesMin, g.BodyBytesMedian, g.BodyBytesMax = sizes[0], sizes[len(sizes)/2], sizes[len(sizes)-1]
	g.BodyBytesMean = float64(bytes) / n
	g.TopPostsMean, g.RecentPostsMean, g.ImageURLsMean = float64(top)/n, float64(recent)/n, float64(images)/n
	return g
}

func mixOf(hot, tail []pageStat) Mix {
	m := Mix{Hot: group(hot), Tail: group(tail)}
	m.Pages = m.Hot.Pages + m.Tail.Pages
	if m.Pages > 0 {
		n := float64(m.Pages)
		m.BodyBytesMean = (m.Hot.BodyBytesMean*float64(m.Hot.Pages) + m.Tail.BodyBytesMean*float64(m.Tail.Pages)) / n
		m.ImageURLsPerRequest = (m.Hot.ImageURLsMean*float64(m.Hot.Pages) + m.Tail.ImageURLsMean*float64(m.Tail.Pages)) / n
	}
	m.BodyBytesMax = max(m.Hot.BodyBytesMax, m.Tail.BodyBytesMax)
	m.Top100WithImages = m.Hot.Top100WithImages + m.Tail.Top100WithImages
	m.NoImage = m.Hot.NoImage + m.Tail.NoImage
	return m
}

func runPages(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pages", flag.ContinueOnError)
	var d dataOptions
	d.register(fs)
	api := fs.String("api", "http://127.0.0.1:8080", "tagstream's HTTP API")
	tail := fs.Int("tail", 800, "pages sampled from the tail (every hashtag but the hot set)")
	root := fs.String("root", "", "nginx root: each body goes to root + its URL path")
	pathsFile := fs.String("paths", "", "file of the URL paths wrk walks, one a line")
	mixFile := fs.String("mix", "", "file of the page mix (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root == "" || *pathsFile == "" || *mixFile == "" {
		return fmt.Errorf("pages: -root, -paths and -mix are required")
	}
	_, counts := loadPosts(d)
	hot, tailKeys := choosePages(counts, d.Hot, *tail, d.Seed)
	var m Mix
	stats := func(keys []string) ([]pageStat, error) {
		out := make([]pageStat, 0, len(keys))
		for _, k := range keys {
			body, h, err := fetch(ctx, *api, pagePath(k))
			if err != nil {
				return nil, err
			}
			var p pageJSON
			if err := json.Unmarshal(body, &p); err != nil {
				return nil, fmt.Errorf("page %s: %w", k, err)
			}
			file := filepath.Join(*root, filepath.FromSlash(pagePath(k)))
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(file, body, 0o644); err != nil {
				return nil, err
			}
			s := pageStat{bytes: len(body), top: len(p.TopPosts), recent: len(p.RecentPosts), count: p.PostCount,
				images: imageURLs(p.TopPosts) + imageURLs(p.RecentPosts)}
			out = append(out, s)
			if m.TagstreamHeaders == nil {
				m.TagstreamHeaders, m.HeadersPath = headerMap(h), pagePath(k)
			}
			if m.ImageURLExample == "" && len(p.TopPosts) > 0 {
				m.ImageURLExample = p.TopPosts[0].ImageURL
			}
		}
		return out, nil
	}
	hs, err := stats(hot)
	if err != nil {
		return err
	}
	ts, err := stats(tailKeys)
	if err != nil {
		return err
	}
	mix := mixOf(hs, ts)
	mix.TagstreamHeaders, mix.HeadersPath, mix.ImageURLExample = m.TagstreamHeaders, m.HeadersPath, m.ImageURLExample
	if err := writeLines(*pathsFile, urlOrder(append(slices.Clone(hot), tailKeys...), d.Seed)); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pages: %d hot (%d with 100 top posts with images, mean %.0f bytes), %d tail (%d without any image, mean %.0f bytes): mean body %.0f bytes\n",
		mix.Hot.Pages, mix.Hot.Top100WithImages, mix.Hot.BodyBytesMean, mix.Tail.Pages, mix.Tail.NoImage, mix.Tail.BodyBytesMean, mix.BodyBytesMean)
	return writeJSON(*mixFile, mix)
}

// headerMap flattens h without the headers that change per response.
func headerMap(h map[string][]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if k == "Date" {
			continue
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}

func runVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "base URL to fetch the pages from")
	root := fs.String("root", "", "the nginx root the bodies were written to")
	pathsFile := fs.String("paths", "", "file of the URL paths")
	if err := fs.Parse(args); err != nil {
		return err
	}
	paths, err := readLines(*pathsFile)
	if err != nil {
		return err
	}
	changed := 0
	for _, p := range paths {
		body, _, err := fetch(ctx, *api, p)
		if err != nil {
			return err
		}
		kept, err := os.ReadFile(filepath.Join(*root, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		if !bytes.Equal(body, kept) {
			changed++
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]int{"pages": len(paths), "changed": changed})
}

func writeLines(file string, lines []string) error {
	return os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func readLines(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}
