package hashtag

import (
	"strings"
	"unicode/utf8"
)

// A '#' inside a URL ("http://example.com/#anchor", "twitter.com/#tag") is a
// fragment or path, not a hashtag. twitter-text finds URLs with its URL
// extractor and then drops every entity that overlaps an earlier-starting one
// (removeOverlappingEntities). This file reproduces that with a small scanner
// that follows twitter-text's URL grammar where it matters for hashtags, with
// these deliberate simplifications:
//
//   - A top-level domain is recognised by its shape (two or more ASCII
//     letters, or "xn--" punycode) instead of twitter-text's list of ~1500
//     TLDs, which this package does not carry. "cats.dogs/#x" is a URL here.
//   - Any "scheme://host" counts, not just http and https, and its host needs
//     no TLD: "ftp://files/#x" and "http://localhost/#x" hold no hashtag.
//   - Only URLs with a path or query are reported: a URL without one contains
//     no '#', so it can neither cover a hashtag nor be affected by one.
//
// The grammar, per twitter-text: a URL starts after a code point that is not
// [A-Za-z0-9@＠$#＃] (or at the start of text); without a scheme it must also
// not follow [-_./]. Then a domain, an optional ":port", an optional path
// ("/" followed by path characters, ending on a path-ending character or a
// balanced parenthesis group) and an optional query ("?" followed by query
// characters, ending on a query-ending character). A path or query that
// reaches a '#' always includes it, since '#' is a valid ending character.

// urlSpan is a URL by byte offsets [start, end).
type urlSpan struct{ start, end int }

// dropURLOverlaps removes the candidates that twitter-text's overlap rule
// removes: walking hashtags and URLs in order of start, an entity that starts
// before the end of the last kept entity is dropped. A hashtag therefore
// survives a URL that it starts before, and a URL dropped that way covers
// nothing.
func dropURLOverlaps(text string, cands []tagSpan) []tagSpan {
	// A URL covering a hash sign needs a '/' or '?' before that sign.
	last := cands[len(cands)-1].start
	if strings.IndexByte(text[:last], '/') < 0 && strings.IndexByte(text[:last], '?') < 0 {
		return cands
	}
	urls := findURLs(text, last)
	if len(urls) == 0 {
		return cands
	}
	out := cands[:0]
	prevEnd := -1
	u := 0
	for _, c := range cands {
		for u < len(urls) && urls[u].start < c.start {
			if urls[u].start >= prevEnd {
				prevEnd = urls[u].end
			}
			u++
		}
		if c.start >= prevEnd {
			out = append(out, c)
			prevEnd = c.end
		}
	}
	return out
}

// findURLs returns the URLs with a path or query that start before byte limit.
//
// URLs contain no space, so only the space-separated tokens that could hold
// a URL with a path are scanned: those with a '/' or '?' and a '.' or "://".
// Nothing a URL match consumes crosses a space, so tokens are independent.
func findURLs(text string, limit int) []urlSpan {
	var out []urlSpan
	sc := urlScanner{text: text}
	// Positions of the next '/' and '?' at or after pos; limit if none.
	slash, query := indexFrom(text[:limit], 0, '/'), indexFrom(text[:limit], 0, '?')
	for pos := 0; pos < limit; {
		if slash < pos {
			slash = indexFrom(text[:limit], pos, '/')
		}
		if query < pos {
			query = indexFrom(text[:limit], pos, '?')
		}
		j := min(slash, query)
		if j >= limit {
			break
		}
		start := j
		for start > pos {
			r, n := utf8.DecodeLastRuneInString(text[:start])
			if isURLSpace(r) {
				break
			}
			start -= n
		}
		end := j + 1
		for end < len(text) {
			if c := text[end]; c < utf8.RuneSelf {
				if isURLSpace(rune(c)) {
					break
				}
				end++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[end:])
			if isURLSpace(r) {
				break
			}
			end += n
		}
		if tok := text[start:end]; strings.IndexByte(tok, '.') >= 0 || strings.Contains(tok, "://") {
			out = sc.scanToken(start, min(end, limit), out)
		}
		pos = end
	}
	return out
}

// indexFrom returns the index of the first c in s at or after from, or
// len(s).
func indexFrom(s string, from int, c byte) int {
	if i := strings.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return len(s)
}

