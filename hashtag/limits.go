package hashtag

import (
	"fmt"
	"unicode/utf8"
)

// Limits enforced by Validate. Lengths count Unicode code points, which is
// what users see counted in the composer.
const (
	// MaxCaptionRunes bounds a caption's length.
	MaxCaptionRunes = 2200
	// MaxHashtags bounds the number of distinct keys in a caption, so a
	// post cannot spam many counters at once; repeats of one tag count once.
	MaxHashtags = 30
	// MaxHashtagRunes bounds one hashtag as written, without the hash sign.
	MaxHashtagRunes = 100
	// MaxKeyBytes bounds the normalised key of such a hashtag: NFKC and
	// case folding turn one character into at most MaxKeyBytesPerRune
	// bytes (U+FDFA becomes 18 Arabic letters), a bound
	// TestKeyExpansionBound checks over every character. Anything longer
	// can be refused as "not a hashtag" without normalising it.
	MaxKeyBytes = MaxHashtagRunes * MaxKeyBytesPerRune
	// MaxKeyBytesPerRune is the most bytes one character of a tag becomes
	// in its key.
	MaxKeyBytesPerRune = 33
)

// Values of LimitError.Limit, naming the limit that was exceeded so callers
// can map each to their own message or status code.
const (
	LimitCaptionRunes = "caption_runes" // MaxCaptionRunes
	LimitHashtags     = "hashtags"      // MaxHashtags
	LimitHashtagRunes = "hashtag_runes" // MaxHashtagRunes
)

// LimitError is returned by Validate when a caption exceeds a limit. Callers
// get it with errors.As and branch on Limit; errors.Is also matches it
// against ErrCaptionTooLong, ErrTooManyHashtags and ErrHashtagTooLong.
type LimitError struct {
	Limit string // one of LimitCaptionRunes, LimitHashtags, LimitHashtagRunes
	Max   int    // the limit
	Got   int    // the caption's value; 0 in the Err* sentinels
}

// Sentinels for errors.Is, one per limit. A *LimitError matches the one with
// the same Limit, whatever its Got.
var (
	ErrCaptionTooLong  error = &LimitError{Limit: LimitCaptionRunes, Max: MaxCaptionRunes}
	ErrTooManyHashtags error = &LimitError{Limit: LimitHashtags, Max: MaxHashtags}
	ErrHashtagTooLong  error = &LimitError{Limit: LimitHashtagRunes, Max: MaxHashtagRunes}
)

// Error reads "hashtag: <what> has <Got> <unit>, limit <Max>", fit to show to
// the author of the caption.
func (e *LimitError) Error() string {
	var what, unit string
	switch e.Limit {
	case LimitCaptionRunes:
		what, unit = "caption", "characters"
	case LimitHashtags:
		what, unit = "caption", "distinct hashtags"
	case LimitHashtagRunes:
		what, unit = "hashtag", "characters"
	default:
		what, unit = "caption", e.Limit
	}
	if e.Got == 0 {
		return fmt.Sprintf("hashtag: %s exceeds %d %s", what, e.Max, unit)
	}
	return fmt.Sprintf("hashtag: %s has %d %s, limit %d", what, e.Got, unit, e.Max)
}

// Is makes errors.Is(err, ErrCaptionTooLong) and friends match any
// LimitError for the same limit.
func (e *LimitError) Is(target error) bool {
	t, ok := target.(*LimitError)
	return ok && t.Limit == e.Limit
}

// Validate checks a caption against the posting limits and returns its keys
// (as Keys does) if it is within them, so a post is parsed once on the way
// in. Checks run in order: caption length, then each hashtag's length, then
// the number of distinct keys; the first exceeded limit is reported as a
// *LimitError and no keys are returned. Exactly reaching a limit is allowed.
//
// A hashtag's length is measured as written, before normalisation, since
// that is what the author typed and sees.
func Validate(caption string) ([]string, error) {
	keys, _, err := ValidateWithDisplay(caption)
	return keys, err
}

// ValidateWithDisplay is Validate that also returns, as KeysAndDisplay
// does, how each key was first written: the extractor needs both for every
// post and parses the caption once.
func ValidateWithDisplay(caption string) (keys, display []string, err error) {
	if n := utf8.RuneCountInString(caption); n > MaxCaptionRunes {
		return nil, nil, &LimitError{Limit: LimitCaptionRunes, Max: MaxCaptionRunes, Got: n}
	}
	spans := scan(caption)
	for _, s := range spans {
		if n := utf8.RuneCountInString(caption[s.body:s.end]); n > MaxHashtagRunes {
			return nil, nil, &LimitError{Limit: LimitHashtagRunes, Max: MaxHashtagRunes, Got: n}
		}
	}
	display = make([]string, 0, len(spans))
	keys = keysOf(caption, spans, &display)
	if len(keys) > MaxHashtags {
		return nil, nil, &LimitError{Limit: LimitHashtags, Max: MaxHashtags, Got: len(keys)}
	}
	return keys, display, nil
}
