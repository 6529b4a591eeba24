package deadletters

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tagstream/tagstream/events"
)

// Widths, in characters of escaped text, of what a line shows of each
// field a record sets: enough to recognise it, short enough that a line
// stays a line however large or hostile the record.
const (
	valueWidth = 80
	errorWidth = 160
	keyWidth   = 40
	wordWidth  = 60
)

// timeLayout is RFC 3339 with milliseconds, in UTC: dead letters of one
// batch differ in milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Line is e in one line of text:
//
//	<partition>:<offset> <time> <reason> <topic>/<partition>@<offset> group=<group> key="…" error="…" value="…" (<size>)
//
// The first column places the record in the dead-letters topic; the
// source is the rejected record's place. The key is the record's own, the
// rejected key as bytes (the dead letter's JSON copy cannot hold bytes
// that are not UTF-8), which republish sends. Every text from the record is
// escaped (Go syntax: \n, \x1b, \u202e, \xff for a byte that is not
// UTF-8) and cut, with … after the closing quote, so a line never holds a
// control character, a line break or an unbounded field.
func (e Entry) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d %s ", e.Partition, e.Offset, e.Time().Format(timeLayout))
	if d := e.Letter; d != nil {
		fmt.Fprintf(&b, "%s %s/%d@%d group=%s key=%s error=%s value=%s (%s)",
			word(d.Reason), word(d.Topic), d.Partition, d.Offset, word(d.Group),
			quote(e.Key, keyWidth), quote([]byte(d.Error), errorWidth), quote(d.Value, valueWidth), size(d))
		return b.String()
	}
	fmt.Fprintf(&b, "MALFORMED error=%s key=%s value=%s (%d B)",
		quote([]byte(e.Malformed), errorWidth), quote(e.Key, keyWidth), quote(e.Raw, valueWidth), e.RawSize)
	return b.String()
}

// JSON is e as one line of JSON, for --json.
func (e Entry) JSON() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		// Every field marshals; a failure is a bug worth seeing in the
		// output rather than a lost record.
		b, _ = json.Marshal(map[string]any{"partition": e.Partition, "offset": e.Offset, "malformed": "cannot print: " + err.Error()})
	}
	return b
}

// size says how large the rejected value was and whether the copy is all
// of it: a copy that is not must not be republished (check).
func size(d *events.DeadLetter) string {
	switch {
	case d.Truncated:
		return fmt.Sprintf("%d B, first %d kept", d.Size, len(d.Value))
	case !whole(d):
		return fmt.Sprintf("%d B, copy of %d B does not match its sha256", d.Size, len(d.Value))
	}
	return fmt.Sprintf("%d B", d.Size)
}

// whole reports whether d's copy of the value is the whole value: its
// length and SHA-256 are those recorded of the rejected record.
func whole(d *events.DeadLetter) bool {
	sum := sha256.Sum256(d.Value)
	return len(d.Value) == d.Size && hex.EncodeToString(sum[:]) == d.SHA256
}

// word prints a name (reason, group, topic) bare when it is made of the
// characters such names are made of, quoted otherwise.
func word(s string) string {
	if s == "" || len(s) > wordWidth || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return quote([]byte(s), wordWidth)
	}
	return s
}

// quote is b as a double-quoted Go string whose content is at most width
// characters, followed by … when b does not fit. Printable characters of
// any script stay as they are; an escape is never split.
func quote(b []byte, width int) string {
	var out strings.Builder
	out.WriteByte('"')
	n := 0
	for i := 0; i < len(b); {
		r, sz := utf8.DecodeRune(b[i:])
		var piece string
		switch {
		case r == utf8.RuneError && sz == 1:
			piece = fmt.Sprintf(`\x%02x`, b[i])
		case r == '"':
			piece = `\"`
		case r == '\'':
			piece = `'`
		default:
			q := strconv.QuoteRune(r)
			piece = q[1 : len(q)-1]
		}
		w := utf8.RuneCountInString(piece)
		if n+w > width {
			out.WriteString(`"…`)
			return out.String()
		}
		n += w
		out.WriteString(piece)
		i += sz
	}
	out.WriteByte('"')
	return out.String()
}
