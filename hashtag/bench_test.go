package hashtag

import "testing"

// benchCaption is a realistic caption: ~200 characters, 8 hashtags (one
// repeated in another case, one non-ASCII), an emoji and a URL.
const benchCaption = "Golden hour at the pier 🌅 couldn't ask for a better end to the whole trip, honestly! " +
	"Full gallery: https://example.com/gallery/2024 " +
	"#Sunset #travel #beach #SUNSET #goldenhour #café #photography #nofilter"

func BenchmarkKeys(b *testing.B) {
	if n := len(Extract(benchCaption)); n != 8 {
		b.Fatalf("bench caption has %d hashtags, want 8", n)
	}
	b.SetBytes(int64(len(benchCaption)))
	b.ReportAllocs()
	for b.Loop() {
		Keys(benchCaption)
	}
}

func BenchmarkExtract(b *testing.B) {
	b.SetBytes(int64(len(benchCaption)))
	b.ReportAllocs()
	for b.Loop() {
		Extract(benchCaption)
	}
}
