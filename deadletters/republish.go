package deadletters

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// RepublishOptions configures Republish.
type RepublishOptions struct {
	Cluster   kafka.Cluster
	Namespace topology.Namespace
	// Selection names the dead letters to re-publish; it must name some
	// (Positions, Reasons or SourceTopics).
	Selection Selection
	// DryRun says what would be re-published, and publishes nothing.
	DryRun bool
	// Out receives one line per selected dead letter and a summary.
	Out io.Writer
}

// batchSize bounds the records held before they are produced: a dead
// letter holds up to 4 KiB of value.
const batchSize = 500

// Republish re-publishes the original key and value of each selected
// dead letter to its source topic, posts or likes, once an operator has
// fixed what made a processor reject it. It says on Out what it
// re-published (with the new record's place), and what it refused and
// why. It returns an error if it refused any, found no dead letter at a
// position named, or had a record not acknowledged: the operator asked
// for each.
//
// It reads the topic up to its end when it starts, so a record it
// re-publishes that is rejected again becomes a new dead letter, not one
// it re-publishes again. Run twice, it publishes twice: the extractor
// ignores a repeated "created" or like (processors/extractor.go), but an
// edit applies again and every copy stays in the log.
func Republish(ctx context.Context, o RepublishOptions) error {
	s := o.Selection
	if len(s.Positions) == 0 && len(s.Reasons) == 0 && len(s.SourceTopics) == 0 {
		return errSelectsAll
	}
	var prod *kgo.Client
	if !o.DryRun {
		var err error
		if prod, err = o.Cluster.Client("dead-letters-republish"); err != nil {
			return err
		}
		defer prod.Close()
	}
	var (
		batch                          []*kgo.Record
		from                           []Position
		done, refused, missing, failed int
		seen                           = map[Position]bool{}
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		for i, res := range prod.ProduceSync(pctx, batch...) {
			if res.Err != nil {
				failed++
				fmt.Fprintf(o.Out, "failed %s: %s not acknowledged: %v\n", from[i], res.Record.Topic, res.Err)
				continue
			}
			done++
			r := res.Record
			fmt.Fprintf(o.Out, "republished %s -> %s/%d@%d key=%s value=%s (%d B)\n",
				from[i], word(r.Topic), r.Partition, r.Offset, quote(r.Key, keyWidth), quote(r.Value, valueWidth), len(r.Value))
		}
		batch, from = batch[:0], from[:0]
		return ctx.Err()
	}
	err := read(ctx, o.Cluster, o.Namespace, s, false, func(e Entry) error {
		pos := Position{e.Partition, e.Offset}
		seen[pos] = true
		r, why := original(o.Namespace, e)
		switch {
		case why != "":
			refused++
			_, err := fmt.Fprintf(o.Out, "refused %s: %s\n", pos, why)
			return err
		case o.DryRun:
			done++
			_, err := fmt.Fprintf(o.Out, "would republish %s -> %s key=%s value=%s (%d B)\n",
				pos, word(r.Topic), quote(r.Key, keyWidth), quote(r.Value, valueWidth), len(r.Value))
			return err
		}
		batch, from = append(batch, r), append(from, pos)
		if len(batch) >= batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	for _, p := range s.Positions {
		if !seen[p] {
			missing++
			fmt.Fprintf(o.Out, "not found %s: no dead letter there (outside the topic's offsets, a transaction marker, or left out by --reason or --source-topic)\n", p)
		}
	}
	verb := "republished"
	if o.DryRun {
		verb = "would republish"
	}
	fmt.Fprintf(o.Out, "%s %d, refused %d, not found %d, not acknowledged %d\n", verb, done, refused, missing, failed)
	if err != nil {
		return fmt.Errorf("deadletters: republish stopped: %w", err)
	}
	if refused+missing+failed > 0 {
		return fmt.Errorf("deadletters: %d dead letter(s) not republished, reported above", refused+missing+failed)
	}
	return nil
}

// original returns the record e was made from, to re-publish, or why it
// must not be.
func original(ns topology.Namespace, e Entry) (*kgo.Record, string) {
	d := e.Letter
	if d == nil {
		return nil, "malformed, no record to republish: " + quote([]byte(e.Malformed), errorWidth)
	}
	if d.Topic != ns.Posts() && d.Topic != ns.Likes() {
		// The other topics are tagstream's own: the extractor writes
		// post-hashtags and post-changes in transactions with the source
		// offsets the counts check, and a ranking re-sends its documents.
		return nil, fmt.Sprintf("source topic %s is not %s or %s: only the input logs take records from outside the processors", word(d.Topic), ns.Posts(), ns.Likes())
	}
	if d.Truncated {
		return nil, fmt.Sprintf("value truncated: the dead letter kept its first %d of %d bytes, and republishing them would publish another, broken record", len(d.Value), d.Size)
	}
	// Truncated is omitted when false, so a dead letter that lost it (or
	// was not written by NewDeadLetter) would look whole: the recorded
	// size and digest of the rejected value prove the copy is all of it.
	if !whole(d) {
		return nil, fmt.Sprintf("value copy (%d B) does not match the rejected value's recorded size (%d B) and sha256: it is not the record that was rejected", len(d.Value), d.Size)
	}
	// The record's own key is the rejected key as bytes, cut to
	// MaxDeadLetterText: shorter, it is whole. The JSON key must agree,
	// or the dead letter does not describe its record.
	if len(e.Key) >= events.MaxDeadLetterText {
		return nil, fmt.Sprintf("key of %d bytes or more may have been cut", events.MaxDeadLetterText)
	}
	if d.Key != asJSON(e.Key) {
		return nil, fmt.Sprintf("the record's key %s is not the dead letter's key %s: the original key is not known", quote(e.Key, keyWidth), quote([]byte(d.Key), keyWidth))
	}
	return &kgo.Record{Topic: d.Topic, Key: e.Key, Value: d.Value}, ""
}

// asJSON is key as it reads back from a JSON string: encoding/json
// writes each byte that is not UTF-8 as U+FFFD.
func asJSON(key []byte) string {
	var b strings.Builder
	for i := 0; i < len(key); {
		r, n := utf8.DecodeRune(key[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.Write(key[i : i+n])
		}
		i += n
	}
	return b.String()
}
