package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tagstream/tagstream/demo"
	"github.com/tagstream/tagstream/pipeline"
	"github.com/tagstream/tagstream/pipeline/runtest"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/token"
)

var secret = []byte("browser-test-secret-0123456789abcdef")

// chromium is the browser binary: TAGSTREAM_CHROMIUM, or chromium on the
// PATH (make test installs it through services/chromium.sh).
func chromium(t *testing.T) string {
	if p := os.Getenv("TAGSTREAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Skip(t, "no Chromium: run services/chromium.sh ensure, or set TAGSTREAM_CHROMIUM")
	return ""
}

// server is `tagstream run --demo` in this process, its API's base URL
// once the demo is seeded.
func server(t *testing.T) string {
	dir := t.TempDir()
	base := startRun(t, pipeline.EmbeddedOptions{Data: dir, Demo: true, Rank: &processors.RankOptions{Interval: time.Second}})
	// Seeding is over when the data dir records it.
	testenv.Await(t, 3*time.Minute, "the demo seeded", func() bool {
		_, err := os.Stat(filepath.Join(dir, pipeline.DemoMarker))
		return err == nil
	})
	return base
}

// startRun runs `tagstream run` with o in this process until the test
// ends (runtest.Start), and returns the API's base URL.
func startRun(t *testing.T, o pipeline.EmbeddedOptions) string {
	base, _ := runtest.Start(t, o, secret)
	return base
}

type pageJSON struct {
	PostCount   int64 `json:"post_count"`
	ImageWidths []int `json:"image_widths"`
	Recent      []struct {
		PostID string `json:"post_id"`
	} `json:"recent_posts"`
}

func getPage(t *testing.T, base, tag string) pageJSON {
	t.Helper()
	return getJSON[pageJSON](t, base+"/v1/hashtags/"+tag)
}

// getJSON decodes the JSON at u into a T, or leaves T zero when the
// answer is not 200 (a hashtag not counted yet).
func getJSON[T any](t *testing.T, u string) T {
	t.Helper()
	var v T
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// The demo's Sunset posts, as planned.
func sunsetPosts() int64 {
	var n int64
	for _, p := range demo.Plan(300, 1).Posts {
		if strings.Contains(p.Caption+" ", "#Sunset ") {
			n++
		}
	}
	return n
}

// A reader opens the home page and a hashtag's page on a phone and sees
// what the API holds: the count, every image loaded at a width of the
// srcset, captions as text, an unknown hashtag and a failing API each in a
// state of its own, and a new post after a reload.
func TestPageInABrowser(t *testing.T) {
	exe := chromium(t)
	base := server(t)
	want := sunsetPosts()
	testenv.Await(t, time.Minute, "the demo's #Sunset posts counted", func() bool { return getPage(t, base, "sunset").PostCount == want })
	// The ranking refreshes the trending list every second: wait for it to
	// hold the seeded counts, so the home page's order is the final one.
	testenv.Await(t, time.Minute, "#Sunset first in /v1/trending", func() bool {
		tr := getJSON[struct {
			Hashtags []struct {
				Key   string `json:"key"`
				Posts int64  `json:"posts"`
			} `json:"hashtags"`
		}](t, base+"/v1/trending")
		return len(tr.Hashtags) > 0 && tr.Hashtags[0].Key == "sunset" && tr.Hashtags[0].Posts == want
	})
	widths := getPage(t, base, "sunset").ImageWidths
	if len(widths) < 2 {
		t.Fatalf("image_widths %v: no srcset to choose from", widths)
	}

	ctx := browser(t, exe)
	// A phone: 412 CSS px wide at 2.625 device pixels each (a Pixel 7),
	// so the srcset has a width to choose that is neither src's nor the
	// largest.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(412, 915, chromedp.EmulateScale(2.625))); err != nil {
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string, out any) {
		t.Helper()
		evalInto(t, ctx, what, js, out)
	}
	shot := func(name string) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		defer scancel()
		// What is in view, at half the phone's device pixels: small
		// enough to commit, sharp enough to read at the README's width.
		var y float64
		eval("scroll position", `window.scrollY`, &y)
		res, err := chromedp.Call(sctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Clip: &page.Viewport{X: 0, Y: y, Width: 412, Height: 915, Scale: 0.5}})
		png := res.Data
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := os.Getenv("TAGSTREAM_SCREENSHOTS")
		if dir == "" {
			dir = t.TempDir()
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Home: the search box and the most active hashtags, Sunset first.
	run("open /", chromedp.Navigate(base+"/"), chromedp.Poll[chromedp.Void](`document.querySelectorAll("#trending li").length > 0`))
	var first string
	eval("first trending", `document.querySelector("#trending li a").textContent`, &first)
	if !strings.HasPrefix(first, "#Sunset") {
		t.Errorf("first trending hashtag %q, want #Sunset", first)
	}
	shot("home.png")

	// The search box leads to the page of the hashtag as typed.
	run("search", chromedp.SendKeys(chromedp.CSS("#q"), "#sunset\r"))
	// The page navigates away under the script: poll from Go, where an
	// evaluation lost to the navigation is only one more try.
	testenv.Await(t, 30*time.Second, "the search to open /tags/sunset", func() bool {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		ok, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`location.pathname === "/tags/sunset" && document.querySelector("#count") !== null`))
		return err == nil && ok
	})

	// The hashtag's page: its display form and the count the API holds.
	var head struct {
		Title string `json:"title"`
		Count string `json:"count"`
		Tiles int    `json:"tiles"`
	}
	eval("page head", `({title: document.querySelector("#hashtag").textContent,
		count: document.querySelector("#count").dataset.count, tiles: document.querySelectorAll("#recent .tile").length})`, &head)
	if head.Title != "#Sunset" || head.Count != fmt.Sprint(want) || head.Tiles != int(min(want, 100)) {
		t.Errorf("page shows %+v, want #Sunset, count %d, %d recent tiles", head, want, min(want, 100))
	}

	// What loading the page cost before any scroll: the document, its
	// JSON, and the images in view; nothing else.
	var weight struct {
		Doc, JSON, Images, Other, Bytes, DocBytes, JSONBytes, ImageBytes, ImageBytesAtSrc int
	}
	run("page loaded", chromedp.Poll[chromedp.Void](`[...document.images].filter(i => i.getBoundingClientRect().top < innerHeight).every(i => i.complete)`))
	eval("page weight", `(() => {
		const nav = performance.getEntriesByType("navigation")[0], res = performance.getEntriesByType("resource");
		const w = {Doc: 1, JSON: 0, Images: 0, Other: 0, Bytes: nav.transferSize, DocBytes: nav.transferSize, JSONBytes: 0, ImageBytes: 0, ImageBytesAtSrc: 0};
		const atSrc = [];
		for (const r of res) {
			w.Bytes += r.transferSize;
			if (r.initiatorType === "img") {
				w.Images++; w.ImageBytes += r.transferSize;
				// The same image at src's width, for comparison.
				atSrc.push(fetch(r.name.replace(/\?w=\d+/, "?w=640"), {cache: "no-store"}).then(x => x.arrayBuffer()).then(b => b.byteLength));
			}
			else if (r.name.includes("/v1/")) { w.JSON++; w.JSONBytes += r.transferSize; }
			else w.Other++;
		}
		return Promise.all(atSrc).then(sizes => { w.ImageBytesAtSrc = sizes.reduce((a, b) => a + b, 0); return w; });
	})()`, &weight)
	t.Logf("page weight on a phone (412x915 at 2.625): %d requests (document %d B, %d JSON %d B, %d images %d B; %d B at src's 640 px), %d bytes transferred",
		weight.Doc+weight.JSON+weight.Images+weight.Other, weight.DocBytes, weight.JSON, weight.JSONBytes, weight.Images, weight.ImageBytes, weight.ImageBytesAtSrc, weight.Bytes)
	if weight.JSON != 1 || weight.Other != 0 || weight.Images > 30 {
		t.Errorf("page load made %+v requests: want the document, one JSON and the images in view", weight)
	}
	shot("tag.png")

	// Every image, once scrolled into view, loads from the srcset at a
	// width the page lists, and is served at that width (the origin
	// never scales up, and the demo's photos are wider).
	run("scroll", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
	for y := 0; ; y += 800 {
		var more bool
		eval("scroll", fmt.Sprintf(`window.scrollTo(0, %d), %d < document.body.scrollHeight`, y, y), &more)
		run("images in view", chromedp.Poll[chromedp.Void](`[...document.images].filter(i => { const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight }).every(i => i.complete)`))
		if !more {
			break
		}
	}
	var imgs []struct {
		Src     string  `json:"src"`
		Natural int     `json:"natural"`
		Slot    float64 `json:"slot"`
	}
	// naturalWidth of an image from a srcset is in CSS pixels (its width
	// over the density the candidate stands for): the pixels served are
	// read from the same URL loaded without one (from the cache).
	eval("images", `Promise.all([...document.images].map(i => new Promise(done => {
		const probe = new Image(), slot = i.clientWidth * devicePixelRatio;
		probe.onload = probe.onerror = () => done({src: i.currentSrc, natural: probe.naturalWidth, slot: slot});
		probe.src = i.currentSrc;
	})))`, &imgs)
	if len(imgs) < int(min(want, 100)) {
		t.Fatalf("%d images on the page, want at least %d", len(imgs), min(want, 100))
	}
	chosen := map[int]int{}
	for _, im := range imgs {
		var w int
		if i := strings.Index(im.Src, "?w="); i < 0 {
			t.Errorf("image %q has no width", im.Src)
			continue
		} else {
			fmt.Sscanf(im.Src[i+3:], "%d", &w)
		}
		chosen[w]++
		if !slices.Contains(widths, w) || im.Natural != w {
			t.Errorf("image %s: loaded at %d px, want one of %v and served at it", im.Src, im.Natural, widths)
		}
		if float64(w) < im.Slot && w != widths[len(widths)-1] {
			t.Errorf("image %s: %d px for a slot of %.0f device px", im.Src, w, im.Slot)
		}
	}
	t.Logf("widths chosen: %v", chosen)
	if chosen[640] == len(imgs) {
		t.Error("every image at src's 640 px: the srcset was not used")
	}

	// A caption shows on a tap (a phone has no hover).
	run("tap", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`), chromedp.Click(chromedp.CSS("#recent .tile")),
		chromedp.Poll[chromedp.Void](`getComputedStyle(document.querySelector("#recent .tile figcaption")).opacity === "1"`))

	// A hashtag no post has: a state of its own.
	run("unknown", chromedp.Navigate(base+"/tags/nosuchtag123"), chromedp.Poll[chromedp.Void](`document.querySelector("#unknown") !== null`))
	var unknown string
	eval("unknown text", `document.querySelector("#unknown").textContent`, &unknown)
	if !strings.Contains(unknown, "#nosuchtag123") {
		t.Errorf("unknown state says %q", unknown)
	}
	shot("unknown.png")

	// The API failing (the request never answered): a state that says so
	// and a button that loads again once it is back.
	block := func(patterns ...string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			ps := []*network.BlockPattern{}
			for _, p := range patterns {
				ps = append(ps, &network.BlockPattern{URLPattern: p, Block: true})
			}
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return chromedp.Void{}, err
			}
			_, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: ps})
			return chromedp.Void{}, err
		}
	}
	run("failing API", block(base+"/v1/hashtags/*"), chromedp.Navigate(base+"/tags/sunset"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#failed button") !== null`))
	shot("failed.png")
	run("retry", block(), chromedp.Click(chromedp.CSS("#failed button")), chromedp.Poll[chromedp.Void](`document.querySelector("#count") !== null`))

	// A post made through the API appears after a reload, its caption as
	// text even when it holds markup.
	caption := `<img src=x onerror="document.title='pwned'"> <b>hello</b> from the browser test #Sunset`
	post(t, base, "visitor", `{"post_id":"browser-1","caption":`+quote(caption)+`}`)
	// The recent list and the count are two processors' tables: wait for
	// both, or the reload may show the post beside the old count.
	testenv.Await(t, time.Minute, "the API to list and count the new post", func() bool {
		pg := getPage(t, base, "sunset")
		for _, p := range pg.Recent {
			if p.PostID == "browser-1" {
				return pg.PostCount == want+1
			}
		}
		return false
	})
	run("reload", chromedp.Reload(), chromedp.Poll[chromedp.Void](`document.querySelector('[data-post="visitor/browser-1"]') !== null`))
	var shown struct {
		Text, Count, Title string
		Markup             int
	}
	eval("new post shown", `(() => { const f = document.querySelector('[data-post="visitor/browser-1"]');
		return {Text: f.querySelector("figcaption").textContent, Markup: f.querySelectorAll("figcaption *").length,
			Count: document.querySelector("#count").dataset.count, Title: document.title}; })()`, &shown)
	if shown.Text != caption || shown.Markup != 0 || shown.Title == "pwned" {
		t.Errorf("the caption shows as %+v: want its text, no markup, the title untouched", shown)
	}
	if shown.Count != fmt.Sprint(want+1) {
		t.Errorf("count after the new post %s, want %d", shown.Count, want+1)
	}
}

// browser is a context of a new headless Chromium exe, with an empty
// profile and the machine's closed network in mind (no QUIC, no component
// updates), closed when the test ends.
func browser(t *testing.T, exe string) context.Context {
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	return ctx
}

// evalInto evaluates js in the page of ctx, waits for the promise it
// may return, and decodes the result into out.
func evalInto(t *testing.T, ctx context.Context, what, js string, out any) {
	t.Helper()
	sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
	defer scancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err == nil {
		err = json.Unmarshal(v, out)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func post(t *testing.T, base, user, body string) {
	t.Helper()
	tok, err := token.Mint(secret, user, time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/posts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("post: %d %s", resp.StatusCode, b)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
