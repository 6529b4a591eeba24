package deadletters

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/datadriven"
	"github.com/tagstream/tagstream/events"
)

// Data-driven tests in the style of Pebble's (cockroachdb/datadriven), as
// in package hashtag: a file under testdata/ holds cases
//
//	# comment (only before a command)
//	command
//	record line(s)
//	----
//	expected line(s)
//	<blank line>
//
// The record lines describe one record of the dead-letters topic. Either
// it is a dead letter made by events.NewDeadLetter, as the processors make
// them, from these fields (each optional):
//
//	group G | topic T | partition N | offset N | key K | value V | reason R | error E | time RFC3339
//
// then changed by "set truncated|value|key|size X" (a dead letter not
// written by NewDeadLetter); or it is "raw V", the record's value as is.
// Either way "at P:O", "ts RFC3339" and "reckey K" set the record's own
// place, timestamp and key (by default the dead letter's record key). A
// value V or key K is the rest of the line as is, or a Go string literal,
// which "* N" after it repeats N times.
//
// Commands:
//
//	line       Entry.Line of the record
//	json       Entry.JSON
//	republish  what republish would send ("topic key value"), or why not
//
// Run with -rewrite to regenerate the expected output after a deliberate
// change, then review the diff (package datadriven).
// text reads a value: a Go string literal or the text as is, then an
// optional "* N".
func text(s string) (string, error) {
	v := s
	rest := ""
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", err
		}
		if v, err = strconv.Unquote(q); err != nil {
			return "", err
		}
		rest = strings.TrimSpace(s[len(q):])
	}
	if n, ok := strings.CutPrefix(rest, "* "); ok {
		times, err := strconv.Atoi(n)
		if err != nil {
			return "", fmt.Errorf("repeat %q: %w", n, err)
		}
		return strings.Repeat(v, times), nil
	} else if rest != "" {
		return "", fmt.Errorf("%q after the string", rest)
	}
	return v, nil
}

// record builds the record the case describes.
func record(input []string) (*kgo.Record, error) {
	r := &kgo.Record{Topic: "dead-letters", Timestamp: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	f := map[string]string{"group": "extractor", "topic": "posts", "reason": "bad_json", "error": "events: bad_json", "time": "2026-11-27T10:00:00Z"}
	var sets [][2]string
	raw, reckey := false, false
	for _, l := range input {
		name, arg, _ := strings.Cut(l, " ")
		v, err := text(arg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch name {
		case "at":
			if _, err := fmt.Sscanf(v, "%d:%d", &r.Partition, &r.Offset); err != nil {
				return nil, fmt.Errorf("at %q: %w", v, err)
			}
		case "ts":
			if r.Timestamp, err = time.Parse(time.RFC3339, v); err != nil {
				return nil, err
			}
		case "reckey":
			r.Key, reckey = []byte(v), true
		case "raw":
			r.Value, raw = []byte(v), true
		case "set":
			field, val, _ := strings.Cut(arg, " ")
			if val, err = text(val); err != nil {
				return nil, err
			}
			sets = append(sets, [2]string{field, val})
		case "group", "topic", "partition", "offset", "key", "value", "reason", "error", "time":
			f[name] = v
		default:
			return nil, fmt.Errorf("unknown record line %q", l)
		}
	}
	if raw {
		return r, nil
	}
	at, err := time.Parse(time.RFC3339, f["time"])
	if err != nil {
		return nil, err
	}
	p, _ := strconv.Atoi(f["partition"])
	o, _ := strconv.ParseInt(f["offset"], 10, 64)
	d := events.NewDeadLetter(f["group"], f["topic"], int32(p), o, []byte(f["key"]), []byte(f["value"]), f["reason"], errors.New(f["error"]), at)
	for _, s := range sets {
		switch s[0] {
		case "truncated":
			d.Truncated = s[1] == "true"
		case "value":
			d.Value = []byte(s[1])
		case "key":
			d.Key = s[1]
		case "size":
			d.Size, _ = strconv.Atoi(s[1])
		default:
			return nil, fmt.Errorf("cannot set %q", s[0])
		}
	}
	if !reckey {
		r.Key = events.DeadLetterKey([]byte(f["key"]))
	}
	r.Value = mustJSON(d)
	return r, nil
}

func mustJSON(d events.DeadLetter) []byte {
	b, err := events.JSON[events.DeadLetter]{}.Encode(d)
	if err != nil {
		panic(err)
	}
	return b
}

func runCase(t *testing.T, c datadriven.Case) []string {
	r, err := record(c.Input)
	if err != nil {
		t.Fatalf("%s: %v", c.Pos, err)
	}
	e := Decode(r)
	switch c.Cmd {
	case "line":
		return []string{e.Line()}
	case "json":
		return []string{string(e.JSON())}
	case "republish":
		rec, why := original("", e)
		if why != "" {
			return []string{"refused: " + why}
		}
		return []string{fmt.Sprintf("%s %s %s", rec.Topic, strconv.Quote(string(rec.Key)), strconv.Quote(string(rec.Value)))}
	}
	t.Fatalf("%s: unknown command %q", c.Pos, c.Cmd)
	return nil
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, filepath.Join("testdata", "*.txt"), func(t *testing.T, c datadriven.Case) []string {
		got := runCase(t, c)
		for _, l := range got {
			if strings.ContainsFunc(l, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Errorf("%s: output holds a control character: %q", c.Pos, l)
			}
		}
		return got
	})
}
