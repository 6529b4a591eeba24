// Package deadletters is the operator's side of the dead-letters topic:
// it reads the dead letters every processor writes (events.DeadLetter),
// prints them one line each or as JSON Lines, follows new ones, and
// re-publishes chosen ones' original records to posts or likes once the
// cause is fixed (`tagstream dead-letters`).
//
// Nothing in the topic is trusted: any principal that may write it can
// write anything there, so a record that is not a dead letter is shown as
// such, with its offset, and every text taken from a record is escaped and
// bounded before it reaches a terminal.
package deadletters

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/topology"
)

// Entry is one record of the dead-letters topic: a dead letter, or a record
// that is not one (Malformed says why).
type Entry struct {
	// Partition and Offset place the record in the dead-letters topic:
	// what `republish --offsets` names.
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// Timestamp is the record's: when it was written.
	Timestamp time.Time `json:"timestamp"`
	// Letter is the decoded dead letter, nil when Malformed.
	Letter *events.DeadLetter `json:"dead_letter,omitempty"`
	// Malformed says why the record is not a dead letter; Raw is then its
	// value's first events.MaxDeadLetterValue bytes and RawSize its length.
	Malformed string `json:"malformed,omitempty"`
	Raw       []byte `json:"raw,omitempty"`
	RawSize   int    `json:"raw_size,omitempty"`
	// Key is the record's own key: the rejected record's key, cut to
	// events.MaxDeadLetterText bytes but, unlike Letter.Key, as bytes
	// (JSON carries no invalid UTF-8) and without an ellipsis.
	Key []byte `json:"-"`
}

// Decode reads one record of the dead-letters topic. It never fails: a
// record that is not a dead letter is an Entry with Malformed set.
func Decode(r *kgo.Record) Entry {
	e := Entry{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Key: r.Key}
	var d events.DeadLetter
	err := json.Unmarshal(r.Value, &d)
	switch {
	case err != nil:
		e.Malformed = "not a dead letter: " + err.Error()
	case d.Topic == "":
		e.Malformed = "not a dead letter: no source topic"
	case d.Reason == "":
		e.Malformed = "not a dead letter: no reason"
	default:
		e.Letter = &d
		return e
	}
	e.Raw, e.RawSize = r.Value[:min(len(r.Value), events.MaxDeadLetterValue)], len(r.Value)
	return e
}

// Time is when the record was rejected, or, for a record that does not
// say, when it was written.
func (e Entry) Time() time.Time {
	if e.Letter != nil && !e.Letter.At.IsZero() {
		return e.Letter.At.UTC()
	}
	return e.Timestamp
}

// Position names a record of the dead-letters topic.
type Position struct {
	Partition int32
	Offset    int64
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Partition, p.Offset) }

// ParsePositions reads "<partition>:<offset>" items, as the listing prints
// them.
func ParsePositions(items []string) ([]Position, error) {
	var out []Position
	for _, it := range items {
		p, o, ok := strings.Cut(strings.TrimSpace(it), ":")
		pn, err1 := strconv.ParseInt(p, 10, 32)
		on, err2 := strconv.ParseInt(o, 10, 64)
		if !ok || err1 != nil || err2 != nil || pn < 0 || on < 0 {
			return nil, fmt.Errorf("deadletters: %q is not <partition>:<offset> (the first column of the listing)", it)
		}
		if pos := (Position{int32(pn), on}); !slices.Contains(out, pos) {
			out = append(out, pos)
		}
	}
	return out, nil
}

// From is where reading starts in the dead-letters topic: the zero From
// is its earliest record.
type From struct {
	// Time, if set, starts each partition at its first record at or after it.
	Time time.Time
	// Last, if set, selects the last Last dead letters of the topic (of
	// those the filters select), oldest first.
	Last int
}

// MaxLast bounds From.Last: the last dead letters are held in memory to
// be put in time order across partitions, up to 12 KiB each. An earlier
// start is a time or earliest, which stream.
const MaxLast = 1000

// ParseFrom reads --from: earliest, an RFC 3339 time, or a number of
// dead letters back.
func ParseFrom(s string) (From, error) {
	if s == "" || s == "earliest" {
		return From{}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > MaxLast {
			return From{}, fmt.Errorf("deadletters: --from %d: the last 1 to %d dead letters (for more, a time or earliest)", n, MaxLast)
		}
		return From{Last: n}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return From{}, fmt.Errorf("deadletters: --from %q is not earliest, an RFC 3339 time or a number of dead letters back", s)
	}
	return From{Time: t}, nil
}

// Selection says which dead letters to read.
type Selection struct {
	From From
	// Reasons, if any, select the dead letters of these reasons.
	Reasons []string
	// SourceTopics, if any, select the dead letters of records of these
	// topics, named with or without the namespace ("posts" or "t1.posts").
	SourceTopics []string
	// Positions, if any, select these records of the dead-letters topic,
	// and only these are read: From is not used.
	Positions []Position
}

// matches reports whether s selects e of namespace ns. A malformed record
// has no reason or topic to filter by, and is exactly what an operator
// must see: it is selected unless Positions leave it out.
func (s Selection) matches(ns topology.Namespace, e Entry) bool {
	if len(s.Positions) > 0 && !slices.Contains(s.Positions, Position{e.Partition, e.Offset}) {
		return false
	}
	if e.Letter == nil {
		return true
	}
	if len(s.Reasons) > 0 && !slices.Contains(s.Reasons, e.Letter.Reason) {
		return false
	}
	if len(s.SourceTopics) > 0 && !slices.ContainsFunc(s.SourceTopics, func(t string) bool {
		return e.Letter.Topic == t || e.Letter.Topic == string(ns)+t
	}) {
		return false
	}
	return true
}

// errSelectsAll refuses a republish that names no dead letter in
// particular: it would re-send every rejected record of four weeks.
var errSelectsAll = errors.New("deadletters: republish selects nothing by default: name dead letters with --offsets, --reason or --source-topic")
