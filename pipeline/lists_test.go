package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/testenv"
)

// listBound is topology.md's bound: a deleted or edited post is out of
// (or updated in) every list within it of the API's 202.
const listBound = 10 * time.Second

type listsPage struct {
	PostCount   int64          `json:"post_count"`
	TopPosts    []api.PostJSON `json:"top_posts"`
	RecentPosts []api.PostJSON `json:"recent_posts"`
}

func getPage(t *testing.T, addr, tag string) listsPage {
	t.Helper()
	resp, b := do(t, http.MethodGet, "http://"+addr+"/v1/hashtags/"+tag, "", "")
	var p listsPage
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("page of %s: %v: %s", tag, err, b)
		}
	}
	return p
}

// render shows a list as "user/post:likes:caption" entries.
func render(posts []api.PostJSON) string {
	var out []string
	for _, p := range posts {
		out = append(out, fmt.Sprintf("%s/%s:%d:%s", p.UserID, p.PostID, p.LikeCount, p.Caption))
	}
	return strings.Join(out, " | ")
}

func getTrending(t *testing.T, addr string) api.TrendingJSON {
	t.Helper()
	resp, b := do(t, http.MethodGet, "http://"+addr+"/v1/trending", "", "")
	var tr api.TrendingJSON
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tr) != nil {
		t.Fatalf("GET /v1/trending: %d %s", resp.StatusCode, b)
	}
	return tr
}

func trendingPosts(tr api.TrendingJSON, key string) int64 {
	for _, h := range tr.Hashtags {
		if h.Key == key {
			return h.Posts
		}
	}
	return 0
}

// The lists fill themselves: recent posts from the posts, a top ranked by
// likes, like counts on every summary, trending from new posts; and they
// stay true: an edit that drops a hashtag and a delete take the post out
// of that hashtag's lists within listBound of the 202, a new caption
// replaces the old one, and a ranking document from outside that still
// names a deleted post cannot bring it back.
func TestListsFillThemselvesAndStayTrue(t *testing.T) { eachBackend(t, testLists) }

