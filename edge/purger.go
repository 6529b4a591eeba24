package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// A Purger makes an edge forget every response that carries any of keys.
// Purge returns once the edge has confirmed, or with an error: the Queue
// tries the keys again at its next interval.
//
// Varnish is the implementation here. A managed CDN is another Purger of
// a few lines around its purge API, given the same keys:
//   - Fastly: POST https://api.fastly.com/service/{id}/purge with the keys
//     in a Surrogate-Key header (up to 256 per request), Fastly-Key for the
//     token and Fastly-Soft-Purge: 1 (Fastly reads tagstream's
//     Surrogate-Key response header as it is);
//   - Cloudflare (Enterprise): POST
//     https://api.cloudflare.com/client/v4/zones/{zone}/purge_cache with
//     {"tags": [...]} (up to 30 per request), the response header renamed
//     Cache-Tag with the keys comma-separated, at the origin or in a
//     Transform Rule.
type Purger interface {
	Purge(ctx context.Context, keys []string) error
}

// maxPurgeHeader bounds the keys of one PURGE request: Varnish refuses a
// header line longer than its http_req_hdr_len (8 KiB by default).
const maxPurgeHeader = 4 << 10

// Varnish purges through tagstream.vcl's PURGE method: a soft purge of the
// keys in the xkey-purge header (the objects expire at once, and are kept
// for revalidation and stale-if-error), sent to every edge in URLs.
type Varnish struct {
	// URLs are the edges, e.g. http://varnish:6081; each gets every purge.
	URLs []string
	// Hard removes the objects instead (xkey-mode: hard): for a takedown,
	// where not even a stale copy may be served while the origin is down.
	Hard bool
	// Client sends the purges. Default: a client with a 5 s timeout.
	Client *http.Client
}

var defaultPurgeClient = &http.Client{Timeout: 5 * time.Second}

// Purge sends keys in requests of at most 4 KiB of keys each, to every edge,
// and returns every edge's failure joined.
func (v *Varnish) Purge(ctx context.Context, keys []string) error {
	var errs []error
	for _, batch := range headerBatches(keys, maxPurgeHeader) {
		for _, u := range v.URLs {
			if err := v.purge(ctx, u, batch); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (v *Varnish) purge(ctx context.Context, url, keys string) error {
	req, err := http.NewRequestWithContext(ctx, "PURGE", url, nil)
	if err != nil {
		return fmt.Errorf("edge: purge %s: %w", url, err)
	}
	req.Header.Set("xkey-purge", keys)
	if v.Hard {
		req.Header.Set("xkey-mode", "hard")
	}
	c := v.Client
	if c == nil {
		c = defaultPurgeClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("edge: purge %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("edge: purge %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// headerBatches joins keys with spaces into values of at most max bytes
// (a longer key alone, since it cannot be split).
func headerBatches(keys []string, max int) []string {
	var out []string
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 && b.Len()+1+len(k) > max {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// PurgeTargets purges what an operator names (Target), within 30 s, and
// returns the keys it purged. No target, or one Target refuses, purges
// nothing.
func PurgeTargets(ctx context.Context, p Purger, targets []string) ([]string, error) {
	if len(targets) == 0 {
		return nil, errors.New("edge: no target: name #<hashtag>, img:<user_id>/<image_id>, pages, trending or site")
	}
	keys := make([]string, len(targets))
	for i, t := range targets {
		k, err := Target(t)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return keys, p.Purge(ctx, keys)
}
