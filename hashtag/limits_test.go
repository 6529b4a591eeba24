package hashtag

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tagsCaption := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "#tag%d ", i)
		}
		return b.String()
	}
	longTag := func(n int) string { return "#" + strings.Repeat("é", n) }

	tests := []struct {
		name    string
		caption string
		nkeys   int    // when valid
		limit   string // when not
		got     int
	}{
		{name: "empty", caption: "", nkeys: 0},
		{name: "caption at limit", caption: strings.Repeat("界", MaxCaptionRunes-5) + " #ok ", nkeys: 1},
		{name: "caption over limit", caption: strings.Repeat("界", MaxCaptionRunes+1), limit: LimitCaptionRunes, got: MaxCaptionRunes + 1},
		{name: "caption counted in code points not bytes", caption: strings.Repeat("🌅", MaxCaptionRunes), nkeys: 0},
		{name: "hashtags at limit", caption: tagsCaption(MaxHashtags), nkeys: MaxHashtags},
		{name: "hashtags over limit", caption: tagsCaption(MaxHashtags + 1), limit: LimitHashtags, got: MaxHashtags + 1},
		{name: "repeats count once", caption: tagsCaption(MaxHashtags) + strings.ToUpper(tagsCaption(MaxHashtags)), nkeys: MaxHashtags},
		{name: "hashtag at limit", caption: "x " + longTag(MaxHashtagRunes) + " y", nkeys: 1},
		{name: "hashtag over limit", caption: "x " + longTag(MaxHashtagRunes+1) + " y", limit: LimitHashtagRunes, got: MaxHashtagRunes + 1},
		{name: "hashtag length is as written", caption: "#" + strings.Repeat("ﬃ", MaxHashtagRunes), nkeys: 1},
		{name: "caption checked first", caption: longTag(MaxCaptionRunes), limit: LimitCaptionRunes, got: MaxCaptionRunes + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := Validate(tc.caption)
			if tc.limit == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if len(keys) != tc.nkeys {
					t.Fatalf("Validate gave %d keys, want %d", len(keys), tc.nkeys)
				}
				if want := Keys(tc.caption); !slices.Equal(keys, want) {
					t.Fatalf("Validate keys %q differ from Keys %q", keys, want)
				}
				return
			}
			if keys != nil {
				t.Errorf("Validate returned keys with an error")
			}
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("Validate error %v (%T) is not a *LimitError", err, err)
			}
			want := LimitError{Limit: tc.limit, Max: map[string]int{
				LimitCaptionRunes: MaxCaptionRunes, LimitHashtags: MaxHashtags, LimitHashtagRunes: MaxHashtagRunes,
			}[tc.limit], Got: tc.got}
			if *le != want {
				t.Fatalf("Validate error %+v, want %+v", *le, want)
			}
		})
	}
}

func TestLimitError(t *testing.T) {
	for _, tc := range []struct {
		err      error
		sentinel error
		msg      string
	}{
		{&LimitError{LimitCaptionRunes, 2200, 2301}, ErrCaptionTooLong, "hashtag: caption has 2301 characters, limit 2200"},
		{&LimitError{LimitHashtags, 30, 31}, ErrTooManyHashtags, "hashtag: caption has 31 distinct hashtags, limit 30"},
		{&LimitError{LimitHashtagRunes, 100, 120}, ErrHashtagTooLong, "hashtag: hashtag has 120 characters, limit 100"},
	} {
		if got := tc.err.Error(); got != tc.msg {
			t.Errorf("Error() = %q, want %q", got, tc.msg)
		}
		wrapped := fmt.Errorf("post 42: %w", tc.err)
		if !errors.Is(wrapped, tc.sentinel) {
			t.Errorf("errors.Is(%v, %v) = false", wrapped, tc.sentinel)
		}
		for _, other := range []error{ErrCaptionTooLong, ErrTooManyHashtags, ErrHashtagTooLong} {
			if other != tc.sentinel && errors.Is(wrapped, other) {
				t.Errorf("errors.Is(%v, %v) = true", wrapped, other)
			}
		}
		var le *LimitError
		if !errors.As(wrapped, &le) || le != tc.err {
			t.Errorf("errors.As did not find the LimitError in %v", wrapped)
		}
	}
	if got, want := ErrTooManyHashtags.Error(), "hashtag: caption exceeds 30 distinct hashtags"; got != want {
		t.Errorf("sentinel Error() = %q, want %q", got, want)
	}
}
