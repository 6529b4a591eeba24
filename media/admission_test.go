package media

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fillBudget takes all of o's budget until the test ends or the returned
// function gives it back.
func fillBudget(t *testing.T, o *Origin) (giveBack func()) {
	t.Helper()
	if err := o.budget.acquire(context.Background(), o.budget.size, time.Second); err != nil {
		t.Fatal(err)
	}
	done := false
	giveBack = func() {
		if !done {
			done = true
			o.budget.release(o.budget.size)
		}
	}
	t.Cleanup(giveBack)
	return giveBack
}

// While decodes hold the whole budget, a request waits DecodeWait, then
// answers 503 with Retry-After, without decoding.
func TestOriginAnswers503WhenBudgetStaysFull(t *testing.T) {
	o, url := originWith(t, testImage(t, 800, 600, false), OriginConfig{DecodeWait: 50 * time.Millisecond})
	fillBudget(t, o)
	rec := get(o, url(360))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %v %s, want 503 with Retry-After", rec.Code, rec.Header(), rec.Body)
	}
	if d := o.Stats().Decodes; d != 0 {
		t.Errorf("%d decodes", d)
	}
}

// A request that fits waits for the budget and is served once it frees.
func TestOriginWaitsForBudget(t *testing.T) {
	o, url := originWith(t, testImage(t, 800, 600, false), OriginConfig{DecodeWait: time.Minute})
	giveBack := fillBudget(t, o)
	waiting := make(chan struct{}, 1)
	o.budget.onWait = func() { waiting <- struct{}{} }
	done := make(chan int)
	go func() { done <- get(o, url(360)).Code }()
	<-waiting
	select {
	case code := <-done:
		t.Fatalf("served (%d) while the budget was full", code)
	default:
	}
	giveBack()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("after the budget freed: %d, want 200", code)
	}
}

// A request whose client goes away stops waiting for budget.
func TestOriginStopsWaitingWhenTheRequestEnds(t *testing.T) {
	o, url := originWith(t, testImage(t, 800, 600, false), OriginConfig{DecodeWait: time.Hour})
	fillBudget(t, o)
	waiting := make(chan struct{}, 1)
	o.budget.onWait = func() { waiting <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		o.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url(360), nil).WithContext(ctx))
		done <- rec.Code
	}()
	<-waiting
	cancel()
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Fatalf("%d, want 503", code)
	}
}

// The budget hands bytes to waiters in order, and bytes released come back
// only once the garbage collector has run past them: forced when a waiter
// needs them, else at the next collections.
func TestBudgetIsFIFOAndWaitsForCollection(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	if err := b.acquire(ctx, 60, time.Second); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{}, 2)
	b.onWait = func() { waiting <- struct{}{} }
	granted := make(chan int64, 2)
	for _, n := range []int64{50, 10} {
		go func() {
			if err := b.acquire(ctx, n, time.Minute); err != nil {
				t.Error(err)
			}
			granted <- n
		}()
		<-waiting // 50 queues first; then 10, which fits but must not pass it
	}
	select {
	case n := <-granted:
		t.Fatalf("%d granted past a waiter ahead of it", n)
	default:
	}
	b.release(60) // the waiters need it: a collection is forced
	<-granted
	<-granted
	b.onWait = nil
	b.release(50)
	b.release(10)
	b.mu.Lock()
	free := b.free
	b.mu.Unlock()
	if free != 40 {
		t.Fatalf("%d bytes free right after a release: want 40, the 60 released still garbage", free)
	}
	runtime.GC()
	runtime.GC()
	if err := b.acquire(ctx, 100, 0); err != nil {
		t.Fatalf("all 100 bytes after two collections: %v", err)
	}
}

// A signed URL is served under one spelling only: anything added to the
// query, or the path spelled otherwise, is refused, so that it is one
// CDN cache key and one decode.
func TestOriginRefusesURLVariants(t *testing.T) {
	o, url := originWith(t, testImage(t, 400, 300, false), OriginConfig{})
	u := url(360)
	path, query, _ := strings.Cut(u, "?")
	q := strings.Split(query, "&") // w, exp, kid, sig
	for name, c := range map[string]struct {
		url  string
		code int
	}{
		"unknown parameter after":   {u + "&x=1", http.StatusForbidden},
		"unknown parameter before":  {path + "?x=1&" + query, http.StatusForbidden},
		"repeated w":                {u + "&" + q[0], http.StatusForbidden},
		"repeated sig":              {u + "&" + q[3], http.StatusForbidden},
		"reordered":                 {path + "?" + strings.Join([]string{q[1], q[0], q[2], q[3]}, "&"), http.StatusForbidden},
		"escaped value":             {strings.Replace(u, "w=360", "w=%3360", 1), http.StatusForbidden},
		"empty parameter":           {u + "&", http.StatusForbidden},
		"semicolon":                 {strings.Replace(u, "&kid=", ";kid=", 1), http.StatusForbidden},
		"encoded slash":             {strings.Replace(u, "/alice/", "/alice%2F", 1), http.StatusBadRequest},
		"escaped letter":            {strings.Replace(u, "/alice/", "/%61lice/", 1), http.StatusBadRequest},
		"double slash before user":  {strings.Replace(u, "/img/", "/img//", 1), http.StatusBadRequest},
		"double slash before image": {strings.Replace(u, "/alice/", "/alice//", 1), http.StatusBadRequest},
		"trailing slash":            {strings.Replace(u, "/IMG1?", "/IMG1/?", 1), http.StatusBadRequest},
		"dot segment":               {strings.Replace(u, "/alice/", "/alice/./", 1), http.StatusBadRequest},
		"dot-dot segment":           {strings.Replace(u, "/alice/", "/bob/../alice/", 1), http.StatusBadRequest},
		// Not an image path at all: 404, as before.
		"trailing segment": {strings.Replace(u, "/IMG1?", "/IMG1/x?", 1), http.StatusNotFound},
	} {
		if rec := get(o, c.url); rec.Code != c.code {
			t.Errorf("%s (%s): %d %s, want %d", name, c.url, rec.Code, rec.Body, c.code)
		}
	}
	if d := o.Stats().Decodes; d != 0 {
		t.Errorf("%d decodes for refused URLs", d)
	}
	if rec := get(o, u); rec.Code != http.StatusOK {
		t.Fatalf("the canonical URL: %d %s", rec.Code, rec.Body)
	}
}

// MaxDecodes, when set, also caps the decodes at once.
func TestOriginMaxDecodes(t *testing.T) {
	o, url := originWith(t, testImage(t, 400, 300, false), OriginConfig{MaxDecodes: 1, DecodeWait: 50 * time.Millisecond})
	o.slots <- struct{}{} // a decode under way
	if rec := get(o, url(360)); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("with the only slot taken: %d %s, want 503", rec.Code, rec.Body)
	}
	<-o.slots
	if rec := get(o, url(360)); rec.Code != http.StatusOK {
		t.Fatalf("with the slot free: %d %s", rec.Code, rec.Body)
	}
}
