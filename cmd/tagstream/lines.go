package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tagstream/tagstream/emitters"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// maxLine bounds one input line; a caption is far smaller, a top-posts
// document may be up to events.MaxTopPostsBytes.
const maxLine = events.MaxTopPostsBytes + 1024

// badLines is returned when some lines were reported and skipped.
type badLines int

func (n badLines) Error() string { return fmt.Sprintf("%d bad input line(s), reported above", int(n)) }

// untilDone returns a reader of in whose reads end with ctx's error once
// ctx is done. A read blocked on a pipe or a terminal does not look at a
// context, so when ctx ends in is closed (if it can be) to release it;
// stop ends the watcher and waits for it.
func untilDone(ctx context.Context, in io.Reader) (r io.Reader, stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			if c, ok := in.(io.Closer); ok {
				c.Close()
			}
		case <-done:
		}
	})
	return ctxReader{ctx, in}, func() { close(done); wg.Wait() }
}

type ctxReader struct {
	ctx context.Context
	in  io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.in.Read(p)
	if err != nil && r.ctx.Err() != nil {
		return n, r.ctx.Err()
	}
	return n, err
}

// hashtagLines answers each JSON string line with a JSON array. A line that
// is not a JSON string is reported on errw with its number and answered
// with null, so output line i still belongs to input line i. It stops,
// having answered every line read, when ctx ends (SIGTERM).
func hashtagLines(ctx context.Context, in io.Reader, out, errw io.Writer, keys bool) error {
	in, stop := untilDone(ctx, in)
	defer stop()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	w := bufio.NewWriter(out)
	defer w.Flush()
	bad := 0
	for n := 1; sc.Scan(); n++ {
		var caption string
		if err := json.Unmarshal(sc.Bytes(), &caption); err != nil {
			fmt.Fprintf(errw, "line %d: not a JSON string: %v\n", n, err)
			w.WriteString("null\n")
			w.Flush()
			bad++
			continue
		}
		tags := hashtag.Extract(caption)
		if keys {
			tags = hashtag.Keys(caption)
		}
		if tags == nil {
			tags = []string{}
		}
		b, _ := json.Marshal(tags)
		w.Write(append(b, '\n'))
		// Answer each line as it comes: another program may be waiting
		// for it before it writes the next.
		w.Flush()
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("read stdin: %w", err)
	}
	if bad > 0 {
		return badLines(bad)
	}
	return nil
}

// emitTopPosts validates each document as the processor would and publishes
// the valid ones keyed by their normalised hashtag.
func emitTopPosts(ctx context.Context, c kafka.Cluster, ns topology.Namespace, in io.Reader, errw io.Writer) error {
	in, stop := untilDone(ctx, in)
	defer stop()
	if err := c.EnsureTopics(ctx, ns.Gen(0).Topics()); err != nil {
		return err
	}
	em, err := emitters.NewTopPosts(c, ns)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	bad, sent := 0, 0
	var failed atomic.Int64
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var probe struct {
			Hashtag string `json:"hashtag"`
		}
		json.Unmarshal(line, &probe)
		key := hashtag.Normalize(probe.Hashtag)
		doc, err := events.DecodeTopPosts(key, line, hashtag.Normalize)
		if err == nil {
			err = events.CheckComputedAt(doc, time.Now())
		}
		if err != nil {
			fmt.Fprintf(errw, "line %d: %v\n", n, err)
			bad++
			continue
		}
		if !hashtag.IsKey(key) {
			fmt.Fprintf(errw, "line %d: %q is not a hashtag\n", n, probe.Hashtag)
			bad++
			continue
		}
		pr, err := em.Emit(key, append([]byte(nil), line...))
		if err != nil {
			em.Close()
			return err
		}
		pr.Then(func(err error) {
			if err != nil {
				failed.Add(1)
				fmt.Fprintf(errw, "publish %q: %v\n", key, err)
			}
		})
		sent++
	}
	if err := em.Close(); err != nil {
		return fmt.Errorf("flush top posts: %w", err)
	}
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d top-post document(s) were not acknowledged", f, sent)
	}
	fmt.Fprintf(errw, "published %d top-post document(s)\n", sent)
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	if bad > 0 {
		return badLines(bad)
	}
	return nil
}
