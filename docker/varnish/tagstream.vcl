# tagstream's edge: Varnish 7 with vmod xkey (Debian: varnish, varnish-modules)
# in front of `tagstream api` (or `tagstream run`).
#
# It caches what tagstream says may be cached, for as long as its
# Cache-Control says, and forgets it when tagstream purges the response's
# surrogate keys (topology.md, "The edge"). The backend, its health probe
# and the addresses allowed to purge are the deployment's own: they are in
# site.vcl, found on vcl_path (docker/varnish/site.vcl in compose; the tests
# and bench-read.sh write theirs).
#
# Invariants, each checked by edge/varnish's tests against a real varnishd:
#   - a write (any method but GET and HEAD) and a request with an
#     Authorization header are passed, never cached;
#   - a response is cached for what its Surrogate-Control's max-age allows,
#     else its Cache-Control (s-maxage, max-age), never longer, and never
#     with no-store, no-cache, private, a Set-Cookie or Vary: *;
#   - only the page, /v1/, /img/ and the API's description (/openapi.json,
#     /docs) are served (an allow-list: 404 for
#     the origin's /metrics, /readyz, /healthz however spelled); a query
#     on a page or the API is dropped, and the cache key is the URL alone;
#   - while the origin is healthy, an expired or purged object is never
#     served: the next request waits for the origin (concurrent ones for the
#     same object wait for that one fetch);
#   - while the origin fails (sick, refusing, or answering 5xx), a page is
#     served stale for as long as its stale-if-error allows; an image never
#     outlives its URL's expiry, whatever the origin's state;
#   - PURGE is honoured only from the purgers ACL.
vcl 4.1;

import std;
import xkey;

include "site.vcl";

sub vcl_recv {
	if (req.restarts == 0) {
		unset req.http.X-Tagstream-Stale;
		unset req.http.X-Cache;
	}
	if (req.method == "PURGE") {
		if (client.ip !~ purgers) {
			return (synth(403, "purge is not allowed from this address"));
		}
		if (!req.http.xkey-purge) {
			return (synth(400, "PURGE needs an xkey-purge header: the surrogate keys, space-separated"));
		}
		# Soft by default: the object stays for conditional revalidation
		# (a 304 if the page did not change after all) and for
		# stale-if-error; hard removes it (a takedown).
		if (req.http.xkey-mode == "hard") {
			set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
		} else {
			set req.http.X-Purged = xkey.softpurge(req.http.xkey-purge);
		}
		return (synth(200, "purged"));
	}
	# Only what readers ask for goes through: the page, the API and its
	# description (/openapi.json, /docs), images.
	# An allow-list, not a deny-list: the origin's router unescapes paths,
	# so /%6Detrics would reach /metrics past any pattern of names.
	if (req.url !~ "^/(v1/|img/|tags(/|\?|$)|openapi\.json(\?|$)|docs(\?|$)|\?|$)") {
		return (synth(404, "not found"));
	}
	# No query on what takes none: ?r=<random> must not make a cache entry
	# (and an origin request) per request. The search (/tags?q=) and
	# images (signed) keep theirs.
	if (req.url ~ "^/(v1/hashtags/|v1/trending|tags/|openapi\.json|docs|\?)") {
		set req.url = regsub(req.url, "\?.*$", "");
	}
	if (req.method != "GET" && req.method != "HEAD") {
		return (pass);
	}
	if (req.http.Authorization) {
		return (pass);
	}
	# tagstream sets no cookie and reads none: another application's
	# cookie on the same domain must not make every page a pass.
	unset req.http.Cookie;
	if (req.http.X-Tagstream-Stale) {
		# Restarted after the origin failed (vcl_synth): any grace the
		# object has left, that is its stale-if-error. (req.grace outlives
		# a restart, and the first pass set it to 0; it cannot be unset.)
		set req.grace = 3650d;
		return (hash);
	}
	if (std.healthy(req.backend_hint)) {
		# No stale-while-revalidate while the origin answers: a purged
		# page must not be served once more. Misses are cheap (the API
		# keeps its encoded pages) and coalesced.
		set req.grace = 0s;
	}
	return (hash);
}

# The URL alone: Host is the deployment's, and a client's Host header
# must not split the cache (or fill it).
sub vcl_hash {
	hash_data(req.url);
	return (lookup);
}

sub vcl_hit {
	if (obj.ttl <= 0s) {
		set req.http.X-Cache = "STALE";
	} else {
		set req.http.X-Cache = "HIT";
	}
}

sub vcl_miss {
	set req.http.X-Cache = "MISS";
}