// scanToken tries a URL match at each position of the token starting at
// byte tok and ending at or after end, mimicking a global regexp: matches do
// not overlap, and the code point before a match is consumed with it.
func (sc *urlScanner) scanToken(tok, end int, out []urlSpan) []urlSpan {
	text := sc.text
	consumed := 0 // bytes before this were consumed by a URL match
	prev, n := utf8.DecodeLastRuneInString(text[:tok])
	prevStart := tok - n // a space (or nothing, at the start of text)
	for i := tok; i < end; {
		r, n := utf8.DecodeRuneInString(text[i:])
		if i == 0 || (prevStart >= consumed && validURLPreceding(prev)) {
			if m, ok := sc.match(i, prev); ok {
				if m.accepted && m.hasPath {
					out = append(out, urlSpan{m.start, m.end})
				}
				// Resume at the match end; the code point before it was
				// consumed and cannot precede the next URL.
				consumed = m.end
				i = m.end
				prev, prevStart = -1, -1
				continue
			}
		}
		prev, prevStart = r, i
		i += n
	}
	return out
}

// urlMatch describes a URL match starting at a given byte.
type urlMatch struct {
	start, end int  // the URL as twitter-text reports it
	hasPath    bool // whether a path or query follows the domain
	accepted   bool // false if matched but rejected (it is still consumed)
}

// urlScanner caches per-run results so that trying a long run of domain or
// scheme characters from each of its positions stays linear overall.
type urlScanner struct {
	text string

	schemeRunStart, schemeRunEnd int // run of [A-Za-z0-9+.-]

	run domainRun
	cur int // index in run.labels of the label holding the last start tried
}

// domainRun is a maximal run of domain characters, '.', '-' and '_', split
// into dot-separated labels, with what every suffix of it needs to know.
type domainRun struct {
	start, end int
	labels     []urlSpan
	tldOK      bool // the last label is a TLD
	lastBad    int  // last label before the TLD that is not a valid label, or -1
	asciiFrom  int  // start of the trailing ASCII-only domain, or -1
}

func (sc *urlScanner) match(i int, prev rune) (urlMatch, bool) {
	t := sc.text
	if isASCIILetter(t[i]) {
		if end := sc.schemeEnd(i); strings.HasPrefix(t[end:], "://") {
			host := end + 3
			if h := domainRunEnd(t, host); h > host {
				e, hasPath := urlTail(t, h)
				return urlMatch{start: i, end: e, hasPath: hasPath, accepted: true}, true
			}
		}
	}
	// Without a scheme: a domain ending in a TLD. Labels start and end with
	// a domain character; the one before the TLD may not contain '_'.
	if c := t[i]; c == '.' || c == '-' || c == '_' || !isDomainChar(t, i) {
		return urlMatch{}, false
	}
	if i >= sc.run.end || i < sc.run.start {
		sc.run = newDomainRun(t, i, sc.run.labels[:0])
		sc.cur = 0
	}
	d := &sc.run
	for d.labels[sc.cur].end <= i {
		sc.cur++
	}
	m, k := sc.cur, len(d.labels)
	if !d.tldOK || m >= k-1 || m < d.lastBad {
		return urlMatch{}, false
	}
	if m == d.lastBad || m == k-2 {
		l := d.labels[m]
		if !endsInDomainChar(t[l.start:l.end]) || m == k-2 && strings.IndexByte(t[i:l.end], '_') >= 0 {
			return urlMatch{}, false
		}
	}
	e, hasPath := urlTail(t, d.end)
	if d.asciiFrom < 0 {
		// twitter-text: "no ASCII-only domain found. Skip the entire URL."
		return urlMatch{start: i, end: e}, true
	}
	// twitter-text reports a scheme-less URL from its last ASCII-only domain,
	// and rejects one that follows [-_./].
	accepted := !strings.ContainsRune("-_./", prev)
	return urlMatch{start: max(d.asciiFrom, i), end: e, hasPath: hasPath, accepted: accepted}, true
}

