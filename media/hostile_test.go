package media

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// Images over the decode budget are refused from their headers: 422, no
// decode, and next to no memory.
func TestOriginRefusesOversizeWithoutDecoding(t *testing.T) {
	ycc := []byte{0x11, 0x11, 0x11}
	for name, c := range map[string]struct {
		img  []byte
		want string
	}{
		// The security review's 293 KB file, 740 MB to decode.
		"progressive 4:4:4 JPEG 7071x7071": {jpegDC(jpegSpec{w: 7071, h: 7071, progressive: true, sampling: ycc, adobe: -1, jfif: true}), "over the decode budget"},
		"lying progressive JPEG 7071x7071": {jpegDC(jpegSpec{w: 7071, h: 7071, progressive: true, sampling: ycc, adobe: -1, truncate: 16}), "over the decode budget"},
		"16-bit PNG 7000x7000, 1 KB body":  {rawPNG(7000, 7000, 6, 16, false, 1000), "over the decode budget"},
		"16-bit gray PNG with tRNS":        {withTRNS(rawPNG(7000, 7000, 0, 16, false, 1000), []byte{0, 1}), "over the decode budget"},
		"lossless WebP 16384x3000":         {losslessWebP(16384, 3000, color.NRGBA{A: 255}), "over the decode budget"},
		"GIF screen 65535x65535":           {manyFrameGIF(t, 1, 1, 1, false), "over 50000000 pixels"},
	} {
		if strings.HasPrefix(name, "GIF") {
			c.img[6], c.img[7], c.img[8], c.img[9] = 0xff, 0xff, 0xff, 0xff
		}
		t.Run(name, func(t *testing.T) {
			o, url := originWith(t, c.img, OriginConfig{})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rec := get(o, url(360))
			runtime.ReadMemStats(&after)
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), c.want) {
				t.Fatalf("%d %s, want 422 %q", rec.Code, rec.Body, c.want)
			}
			if d := o.Stats().Decodes; d != 0 {
				t.Errorf("%d decodes", d)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
				t.Errorf("refusing it allocated %d bytes: it was decoded", n)
			}
			t.Logf("%d bytes: %s", len(c.img), rec.Body)
		})
	}
}

// peakReport is what the child process of TestHostileImagesPeakMemory
// reports.
type peakReport struct {
	BaseKB, PeakKB int64          // VmRSS before the requests, VmHWM after
	Codes          map[string]int // status by image
	Estimates      int64          // sum of the images' estimates
}

// hostileSet is stored for TestHostileImagesPeakMemory: each is admissible
// alone, all at once are far over the budget, and several lie about their
// bodies (the decoder allocates, then fails).
func hostileSet(t *testing.T) map[string][]byte {
	ycc := []byte{0x11, 0x11, 0x11}
	gray16 := image.NewGray16(image.Rect(0, 0, 2500, 2500))
	return map[string][]byte{
		"jpeg-progressive-444":       jpegDC(jpegSpec{w: 2600, h: 2600, progressive: true, sampling: ycc, adobe: -1, jfif: true}),
		"jpeg-progressive-444-lying": jpegDC(jpegSpec{w: 2600, h: 2600, progressive: true, sampling: ycc, adobe: -1, jfif: true, truncate: 64}),
		"jpeg-progressive-420-lying": jpegDC(jpegSpec{w: 3000, h: 3000, progressive: true, sampling: []byte{0x22, 0x11, 0x11}, adobe: -1, truncate: 64}),
		"png-rgba64":                 encodePNG(t, flatRGBA64(2000, 2000)),
		"png-gray16-trns":            withTRNS(encodePNG(t, gray16), []byte{0, 1}),
		"png-interlaced-rgba64":      rawPNG(1500, 1500, 6, 16, true, -1),
		"gif-many-frames":            manyFrameGIF(t, 3000, 3000, 40, true),
		"webp-lossless":              losslessWebP(600, 400, color.NRGBA{1, 2, 3, 255}),
	}
}

