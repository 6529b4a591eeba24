// Command imgbench measures the resizing origin against vipsthumbnail
// (scripts/img-bench.sh runs both): it makes the test photo
// deterministically and drives media.Origin as a CDN would, minus the TCP.
//
//	imgbench gen -o photo.jpg [-width 4000 -height 3000 -seed 1]
//	imgbench resize -n 20 [-w 360 -c 2] photo.jpg
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/tagstream/tagstream/media"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: imgbench gen|resize"))
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "resize":
		err = resize(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	fail(err)
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "imgbench:", err)
		os.Exit(1)
	}
}

// gen writes a photo-like JPEG (quality 90, 4:2:0): smooth gradients,
// waves and seeded noise, so the file is the same on every run and
// decodes with a photo's entropy.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fs.String("o", "photo.jpg", "output file")
	w, h := fs.Int("width", 4000, "width"), fs.Int("height", 3000, "height")
	seed := fs.Uint64("seed", 1, "noise seed")
	fs.Parse(args)
	rng := rand.New(rand.NewPCG(*seed, *seed))
	img := image.NewRGBA(image.Rect(0, 0, *w, *h))
	for y := range *h {
		for x := range *w {
			fx, fy := float64(x)/float64(*w), float64(y)/float64(*h)
			wave := 40 * math.Sin(fx*31+fy*17) * math.Cos(fy*23)
			n := rng.Float64() * 24
			img.SetRGBA(x, y, color.RGBA{clamp(200*fx + wave + n), clamp(180*fy - wave + n), clamp(120 + wave + n), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}

func clamp(v float64) uint8 { return uint8(max(0, min(255, v))) }

// resize serves n requests for the photo at width w through a media.Origin
// over a media.Local store, c at a time, with the variant cache off so
// every request decodes and resizes; each worker asks for its own key, so
// none is coalesced with another.
func resize(args []string) error {
	fs := flag.NewFlagSet("resize", flag.ExitOnError)
	n := fs.Int("n", 20, "requests")
	width := fs.Int("w", 360, "width")
	c := fs.Int("c", runtime.GOMAXPROCS(0), "requests at once")
	fs.Parse(args)
	src, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "imgbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := media.NewLocal(media.LocalConfig{Dir: dir, PublicURL: "http://127.0.0.1"})
	if err != nil {
		return err
	}
	keys, err := media.LoadOrCreateKeyring(dir)
	if err != nil {
		return err
	}
	origin := media.NewOrigin(store, keys, media.OriginConfig{CacheBytes: -1, Widths: []int{*width}})
	urls := make([]string, *c)
	for i := range urls {
		id := "img" + strconv.Itoa(i)
		if _, err := store.Put("bench/"+id, bytes.NewReader(src), int64(len(src))); err != nil {
			return err
		}
		urls[i] = keys.Build("", "bench", id, *width, time.Now().Add(time.Hour))
	}
	start := time.Now()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	for i := range *c {
		wg.Go(func() {
			for range jobs {
				rec := httptest.NewRecorder()
				origin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, urls[i], nil))
				if rec.Code != http.StatusOK {
					once.Do(func() { failed = fmt.Errorf("GET %s: %d %s", urls[i], rec.Code, rec.Body) })
				}
			}
		})
	}
	for range *n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		return failed
	}
	el := time.Since(start)
	fmt.Printf("%d images in %.2fs: %.2f images/s (%d at once, %d decodes)\n",
		*n, el.Seconds(), float64(*n)/el.Seconds(), *c, origin.Stats().Decodes)
	return nil
}