func testLists(t *testing.T, be backend) {
	n := be.start(t, t.TempDir(), 3, be.namespace(t))
	base := "http://" + n.http
	tok := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		tok[u] = bearer(t, u)
	}
	post := func(user, id, caption string) {
		t.Helper()
		resp, b := do(t, http.MethodPost, base+"/v1/posts", tok[user], fmt.Sprintf(`{"post_id":%q,"caption":%q}`, id, caption))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post %s/%s: %d %s", user, id, resp.StatusCode, b)
		}
	}
	likeAs := func(liker, owner, id, method string) {
		t.Helper()
		resp, b := do(t, method, fmt.Sprintf("%s/v1/posts/%s/%s/like", base, owner, id), tok[liker], "")
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s %s/%s/like as %s: %d %s", method, owner, id, liker, resp.StatusCode, b)
		}
	}
	await := func(what string, limit time.Duration, cond func(p listsPage) bool, tag string) listsPage {
		t.Helper()
		var p listsPage
		testenv.Await(t, limit, what+"; last page "+tag+": recent ["+render(p.RecentPosts)+"] top ["+render(p.TopPosts)+"]", func() bool {
			p = getPage(t, n.http, tag)
			return cond(p)
		})
		return p
	}

	post("alice", "p1", "golden #sunset at the #beach")
	awaitCount(t, n.http, "sunset", 1) // alice's post first, then the others
	post("bob", "b1", "#sunset too")
	post("carol", "c1", "#Sunset!")
	p := await("three recent posts", time.Minute, func(p listsPage) bool { return len(p.RecentPosts) == 3 }, "sunset")
	if p.RecentPosts[2].UserID != "alice" {
		t.Errorf("recent posts [%s], want the oldest, alice's, last", render(p.RecentPosts))
	}

	likeAs("bob", "alice", "p1", http.MethodPost)
	likeAs("bob", "alice", "p1", http.MethodPost) // counts once
	likeAs("carol", "alice", "p1", http.MethodPost)
	likeAs("dave", "carol", "c1", http.MethodPost)
	likeAs("dave", "carol", "nope", http.MethodPost) // an unknown post: nothing
	likeAs("dave", "bob", "b1", http.MethodPost)
	likeAs("dave", "bob", "b1", http.MethodDelete) // taken back
	want := "alice/p1:2:golden #sunset at the #beach | carol/c1:1:#Sunset!"
	p = await("the top ranked by likes", time.Minute, func(p listsPage) bool { return render(p.TopPosts) == want }, "sunset")
	for _, r := range p.RecentPosts {
		if w := map[string]int64{"p1": 2, "b1": 0, "c1": 1}[r.PostID]; r.LikeCount != w {
			t.Errorf("recent %s/%s has like_count %d, want %d", r.UserID, r.PostID, r.LikeCount, w)
		}
	}
	testenv.Await(t, time.Minute, "sunset trending with 3 new posts, beach with 1", func() bool {
		tr := getTrending(t, n.http)
		return trendingPosts(tr, "sunset") == 3 && trendingPosts(tr, "beach") == 1
	})

	// An edit that drops #sunset and changes the caption.
	resp, _ := do(t, http.MethodPatch, base+"/v1/posts/p1", tok["alice"], `{"caption":"only the #beach now"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	accepted := time.Now()
	await("p1 out of #sunset's lists", listBound, func(p listsPage) bool {
		return !strings.Contains(render(p.RecentPosts)+render(p.TopPosts), "alice/p1")
	}, "sunset")
	await("p1's new caption in #beach's lists", listBound-time.Since(accepted), func(p listsPage) bool {
		return render(p.RecentPosts) == "alice/p1:2:only the #beach now" && render(p.TopPosts) == "alice/p1:2:only the #beach now"
	}, "beach")
	t.Logf("edit reached every list in %s", time.Since(accepted).Round(time.Millisecond))

	// A delete.
	resp, _ = do(t, http.MethodDelete, base+"/v1/posts/c1", tok["carol"], "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	accepted = time.Now()
	await("c1 out of #sunset's lists", listBound, func(p listsPage) bool {
		return render(p.RecentPosts) == "bob/b1:0:#sunset too" && render(p.TopPosts) == ""
	}, "sunset")
	t.Logf("delete reached every list in %s", time.Since(accepted).Round(time.Millisecond))
	testenv.Await(t, time.Minute, "sunset trending with 1 new post left", func() bool {
		return trendingPosts(getTrending(t, n.http), "sunset") == 1
	})

	// A ranking job outside still names both: the posts' state decides.
	cl, err := n.cluster.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	doc := fmt.Sprintf(`{"hashtag":"sunset","computed_at":%q,"posts":[`+
		`{"post_id":"c1","user_id":"carol","caption":"#Sunset!"},{"post_id":"p1","user_id":"alice","caption":"golden"},`+
		`{"post_id":"b1","user_id":"bob","caption":"#sunset too"}]}`, time.Now().UTC().Format(time.RFC3339Nano))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: n.ns.TopPosts(), Key: []byte("sunset"), Value: []byte(doc)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p = await("the outside document applied", time.Minute, func(p listsPage) bool { return len(p.TopPosts) > 0 }, "sunset")
	if got := render(p.TopPosts); got != "bob/b1:0:#sunset too" {
		t.Fatalf("top after an outside document naming c1 (deleted), p1 (edited out) and b1: [%s], want b1 alone", got)
	}
	if !slices.ContainsFunc(p.RecentPosts, func(r api.PostJSON) bool { return r.PostID == "b1" }) || len(p.RecentPosts) != 1 {
		t.Fatalf("recent [%s], want b1 alone", render(p.RecentPosts))
	}
}
