# The compose deployment's side of tagstream.vcl: the API replicas behind
# the edge (Docker's DNS, re-resolved on each VCL load) and who may purge.
backend default {
	.host = "api";
	.port = "8080";
	.connect_timeout = 2s;
	.first_byte_timeout = 15s;
	.probe = {
		.url = "/healthz";
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