// newDomainRun analyses the domain run starting at i, reusing labels.
func newDomainRun(t string, i int, labels []urlSpan) domainRun {
	d := domainRun{start: i, end: domainRunEnd(t, i), labels: labels, lastBad: -1, asciiFrom: -1}
	if strings.IndexByte(t[i:d.end], '.') < 0 {
		// One label: no domain. Record it so the run is not re-analysed.
		d.labels = append(d.labels, urlSpan{i, d.end})
		return d
	}
	for s := i; ; {
		dot := strings.IndexByte(t[s:d.end], '.')
		if dot < 0 {
			d.labels = append(d.labels, urlSpan{s, d.end})
			break
		}
		d.labels = append(d.labels, urlSpan{s, s + dot})
		s += dot + 1
	}
	k := len(d.labels)
	if k < 2 {
		return d
	}
	tld := d.labels[k-1]
	d.tldOK = isTLD(t[tld.start:tld.end])
	for j := k - 2; j >= 0; j-- {
		l := d.labels[j]
		if l.end == l.start || !isDomainChar(t, l.start) || !endsInDomainChar(t[l.start:l.end]) ||
			j == k-2 && strings.IndexByte(t[l.start:l.end], '_') >= 0 {
			d.lastBad = j
			break
		}
	}
	// The trailing ASCII-only domain: whole labels of [A-Za-z0-9-] or Latin
	// accented letters before the TLD, plus the ASCII tail of the label
	// before them.
	for j := k - 2; j >= 0; j-- {
		l := d.labels[j]
		p := l.end
		for p > l.start {
			r, n := utf8.DecodeLastRuneInString(t[l.start:p])
			if !isASCIIDomainChar(r) {
				break
			}
			p -= n
		}
		if p < l.end {
			d.asciiFrom = p
		}
		if p > l.start || l.end == l.start {
			break
		}
	}
	return d
}

// schemeEnd returns the end of the run of scheme characters containing i.
func (sc *urlScanner) schemeEnd(i int) int {
	if i >= sc.schemeRunStart && i < sc.schemeRunEnd {
		return sc.schemeRunEnd
	}
	t := sc.text
	j := i
	for j < len(t) && (isASCIILetter(t[j]) || isASCIIDigit(t[j]) || t[j] == '+' || t[j] == '.' || t[j] == '-') {
		j++
	}
	sc.schemeRunStart, sc.schemeRunEnd = i, j
	return j
}

// isDomainChar reports whether the code point at byte i is a domain
// character: not ASCII punctuation, a space or an invalid character.
func isDomainChar(t string, i int) bool {
	c := t[i]
	if c < utf8.RuneSelf {
		return !isASCIIPunct(c) && !isURLSpace(rune(c))
	}
	r, _ := utf8.DecodeRuneInString(t[i:])
	return !isURLSpace(r) && !isInvalidChar(r)
}

// endsInDomainChar reports whether the non-empty label ends in a domain
// character rather than '-' or '_'.
func endsInDomainChar(label string) bool {
	r, _ := utf8.DecodeLastRuneInString(label)
	return r >= utf8.RuneSelf || !isASCIIPunct(byte(r))
}

// domainRunEnd returns the end of the run of domain characters, '.', '-' and
// '_' starting at i.
func domainRunEnd(t string, i int) int {
	for i < len(t) {
		c := t[i]
		if c < utf8.RuneSelf {
			if c == '.' || c == '-' || c == '_' || !isASCIIPunct(c) && !isURLSpace(rune(c)) {
				i++
				continue
			}
			return i
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		if isURLSpace(r) || isInvalidChar(r) {
			return i
		}
		i += n
	}
	return i
}

func isTLD(s string) bool {
	if len(s) > 4 && strings.EqualFold(s[:4], "xn--") {
		for i := 4; i < len(s); i++ {
			if !isASCIILetter(s[i]) && !isASCIIDigit(s[i]) && s[i] != '-' {
				return false
			}
		}
		return true
	}
	if len(s) < 2 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isASCIILetter(s[i]) {
			return false
		}
	}
	return true
}

// urlTail scans an optional ":port", path and query after a domain ending at
// i, returning the URL's end and whether it has a path or query.
func urlTail(t string, i int) (end int, hasPath bool) {
	if i < len(t) && t[i] == ':' {
		j := i + 1
		for j < len(t) && isASCIIDigit(t[j]) {
			j++
		}
		if j > i+1 {
			i = j
		}
	}
	end = i
	if i < len(t) && t[i] == '/' {
		end = pathEnd(t, i+1)
		hasPath = true
	}
	if end < len(t) && t[end] == '?' {
		if q := queryEnd(t, end+1); q > end+1 {
			end = q
			hasPath = true
		}
	}
	return end, hasPath
}

