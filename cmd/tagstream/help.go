package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// help is what `tagstream <command> -h` says before the flags: what the
// command is for, what it reads and writes, and an example.
type help struct{ purpose, formats, example string }

var helps = map[string]help{
	"run": {"everything in one process: an embedded Kafka broker persisted under --data, the processors, the ranking, the HTTP API, the page, and photos in an embedded store",
		"in: HTTP requests (README, HTTP API; /openapi.json describes them) and any Kafka client at --kafka-listen; out: the page at /, JSON at /v1/..., the broker's topics (topology.md)",
		"tagstream run --demo          # then open the page it prints"},
	"worker": {"the processors (extractor, counts, lists) against a Kafka cluster; run several to share the partitions",
		"in: the posts and likes topics; out: the hashtag tables and their changelogs, dead-letters (topology.md)",
		"tagstream worker --brokers k1:9092,k2:9092 --instance-id worker-0 --state-dir /var/lib/tagstream"},
	"rank": {"the ranking (each hashtag's top posts by likes and age) and the trending hashtags",
		"in: post-changes; out: hashtag-top-posts, hashtag-trending-partials",
		"tagstream rank --brokers k1:9092 --rank-interval 30s"},
	"api": {"the HTTP API and the page, reading the tables through goka views (or the Cassandra snapshot)",
		"in: HTTP requests (/openapi.json describes them, /docs renders it); out: JSON, the page, resized images, posts and likes appended to Kafka, purges of the edge in front (--edge-purge)",
		"TAGSTREAM_SECRET=$(cat /run/secrets/token) tagstream api --brokers k1:9092 --http :8080 --edge-purge http://varnish:6082"},
	"snapshot": {"batched snapshots of the hashtag tables into Cassandra, with health on --http; with --init-schema, create the keyspace and tables once and exit",
		"in: the tables' changelogs; out: rows of the hashtags and trending tables (README, Snapshots in Cassandra)",
		"tagstream snapshot --init-schema --cassandra c1:9042 --keyspace-replication NetworkTopologyStrategy:dc1=3 && tagstream snapshot --brokers k1:9092 --cassandra c1:9042 --cassandra-user tagstream --cassandra-password-file /run/secrets/cassandra"},
	"replay": {"rebuild the state from a point of the posts log into a new generation while the current one serves, then switch to it",
		"in: posts and likes from --from; out: a new generation's topics and tables, progress lines on stdout",
		"tagstream replay --brokers k1:9092 --from 2026-11-01T00:00:00Z"},
	"backup": {"copy the source of truth, every committed record of the posts and likes logs, into a new folder: one file per partition and a manifest of their sizes and SHA-256, written last; the deployment keeps running (README, Disaster recovery)",
		"in: posts and likes; out: --backup-dir/manifest.json, posts-<p>.records, likes-<p>.records; a line of what it copied",
		"tagstream backup --brokers k1:9092 --backup-dir /backups/tagstream-$(date -u +%Y%m%dT%H%MZ)"},
	"restore": {"write a backup into the posts and likes of a deployment that has none (a new cluster, or a new --namespace), each record into its partition, in order, with its key, headers and time; " +
		"the whole backup is checked first, and nothing is written if any file differs from the manifest. Then start the workers, the ranking and the API: they rebuild every table from these logs",
		"in: --backup-dir; out: records on posts and likes, progress lines",
		"tagstream restore --brokers new1:9092 --partitions 12 --replication 3 --backup-dir /backups/tagstream-20261130T1900Z"},
	"purge": {"make the edges in front of the API forget what readers see of a hashtag, an image, or every page (the API purges changes itself; this empties the edge only: delete the posts or the original first for a takedown)",
		"in: targets #<hashtag>, img:<user_id>/<image_id>, pages, trending or site; out: one line naming the keys purged, or the edges' errors",
		"tagstream purge --edge-purge http://varnish:6082 --hard '#spam' img:alice/0189f2c4"},
	"hashtags": {"the hashtags of captions, by the rules the counts use",
		"in: JSON Lines of JSON strings on stdin; out: one JSON array per line (null for a bad line, reported on stderr)",
		`echo '"Golden hour #Sunset #beach"' | tagstream hashtags --keys`},
	"emit top-posts": {"publish top-post documents of an outside ranking job",
		"in: JSON Lines of top-post documents on stdin; out: records on hashtag-top-posts keyed by hashtag; bad lines reported and skipped",
		`echo '{"hashtag":"#Sunset","computed_at":"2026-11-27T10:00:00Z","posts":[{"post_id":"p1","user_id":"alice"}]}' | tagstream emit top-posts --brokers k1:9092`},
	"acls": {"print each role's Kafka ACLs, or create them (and the roles' SCRAM users) as a superuser",
		"in: role=user pairs as arguments; out: the ACLs, one per line",
		"tagstream acls --brokers k1:9092 api=tagstream-api worker=tagstream-worker"},
	"s3-init": {"create the photos' bucket (--s3-bucket) if missing and put its CORS rule (--cors-origins), with a key that may: " +
		"for an API whose key is limited to the bucket and runs with --s3-create-bucket=false",
		"in: flags; out: one line naming the bucket and its CORS rule, or the S3 error",
		"TAGSTREAM_S3_SECRET_KEY_FILE=/run/secrets/s3-admin tagstream s3-init --s3-endpoint https://s3:9000 --s3-ca /run/secrets/ca.pem --s3-access-key admin --cors-origins https://app.example.com"},
	"token": {"mint a bearer token for --user",
		"out: the token (HS256 JWT) on stdout",
		"TOKEN=$(tagstream token --user alice --ttl 1h)"},
	"dead-letters": {"print the input records the processors rejected, from the dead-letters topic, to find why; --follow for new ones (reading it takes the admin principal: no role reads it)",
		"in: dead-letters; out: one line each: <partition>:<offset> (the dead letter's own place, for republish --offsets), time, reason, " +
			"source <topic>/<partition>@<offset>, group=, key=, error=, value= escaped and cut to 80 characters, (size); " +
			"a record that is not a dead letter as MALFORMED; or, with --json, JSON Lines of {partition, offset, timestamp, dead_letter | malformed, raw}",
		"tagstream dead-letters --brokers k1:9092 --from 20 --reason bad_json --follow"},
	"dead-letters republish": {"send the original key and value of chosen dead letters back to their source topic, posts or likes, once what rejected them is fixed; " +
		"a dead letter whose value was cut to 4 KiB, or whose copy does not match its recorded size and SHA-256, is refused, as is any other topic",
		"in: dead-letters, selected by --offsets, --reason or --source-topic (at least one); out: records on posts or likes, and a line for each dead letter: " +
			"republished (with the new record's place), would republish (--dry-run), refused (why) or not found; non-zero exit if any was not republished",
		"tagstream dead-letters republish --brokers k1:9092 --offsets 3:17,5:2 --dry-run"},
	"load": {"generate posts (and likes) and check every count the API serves against the truth",
		"in: flags; out: what each group took, and any count that differs (non-zero exit)",
		"tagstream load --posts 100000 --via kafka --brokers k1:9092"},
}

