# The compose deployment's side of tagstream.vcl: the API behind the edge
# and who may purge. "api" is resolved by Docker's DNS when the VCL loads,
# to one address: Varnish refuses a backend host with more than one IPv4
# address, so this serves one api replica (docker/README.md, The edge).
backend default {
	.host = "api";
	.port = "8080";
	.connect_timeout = 2s;
	.first_byte_timeout = 15s;
	.probe = {
		.url = "/readyz";
		.interval = 1s;
		.timeout = 1s;
		.window = 3;
		.threshold = 2;
		.initial = 2;
	}
}

# The API processes purge (--edge-purge): the compose network.
acl purgers {
	"127.0.0.1";
	"::1";
	"172.16.0.0"/12;
	"192.168.0.0"/16;
	"10.0.0.0"/8;
}

# PURGE only on the purge listener (varnishd -a purge=:6082 in compose.yaml),
# which is not published: a client of the published port can have a private
# address too (Docker's proxy for loopback, a LAN), which the ACL admits.
# Included before tagstream.vcl's vcl_recv, so this runs first.
sub vcl_recv {
	if (req.method == "PURGE" && local.socket != "purge") {
		return (synth(403, "purge is not allowed on this listener"));
	}
}
