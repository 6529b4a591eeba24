package hashtag

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// conformancePath is where the repository keeps the file, with its licence
// and source (testdata/README.md).
var conformancePath = filepath.Join("testdata", "twitter-text-hashtags.json")

type conformanceCase[T any] struct {
	Description string `json:"description"`
	Text        string `json:"text"`
	Expected    []T    `json:"expected"`
}

type indexedTag struct {
	Hashtag string `json:"hashtag"`
	Indices [2]int `json:"indices"`
}

type conformanceFile struct {
	Hashtags            []conformanceCase[string]     `json:"hashtags"`
	HashtagsFromAstral  []conformanceCase[string]     `json:"hashtags_from_astral"`
	HashtagsWithIndices []conformanceCase[indexedTag] `json:"hashtags_with_indices"`
}

// readConformance reads and parses the conformance file.
func readConformance() (*conformanceFile, error) {
	path := conformancePath
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f conformanceFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(f.Hashtags)+len(f.HashtagsFromAstral)+len(f.HashtagsWithIndices) == 0 {
		return nil, fmt.Errorf("%s holds no cases", path)
	}
	return &f, nil
}

// loadConformance reads the conformance file, which the repository holds.
func loadConformance(tb testing.TB) *conformanceFile {
	tb.Helper()
	f, err := readConformance()
	if err != nil {
		tb.Fatalf("conformance file: %v", err)
	}
	return f
}

// conformanceTexts returns every caption of the conformance file.
func conformanceTexts(f *conformanceFile) []string {
	var texts []string
	for _, c := range f.Hashtags {
		texts = append(texts, c.Text)
	}
	for _, c := range f.HashtagsFromAstral {
		texts = append(texts, c.Text)
	}
	for _, c := range f.HashtagsWithIndices {
		texts = append(texts, c.Text)
	}
	return texts
}

func TestConformance(t *testing.T) {
	f := loadConformance(t)
	checkTags := func(section string, cases []conformanceCase[string]) {
		for _, c := range cases {
			got := Extract(c.Text)
			if !slices.Equal(got, c.Expected) && !(len(got) == 0 && len(c.Expected) == 0) {
				t.Errorf("%s: %s\n  text: %+q\n  got:  %+q\n  want: %+q", section, c.Description, c.Text, got, c.Expected)
			}
		}
	}
	checkTags("hashtags", f.Hashtags)
	checkTags("hashtags_from_astral", f.HashtagsFromAstral)
	for _, c := range f.HashtagsWithIndices {
		var got []indexedTag
		for _, e := range ExtractEntities(c.Text) {
			got = append(got, indexedTag{Hashtag: e.Tag, Indices: [2]int{e.Start, e.End}})
		}
		if !slices.Equal(got, c.Expected) {
			t.Errorf("hashtags_with_indices: %s\n  text: %+q\n  got:  %+v\n  want: %+v", c.Description, c.Text, got, c.Expected)
		}
	}
}