// pathEnd returns the end of the longest run of path characters and balanced
// parenthesis groups starting at i that ends on a path-ending character or a
// group; i itself if there is none (the path is just "/").
func pathEnd(t string, i int) int {
	end := i
	for i < len(t) {
		r, n := utf8.DecodeRuneInString(t[i:])
		switch {
		case r == '(':
			j, ok := balancedParens(t, i)
			if !ok {
				return end
			}
			i, end = j, j
			continue
		case !isPathChar(r):
			return end
		}
		i += n
		if isPathEndingChar(r) {
			end = i
		}
	}
	return end
}

// balancedParens matches "(" path+ ")" or "(" path* "(" path+ ")" path* ")"
// at i, returning the end.
func balancedParens(t string, i int) (int, bool) {
	j, k := pathRun(t, i+1)
	if j < len(t) && t[j] == ')' && k > 0 {
		return j + 1, true
	}
	if j < len(t) && t[j] == '(' {
		j2, k2 := pathRun(t, j+1)
		if k2 == 0 || j2 >= len(t) || t[j2] != ')' {
			return 0, false
		}
		j3, _ := pathRun(t, j2+1)
		if j3 < len(t) && t[j3] == ')' {
			return j3 + 1, true
		}
	}
	return 0, false
}

// pathRun returns the end of the run of path characters at i and its length
// in code points.
func pathRun(t string, i int) (int, int) {
	k := 0
	for i < len(t) {
		r, n := utf8.DecodeRuneInString(t[i:])
		if !isPathChar(r) {
			break
		}
		i += n
		k++
	}
	return i, k
}

// queryEnd returns the end of the longest run of query characters at i that
// ends on a query-ending character; i if there is none.
func queryEnd(t string, i int) int {
	end := i
	for ; i < len(t); i++ {
		c := t[i]
		if c >= utf8.RuneSelf || !strings.ContainsRune(queryChars, rune(c)) && !isASCIILetter(c) && !isASCIIDigit(c) {
			break
		}
		if isASCIILetter(c) || isASCIIDigit(c) || strings.IndexByte("-_&=#/", c) >= 0 {
			end = i + 1
		}
	}
	return end
}

const (
	pathPunct  = "!*';:=+,.$/%#[]-_~@|&"
	queryChars = "!?*'@();:&=+$/%#[]-_.,~|"
)

func isPathChar(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isASCIILetter(c) || isASCIIDigit(c) || strings.IndexByte(pathPunct, c) >= 0
	}
	return r == '\u2013' || isCyrillic(r) || isLatinAccent(r)
}

func isPathEndingChar(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isASCIILetter(c) || isASCIIDigit(c) || strings.IndexByte("+-=_#/", c) >= 0
	}
	return isCyrillic(r) || isLatinAccent(r)
}

func isCyrillic(r rune) bool { return r >= 0x0400 && r <= 0x04FF }

func isLatinAccent(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xFF:
		return r != 0xD7 && r != 0xF7
	case r >= 0x0100 && r <= 0x024F, r >= 0x0300 && r <= 0x036F, r >= 0x1E00 && r <= 0x1EFF:
		return true
	}
	switch r {
	case 0x0253, 0x0254, 0x0256, 0x0257, 0x0259, 0x025B, 0x0263, 0x0268,
		0x026F, 0x0272, 0x0289, 0x028B, 0x02BB:
		return true
	}
	return false
}

func isASCIIDomainChar(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return isASCIILetter(c) || isASCIIDigit(c) || c == '-'
	}
	return isLatinAccent(r)
}

// validURLPreceding is twitter-text's validUrlPrecedingChars (except start of
// text, handled by the caller).
func validURLPreceding(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return !isASCIILetter(c) && !isASCIIDigit(c) && c != '@' && c != '$' && c != '#'
	}
	return r != '＠' && r != fullHashSign && !isInvalidChar(r)
}

func isInvalidChar(r rune) bool {
	return r == 0xFFFE || r == 0xFEFF || r == 0xFFFF || r >= 0x202A && r <= 0x202E
}

func isURLSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || r >= 0x09 && r <= 0x0D
	}
	switch {
	case r >= 0x09 && r <= 0x0D, r == 0x20, r == 0x85, r == 0xA0, r == 0x1680, r == 0x180E,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// isASCIIPunct is twitter-text's "punct" set, which notably excludes '"'
// and '`'.
func isASCIIPunct(c byte) bool { return strings.IndexByte(`!'#%&()*+,\-./:;<=>?@[]^_{|}~$`, c) >= 0 }

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isASCIIDigit(c byte) bool  { return '0' <= c && c <= '9' }
