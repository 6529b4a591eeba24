package deadletters

import (
	"slices"
	"testing"
	"time"
)

// --from takes earliest, a time or a bounded count back, and nothing else:
// a typo must not silently read from the start.
func TestParseFromRefusesWhatItCannotRead(t *testing.T) {
	for in, want := range map[string]From{
		"":                     {},
		"earliest":             {},
		"20":                   {Last: 20},
		"1000":                 {Last: MaxLast},
		"2026-11-27T10:00:00Z": {Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
	} {
		if got, err := ParseFrom(in); err != nil || !got.Time.Equal(want.Time) || got.Last != want.Last {
			t.Errorf("ParseFrom(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-5", "1001", "latest", "2026-11-27", "0=5"} {
		if got, err := ParseFrom(in); err == nil {
			t.Errorf("ParseFrom(%q) = %+v, want an error", in, got)
		}
	}
}

// --offsets takes the listing's first column; a repeated one is sent once.
func TestParsePositionsTakesTheListingsColumn(t *testing.T) {
	got, err := ParsePositions([]string{"3:17", " 0:0", "3:17"})
	if want := []Position{{3, 17}, {0, 0}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ParsePositions = %v, %v; want %v", got, err, want)
	}
	for _, in := range []string{"3", "3:", ":5", "3:-1", "-1:3", "3=17", "a:b", "99999999999:1"} {
		if got, err := ParsePositions([]string{in}); err == nil {
			t.Errorf("ParsePositions(%q) = %v, want an error", in, got)
		}
	}
}