// withHelp makes fs's -h print the command's purpose, formats and example
// before its flags.
func withHelp(fs *flag.FlagSet) *flag.FlagSet {
	cmd := strings.TrimPrefix(fs.Name(), "tagstream ")
	h, ok := helps[cmd]
	fs.Usage = func() {
		w := fs.Output()
		if ok {
			fmt.Fprintf(w, "tagstream %s: %s\n\n  %s\n\nexample:\n  %s\n\nflags (each also TAGSTREAM_<FLAG>):\n", cmd, h.purpose, h.formats, h.example)
		} else {
			fmt.Fprintf(w, "usage of tagstream %s:\n", cmd)
		}
		fs.PrintDefaults()
	}
	return fs
}

// version is what `tagstream --version` prints: the module's version and
// the commit it was built from, from the build information Go embeds.
func version(w io.Writer) { fmt.Fprintln(w, "tagstream "+versionString()) }

// versionString is the module's version, the commit and its time when
// the build recorded them, and the Go version.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build information)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	v := bi.Main.Version
	if rev := settings["vcs.revision"]; rev != "" {
		v += " " + rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			v += "+modified"
		}
		if t := settings["vcs.time"]; t != "" {
			v += " (" + t + ")"
		}
	}
	return v + " " + bi.GoVersion
}