// Eight hostile images requested at once, each alone within the budget:
// the process's peak memory must stay under the budget plus its baseline,
// while the same requests without a budget go far over it.
//
// The origin runs in a child process (this test binary, re-executed) whose
// peak resident set the kernel records as VmHWM in /proc/self/status.
// That counts every byte the process touched, garbage the collector has
// not reclaimed and runtime overhead included, and cannot miss a short
// peak as sampling the heap could; a fresh process starts with a small
// high-water mark of its own, unpolluted by the images this test
// generates or by other tests. GOGC=100 and no GOMEMLIMIT: the budget
// alone must hold.
func TestHostileImagesPeakMemory(t *testing.T) {
	if dir := os.Getenv("MEDIA_PEAK_CHILD"); dir != "" {
		peakChild(t, dir)
		return
	}
	if runtime.GOOS != "linux" {
		testenv.Skip(t, "reads /proc/self/status, which only Linux has")
	}
	start := time.Now()
	dir := t.TempDir()
	l, err := NewLocal(LocalConfig{Dir: dir, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, img := range hostileSet(t) {
		if _, err := l.Put("alice/"+name, bytes.NewReader(img), 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("images made in %s", time.Since(start).Round(time.Millisecond))
	run := func(budget int64) peakReport {
		t.Helper()
		defer func(start time.Time) { t.Logf("child ran in %s", time.Since(start).Round(time.Millisecond)) }(time.Now())
		cmd := exec.Command(os.Args[0], "-test.run=^TestHostileImagesPeakMemory$", "-test.v")
		cmd.Env = append(os.Environ(), "MEDIA_PEAK_CHILD="+dir, "MEDIA_PEAK_BUDGET="+strconv.FormatInt(budget, 10),
			"GOGC=100", "GOMEMLIMIT=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var rep peakReport
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if js, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "PEAK "); ok {
				if err := json.Unmarshal([]byte(js), &rep); err != nil {
					t.Fatal(err)
				}
				return rep
			}
		}
		t.Fatalf("child reported nothing:\n%s", out)
		return rep
	}
	const budget = DefaultDecodeBudget
	// Runtime overhead over the heap: GC metadata, stacks, pages the
	// allocator has not handed back while reusing them.
	const slack = 32 << 20
	bounded := run(budget)
	grew := (bounded.PeakKB - bounded.BaseKB) << 10
	t.Logf("budget %d MiB: baseline %d MiB, peak %d MiB (+%d MiB) for estimates of %d MiB in all; %v",
		budget>>20, bounded.BaseKB>>10, bounded.PeakKB>>10, grew>>20, bounded.Estimates>>20, bounded.Codes)
	for name, code := range bounded.Codes {
		want := http.StatusOK
		if strings.HasSuffix(name, "-lying") {
			want = http.StatusUnprocessableEntity
		}
		if code != want {
			t.Errorf("%s: %d, want %d", name, code, want)
		}
	}
	if grew > budget+slack {
		t.Errorf("peak memory grew by %d MiB over a baseline of %d MiB: over the budget of %d MiB + %d MiB",
			grew>>20, bounded.BaseKB>>10, budget>>20, slack>>20)
	}
	if bounded.Estimates < 2*budget {
		t.Errorf("the images' estimates add up to %d MiB: too little to test a budget of %d MiB", bounded.Estimates>>20, budget>>20)
	}

	unbounded := run(1 << 40)
	ugrew := (unbounded.PeakKB - unbounded.BaseKB) << 10
	t.Logf("no budget: baseline %d MiB, peak %d MiB (+%d MiB)", unbounded.BaseKB>>10, unbounded.PeakKB>>10, ugrew>>20)
	if ugrew <= budget+slack {
		t.Errorf("without a budget the same requests grew memory by %d MiB only: the test shows nothing", ugrew>>20)
	}
}

// peakChild serves every image in dir at once through an origin with the
// budget MEDIA_PEAK_BUDGET and prints a peakReport.
func peakChild(t *testing.T, dir string) {
	budget, err := strconv.ParseInt(os.Getenv("MEDIA_PEAK_BUDGET"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(LocalConfig{Dir: dir, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir + "/objects/alice")
	if err != nil {
		t.Fatal(err)
	}
	kr := testKeyring(t, "k1:"+secretA)
	o := NewOrigin(l, kr, OriginConfig{DecodeBudget: budget, DecodeWait: time.Minute, CacheBytes: -1})
	exp := DefaultExpiry.At(time.Now())
	rep := peakReport{Codes: map[string]int{}}
	for _, e := range entries {
		src, err := os.ReadFile(dir + "/objects/alice/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		hd, err := readHeader(bytes.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		rep.Estimates += hd.estimate(int64(len(src)), 360)
	}
	runtime.GC()
	rep.BaseKB = procStatus(t, "VmRSS")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() {
			rec := get(o, kr.Build("", "alice", e.Name(), 360, exp))
			mu.Lock()
			rep.Codes[e.Name()] = rec.Code
			mu.Unlock()
		})
	}
	wg.Wait()
	rep.PeakKB = procStatus(t, "VmHWM")
	js, _ := json.Marshal(rep)
	fmt.Printf("PEAK %s\n", js)
}

// procStatus reads a kB field of /proc/self/status.
func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