sub vcl_pass {
	set req.http.X-Cache = "PASS";
}

sub vcl_backend_response {
	# A background refresh that fails keeps the stale object.
	if (beresp.status >= 500 && bereq.is_bgfetch) {
		return (abandon);
	}
	# A failed fetch for a waiting client: vcl_synth restarts it to be
	# served stale, if there is a stale copy. Not for an image, which never
	# has one (no grace): its 503 with Retry-After goes to the client as
	# it is, not to a busy origin a second time.
	if (beresp.status >= 500 && !bereq.uncacheable && !bereq.http.X-Tagstream-Stale && bereq.url !~ "^/img/") {
		return (abandon);
	}
	set beresp.http.xkey = beresp.http.Surrogate-Key;
	unset beresp.http.Surrogate-Key;
	# Surrogate-Control is for this edge alone (tagstream sends it when it
	# purges this edge on every change: api.Config.EdgeMaxAge), and wins
	# over Cache-Control here, as on Fastly; nobody after sees it.
	if (beresp.http.Surrogate-Control ~ "(^|[ ,])max-age=[0-9]+") {
		set beresp.ttl = std.duration(regsub(beresp.http.Surrogate-Control, "^(.*[ ,])?max-age=([0-9]+).*$", "\2") + "s", beresp.ttl);
	}
	unset beresp.http.Surrogate-Control;
	# What Varnish's built-in vcl_backend_response would do, which the
	# return below skips: no-store, private, no-cache, a cookie, Vary: *
	# or no TTL are never cached (hit-for-miss for 2 minutes), e.g. an
	# image's 404 or a reservation.
	if (beresp.ttl <= 0s || beresp.http.Set-Cookie || beresp.http.Vary == "*" ||
	    beresp.http.Cache-Control ~ "(?i)(no-store|no-cache|private)") {
		set beresp.ttl = 120s;
		set beresp.uncacheable = true;
		return (deliver);
	}
	# Grace is stale-if-error and nothing else (not Varnish's default 10 s
	# nor stale-while-revalidate, see vcl_recv): a signed image has none,
	# so it is never served after its URL expired.
	set beresp.grace = 0s;
	if (beresp.http.Cache-Control ~ "stale-if-error=[0-9]+") {
		set beresp.grace = std.duration(regsub(beresp.http.Cache-Control, "^.*stale-if-error=([0-9]+).*$", "\1") + "s", 0s);
	}
	# Kept after grace for revalidation: a purged page that did not change
	# after all costs the origin a 304.
	if (beresp.http.ETag && bereq.url !~ "^/img/") {
		set beresp.keep = 1h;
	}
	# The origin compresses its document, not its JSON: the edge does.
	if (beresp.http.Content-Type ~ "^application/json") {
		set beresp.do_gzip = true;
	}
	return (deliver);
}

sub vcl_backend_error {
	if (bereq.is_bgfetch || (!bereq.uncacheable && !bereq.http.X-Tagstream-Stale && bereq.url !~ "^/img/")) {
		return (abandon);
	}
	set beresp.http.Content-Type = "application/json; charset=utf-8";
	set beresp.body = {"{"error": "the origin is unavailable and the edge has no copy" }"};
	return (deliver);
}

sub vcl_synth {
	if (req.method == "PURGE" && resp.status == 200) {
		set resp.http.X-Purged = req.http.X-Purged;
		set resp.http.Content-Type = "application/json; charset=utf-8";
		set resp.body = {"{"purged": "} + req.http.X-Purged + {" }"};
		return (deliver);
	}
	# The origin failed a cacheable request: once, look for a stale copy.
	if (resp.status == 503 && req.restarts == 0 && !req.http.X-Tagstream-Stale &&
	    (req.method == "GET" || req.method == "HEAD") && !req.http.Authorization) {
		set req.http.X-Tagstream-Stale = "1";
		return (restart);
	}
	# tagstream's error shape: {"error": "..."}
	set resp.http.Content-Type = "application/json; charset=utf-8";
	set resp.body = {"{"error": ""} + resp.reason + {"" }"};
	return (deliver);
}

sub vcl_deliver {
	set resp.http.X-Cache = req.http.X-Cache;
	unset resp.http.xkey;
	# A passed answer (a GET with Authorization) was not stripped when
	# fetched: the keys and the edge's own max-age are for the edge alone.
	unset resp.http.Surrogate-Key;
	unset resp.http.Surrogate-Control;
	unset resp.http.Via;
	unset resp.http.X-Varnish;
}
