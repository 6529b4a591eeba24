package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// hashtagLines answers each JSON string line with a JSON array. A line that
// is not a JSON string is reported on errw with its number and answered
// with null, so output line i still belongs to input line i.
func hashtagLines(in io.Reader, out, errw io.Writer, keys bool) error {
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
	}
	if err := sc.Err(); err != nil {
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
