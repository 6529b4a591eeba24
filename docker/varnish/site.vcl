# The compose deployment's side of tagstream.vcl: the API replicas behind
# the edge and who may purge. Compose-only: the edge tests and
# scripts/bench-read.sh write a site.vcl of their own (one static backend),
# found first on their vcl_path.
#
# The backends come from vmod_dynamic, which the official varnish image
# builds in (varnish:7.7.3: libvmod-dynamic 7.7, beside varnish-modules):
# a static backend's .host must resolve to one address when the VCL loads
# (Varnish refuses one with several, and never resolves it again), while
# Docker's DNS answers "api" with one address per replica
# (`docker compose up --scale api=N`). The director resolves "api" every
# ttl, round-robins over every address it got, probes each one on /readyz
# and skips the sick ones; a replica that stops answering is dropped at
# the next lookup (keep: one more lookup), a new one is used once its
# probe passes.

import dynamic;

# Every backend is the director's; this only satisfies the compiler's
# demand for a backend.
backend default none;

probe api_ready {
	.url = "/readyz";
	.interval = 1s;
	.timeout = 1s;
	.window = 3;
	.threshold = 2;
	# Healthy until proved sick: a replica found by a lookup takes traffic
	# at once (the api is healthy before the edge starts, and a new one is
	# only resolvable once it runs).
	.initial = 2;
}

sub vcl_init {
	new apis = dynamic.director(
		port = "8080",
		probe = api_ready,
		# How often "api" is resolved again: how soon a new replica gets
		# traffic, or a removed one none (its probe marks it sick sooner).
		ttl = 5s,
		keep = 1,
		connect_timeout = 2s,
		first_byte_timeout = 15s);
}

# The API processes purge (--edge-purge): the compose network.
acl purgers {
	"127.0.0.1";
	"::1";
	"172.16.0.0"/12;
	"192.168.0.0"/16;
	"10.0.0.0"/8;
}

# Included before tagstream.vcl's vcl_recv, so this runs first: every
# request's backend is a replica of the api (tagstream.vcl asks whether it
# is healthy), and PURGE is taken only on the purge listener (varnishd -a
# purge=:6082 in compose.yaml), which is not published: a client of the
# published port can have a private address too (Docker's proxy for
# loopback, a LAN), which the ACL admits.
sub vcl_recv {
	set req.backend_hint = apis.backend("api");
	if (req.method == "PURGE" && local.socket != "purge") {
		return (synth(403, "purge is not allowed on this listener"));
	}
}
