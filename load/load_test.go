package load

import (
	"slices"
	"testing"

	"github.com/tagstream/tagstream/hashtag"
)

func opts(seed int64) Options {
	return Options{Seed: seed, Users: 1000, Tags: 5000, PerPost: 8, Zipf: 1.1}
}

func TestGeneratorIsReproducibleAndShaped(t *testing.T) {
	a, b, c := NewGenerator(opts(1)), NewGenerator(opts(1)), NewGenerator(opts(2))
	const n = 20000
	perTag := map[string]int{}
	total, differ := 0, 0
	for range n {
		pa, pb, pc := a.Next(), b.Next(), c.Next()
		if pa.Caption != pb.Caption || pa.User != pb.User || pa.ID != pb.ID {
			t.Fatalf("same seed, different posts: %+v vs %+v", pa, pb)
		}
		if pa.Caption != pc.Caption {
			differ++
		}
		// The generator's ground truth is what tagstream itself counts.
		if got := hashtag.Keys(pa.Caption); !slices.Equal(got, pa.Keys) {
			t.Fatalf("caption %q: generator keys %v, hashtag.Keys %v", pa.Caption, pa.Keys, got)
		}
		total += len(pa.Keys)
		for _, k := range pa.Keys {
			perTag[k]++
		}
	}
	if differ < n*9/10 {
		t.Errorf("seeds 1 and 2 agree on %d of %d posts", n-differ, n)
	}
	if mean := float64(total) / n; mean < 7 || mean > 9 {
		t.Errorf("mean hashtags per post %.2f, want about 8", mean)
	}
	// Zipf: the most popular tag is far above the median one.
	counts := make([]int, 0, len(perTag))
	for _, v := range perTag {
		counts = append(counts, v)
	}
	slices.Sort(counts)
	if top, median := counts[len(counts)-1], counts[len(counts)/2]; top < 50*median {
		t.Errorf("top tag %d posts, median %d: not Zipf-skewed", top, median)
	}
}

func TestTagKeysAreHashtagKeys(t *testing.T) {
	for _, n := range []uint64{0, 1, 9, 10, 35, 36, 1295, 1 << 40} {
		k := TagKey(n)
		if !hashtag.IsKey(k) {
			t.Errorf("TagKey(%d) = %q is not a hashtag key", n, k)
		}
	}
	seen := map[string]uint64{}
	for n := range uint64(200_000) {
		k := TagKey(n)
		if m, dup := seen[k]; dup {
			t.Fatalf("TagKey(%d) and TagKey(%d) are both %q", m, n, k)
		}
		seen[k] = n
	}
}
