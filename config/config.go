// Package config is the one place that reads tagstream's flags and
// TAGSTREAM_* environment variables into a Config with defaults.
//
// Precedence: a flag on the command line, then TAGSTREAM_<FLAG> (upper case,
// '-' as '_'), then the default.
package config

import (
	"flag"
	"fmt"
	"github.com/gocql/gocql"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagstream/tagstream/cors"
)

// Config is every setting of every subcommand; each subcommand binds the
// flags it uses.
type Config struct {
	// Brokers is --brokers: Kafka bootstrap servers, comma-separated.
	Brokers []string
	// Namespace is --namespace: the prefix of every topic, group and
	// transactional id (topology.Namespace).
	Namespace string
	// KafkaUser, KafkaPassword and KafkaSASLMechanism are --kafka-user,
	// --kafka-password and --kafka-sasl-mechanism: the principal a process
	// authenticates as.
	KafkaUser, KafkaPassword, KafkaSASLMechanism string
	// KafkaTLS is --kafka-tls, --kafka-ca, --kafka-cert and --kafka-key:
	// every Kafka client's TLS (with --kafka-user, SASL_SSL). Off by
	// default.
	KafkaTLS TLS
	// RolePasswords are --api-password, --worker-password, --rank-password
	// and --reader-password, by role: `acls --create-users` gives each
	// role's user SCRAM credentials with them.
	RolePasswords map[string]string
	// CreateUsers is --create-users of `acls`.
	CreateUsers bool
	// Data is --data: the directory of `tagstream run`'s broker, state and secret.
	Data string
	// Demo is --demo of `run`: seed a few hundred posts with photos and
	// likes on the first start of a data directory (package demo).
	Demo bool
	// HTTP is --http: the API's listen address.
	HTTP string
	// KafkaListen is --kafka-listen: where the embedded broker listens.
	KafkaListen string
	// Partitions is --partitions: partitions of every created topic.
	Partitions int
	// Replication is --replication: replication factor of created topics.
	Replication int
	// StateDir is --state-dir: where a process journals its tables and the
	// extractor's post states (package journal); empty = memory only.
	StateDir string
	// Secret is --secret: the HS256 secret of bearer tokens.
	Secret string
	// CDNBase is --cdn-base: the base URL of image URLs.
	CDNBase string
	// CORSOrigins is --cors-origins: the web origins whose scripts may
	// call the API and upload photos (package cors); empty = none.
	CORSOrigins []string
	// User is --user: the subject of a minted token.
	User string
	// TTL is --ttl: how long a minted token is valid.
	TTL time.Duration
	// TokenMaxTTL is --token-max-ttl: the longest token lifetime minted or
	// accepted.
	TokenMaxTTL time.Duration
	// WriteRate and WriteBurst are --write-rate and --write-burst: each
	// user's writes per second and at once.
	WriteRate  float64
	WriteBurst int
	// MaxConnections is --max-connections: open HTTP connections at most.
	MaxConnections int
	// Pprof is --pprof: if set, the address of net/http/pprof.
	Pprof string
	// Metrics is --metrics of worker and rank: where they serve /metrics
	// and /healthz (empty: off).
	Metrics string
	// LogLevel is --log-level: debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is --log-format: text or json.
	LogFormat string
	// Keys is --keys: `hashtags` prints distinct normalised keys.
	Keys bool
	// InstanceID is --instance-id: this worker's stable, unique name
	// (transactional.id suffix and group.instance.id).
	InstanceID string
	// ExactlyOnce is --exactly-once: the extractor's Kafka transactions.
	ExactlyOnce bool
	// Groups is --groups: the worker's groups this process runs, by their
	// base names (topology.md, Groups); default all four.
	Groups []string
	// CommitInterval is --commit-interval: how long one extractor
	// transaction collects records (processors.Options.CommitInterval).
	CommitInterval time.Duration
	// From is --from: where `replay` starts in posts.
	From string
	// Rank holds the flags of the ranking (`tagstream rank`, and inside
	// `tagstream run`).
	Rank Rank
	// Load holds the flags of `tagstream load`.
	Load Load
	// DeadLetters holds the flags of `tagstream dead-letters`.
	DeadLetters DeadLetters
	// BackupDir is --backup-dir: the folder `tagstream backup` makes and
	// `tagstream restore` reads.
	BackupDir string
	// Media holds the photo flags: storage, signing keys, limits.
	Media Media
	// Snapshot holds the Cassandra flags of the snapshotter and of
	// `api --source cassandra`.
	Snapshot Snapshot
	// Edge holds the flags of the purges sent to the edge.
	Edge Edge
}

// Edge configures the purges an API sends to the cache in front of it
// (package edge).
type Edge struct {
	// Purge is --edge-purge: the Varnish edges to purge, as URLs,
	// comma-separated; empty = no purges (pages expire by max-age alone).
	Purge []string
	// Interval is --edge-purge-interval: how long changed keys are
	// collected before one purge (edge.QueueConfig.Interval).
	Interval time.Duration
	// MaxAge is --edge-max-age: how long the purged edge may keep pages
	// (api.Config.EdgeMaxAge), with --edge-purge only.
	MaxAge time.Duration
	// Hard is --hard of `purge`: remove the objects, stale copies too.
	Hard bool
}

// Media configures image storage, uploads and image URLs.
type Media struct {
	// S3Endpoint is --s3-endpoint: the S3 server's URL; empty = no S3
	// (run: the embedded store under --data; api: uploads answer 503).
	S3Endpoint string
	// S3PublicEndpoint is --s3-public-endpoint: the URL browsers post
	// uploads to, when it differs from S3Endpoint (e.g. behind a proxy).
	S3PublicEndpoint string
	// S3AccessKey, S3SecretKey and S3Region are the S3 credentials.
	S3AccessKey, S3SecretKey, S3Region string
	// S3Bucket is --s3-bucket: the bucket of the original images.
	S3Bucket string
	// S3CA is --s3-ca: a PEM file of the CAs to trust for an https
	// --s3-endpoint; empty = the system's (the AWS CLI's --ca-bundle).
	S3CA string
	// S3CreateBucket is --s3-create-bucket (default true): create the
	// bucket at start when missing and put its CORS rule. False for a key
	// limited to the bucket (no s3:CreateBucket, s3:PutBucketCORS): the
	// bucket is then made by `tagstream s3-init` with an admin key, and a
	// missing one stops the start.
	S3CreateBucket bool
	// ImageKeys is --image-keys: "kid:base64,..." image-URL signing keys;
	// empty = run generates one into --data, api derives one from --secret.
	ImageKeys string
	// UploadMaxSize is --upload-max-size: the largest upload, in bytes.
	UploadMaxSize int64
	// ImageWidths is --image-widths: the widths the origin resizes to.
	ImageWidths []int
	// DecodeBudget is --image-decode-budget: bytes the origin's decodes
	// may hold at once.
	DecodeBudget int64
}

// Snapshot configures the Cassandra snapshot.
type Snapshot struct {
	// Cassandra is --cassandra: contact points, host:port, comma-separated;
	// empty = no snapshotter in `tagstream run`.
	Cassandra []string
	// Keyspace is --keyspace.
	Keyspace string
	// Replication is --keyspace-replication: the replication of the
	// keyspace --init-schema creates (snapshot.ParseReplication's forms).
	Replication string
	// Interval is --snapshot-interval: how often changed rows are written.
	Interval time.Duration
	// Source is --source: where `tagstream api` reads pages, views or
	// cassandra.
	Source string
	// LocalDC is --cassandra-local-dc: the data centre requests go to
	// first; empty = every node is local.
	LocalDC string
	// Consistency is --cassandra-consistency; zero = snapshot's default,
	// LOCAL_QUORUM.
	Consistency gocql.Consistency
	// User and Password are --cassandra-user and --cassandra-password:
	// the role to log in as (PasswordAuthenticator); empty = no login.
	User, Password string
	// TLS is --cassandra-tls, --cassandra-ca, --cassandra-cert and
	// --cassandra-key: encrypt the connections (Cassandra's
	// client_encryption_options), verifying the nodes' certificates. Off
	// by default; any of the files turns it on.
	TLS TLS
	// InitSchema is --init-schema of `snapshot`: create the keyspace and
	// tables, then exit.
	InitSchema bool
}

// Rank configures the ranking and the trending windows.
type Rank struct {
	// On is --rank: whether `tagstream run` ranks (false leaves
	// hashtag-top-posts to an outside job).
	On bool
	// Interval is --rank-interval: the least time between two documents
	// of a hashtag, and between two trending refreshes.
	Interval time.Duration
	// HalfLife is --rank-half-life: the time in which a post's score
	// halves without new likes.
	HalfLife time.Duration
}

// DeadLetters selects and prints dead letters (`tagstream dead-letters`);
// its --from is From.
type DeadLetters struct {
	// Follow is --follow: keep printing new dead letters until stopped.
	Follow bool
	// JSON is --json: JSON Lines instead of one line of text each.
	JSON bool
	// Reasons and SourceTopics are --reason and --source-topic: the dead
	// letters of these reasons, of records of these topics.
	Reasons, SourceTopics []string
	// Offsets is --offsets of republish: <partition>:<offset> of dead
	// letters, as the listing's first column shows them.
	Offsets []string
	// DryRun is --dry-run of republish: say what would be sent, send nothing.
	DryRun bool
}

// Load configures the load generator.
type Load struct {
	Posts       int
	Seed        int64
	Via         string
	API         string
	Users       int
	Tags        int
	PerPost     int
	Zipf        float64
	Likes       int
	Concurrency int
	Timeout     time.Duration
}

// Defaults returns the configuration of a laptop running `tagstream run`.
func Defaults() Config {
	return Config{
		Brokers:     []string{"127.0.0.1:9092"},
		Data:        "./data",
		HTTP:        "127.0.0.1:8080",
		KafkaListen: "127.0.0.1:9092",
		Partitions:  12,
		Replication: 1,
		TTL:         24 * time.Hour,
		// token.DefaultMaxTTL; api.Config's write limit defaults.
		TokenMaxTTL:    7 * 24 * time.Hour,
		WriteRate:      0.5,
		WriteBurst:     30,
		MaxConnections: 10_000,
		ExactlyOnce:    true,
		// processors.WorkerGroups
		Groups: []string{"extractor", "hashtag-counts", "hashtag-top", "hashtag-recent"},
		// processors.DefaultCommitInterval
		CommitInterval: time.Second,
		LogLevel:       "info",
		LogFormat:      "text",
		// processors.RankOptions' defaults.
		Rank: Rank{On: true, Interval: time.Minute, HalfLife: 6 * time.Hour},
		// edge.DefaultInterval
		Edge: Edge{Interval: time.Second, MaxAge: 10 * time.Minute},
		// kafka.ScramSHA512
		KafkaSASLMechanism: "SCRAM-SHA-512",
		Load: Load{
			Posts: 100_000, Seed: 1, Via: "kafka", API: "http://127.0.0.1:8080",
			Users: 100_000, Tags: 50_000, PerPost: 8, Zipf: 1.1, Concurrency: 32,
			Timeout: 30 * time.Minute,
		},
		// The defaults of media.NewS3, media.UploadConfig and
		// media.OriginConfig, spelled out so that -h shows them.
		Media: Media{
			S3Region: "us-east-1", S3Bucket: "tagstream-images", S3CreateBucket: true,
			UploadMaxSize: 20 << 20, ImageWidths: []int{160, 320, 360, 640, 1080},
			DecodeBudget: 256 << 20, // media.DefaultDecodeBudget
		},
		// snapshot.DefaultKeyspace, DefaultReplication and DefaultInterval.
		Snapshot: Snapshot{
			Keyspace: "tagstream", Replication: "SimpleStrategy:1",
			Interval: 5 * time.Second, Source: "views",
		},
	}
}

type list struct{ p *[]string }

func (l list) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l list) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	if len(out) == 0 {
		return fmt.Errorf("empty list")
	}
	*l.p = out
	return nil
}

type ints struct{ p *[]int }

func (l ints) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, n := range *l.p {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l ints) Set(s string) error {
	var out []int
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive whole number", part)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return fmt.Errorf("empty list")
	}
	*l.p = out
	return nil
}

// atLeast is a duration flag with a floor: a zero, negative or tiny
// value is refused with the floor named, not replaced by a default in
// silence (a --rank-interval of 1ns would sweep every hashtag as fast as
// the CPU allows).
type atLeast struct {
	p   *time.Duration
	min time.Duration
	max time.Duration // 0: no ceiling
}

func (a atLeast) String() string {
	if a.p == nil {
		return ""
	}
	return a.p.String()
}

func (a atLeast) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < a.min {
		return fmt.Errorf("%s is below the least allowed, %s", d, a.min)
	}
	if a.max > 0 && d > a.max {
		return fmt.Errorf("%s is above the most allowed, %s", d, a.max)
	}
	*a.p = d
	return nil
}

// subset is a list flag whose items are among a few values, each once.
type subset struct {
	list
	values []string
}

func (s subset) Set(v string) error {
	var chosen []string
	if err := (list{&chosen}).Set(v); err != nil {
		return err
	}
	for i, c := range chosen {
		if !slices.Contains(s.values, c) {
			return fmt.Errorf("%q: want some of %s", c, strings.Join(s.values, ", "))
		}
		if slices.Contains(chosen[:i], c) {
			return fmt.Errorf("%q given twice", c)
		}
	}
	*s.p = chosen
	return nil
}

// origins is a list flag of web origins, each as a browser sends it, or
// "*" alone (cors.Parse): a misspelt origin would match no browser, in
// silence, so it is refused at start.
type origins struct{ list }

// purgeURLs are --edge-purge's: http or https URLs with a host.
type purgeURLs struct{ list }

func (p purgeURLs) Set(v string) error {
	var out []string
	if err := (list{&out}).Set(v); err != nil {
		return err
	}
	for _, s := range out {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q is not an http(s) URL of an edge, e.g. http://127.0.0.1:6082", s)
		}
	}
	*p.p = out
	return nil
}

func (o origins) Set(v string) error {
	var out []string
	if err := (list{&out}).Set(v); err != nil {
		return err
	}
	if _, err := cors.Parse(out); err != nil {
		return err
	}
	*o.p = out
	return nil
}

// oneOf is a string flag restricted to a few values.
type oneOf struct {
	p      *string
	values []string
}

func (o oneOf) String() string {
	if o.p == nil {
		return ""
	}
	return *o.p
}

func (o oneOf) Set(s string) error {
	for _, v := range o.values {
		if s == v {
			*o.p = s
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(o.values, ", "))
}

var defs = map[string]func(fs *flag.FlagSet, c *Config, name string){
	"brokers": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(list{&c.Brokers}, n, "Kafka bootstrap servers, comma-separated (Kafka's bootstrap.servers)")
	},
	"namespace": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Namespace, n, c.Namespace, "prefix of every topic, group and transactional id, ending in '.' or '-', so that "+
			"deployments (or tests) share a cluster unseen by each other (empty: the names of topology.md)")
	},
	"kafka-user": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaUser, n, c.KafkaUser, "SASL user this process authenticates to Kafka as (empty: no SASL); its ACLs decide what it may do "+
			"(topology.md, Principals and ACLs)")
	},
	"kafka-password": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaPassword, n, c.KafkaPassword, "SASL password of --kafka-user (prefer --kafka-password-file: flags show in ps, variables in docker inspect)")
	},
	"kafka-sasl-mechanism": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(oneOf{&c.KafkaSASLMechanism, []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}}, n,
			"SASL mechanism of --kafka-user: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (Kafka's sasl.mechanism)")
	},
	"kafka-tls": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.KafkaTLS.On, n, c.KafkaTLS.On, "connect to Kafka over TLS, 1.2 at least (Kafka's security.protocol SSL, or SASL_SSL with --kafka-user); "+
			"implied by --kafka-ca, --kafka-cert and --kafka-key (default false: plaintext)")
	},
	"kafka-ca": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaTLS.CA, n, c.KafkaTLS.CA, "PEM file of the CA certificates the brokers' certificates must chain to "+
			"(Kafka's ssl.truststore.location; default empty: the system's CAs)")
	},
	"kafka-cert": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaTLS.Cert, n, c.KafkaTLS.Cert, "PEM file of this client's certificate chain, for brokers that ask for one (mutual TLS; "+
			"Kafka's ssl.keystore.location); needs --kafka-key (default empty: none)")
	},
	"kafka-key": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaTLS.Key, n, c.KafkaTLS.Key, "PEM file of the unencrypted private key of --kafka-cert (PKCS#8, PKCS#1 or EC; "+
			"keep it mode 0600, e.g. a Docker secret) (default empty: none)")
	},
	"create-users": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.CreateUsers, n, c.CreateUsers, "also give each role=user its SCRAM-SHA-512 credentials, the password from --<role>-password")
	},
	"api-password":    rolePassword("api"),
	"worker-password": rolePassword("worker"),
	"rank-password":   rolePassword("rank"),
	"reader-password": rolePassword("reader"),
	"data": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Data, n, c.Data, "directory of the embedded broker's log, table state and the token secret")
	},
	"http": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.HTTP, n, c.HTTP, "HTTP API listen address")
	},
	"kafka-listen": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaListen, n, c.KafkaListen, "address the embedded Kafka broker listens on")
	},
	"partitions": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Partitions, n, c.Partitions, "partitions of every topic tagstream creates (bounds worker parallelism)")
	},
	"replication": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Replication, n, c.Replication, "replication factor of topics tagstream creates")
	},
	"state-dir": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.StateDir, n, c.StateDir, "directory of this process's table journals, its own and kept across its restarts, so a restart reads only the changelogs' tails (empty: tables in memory, read whole from Kafka at every start)")
	},
	"secret": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Secret, n, c.Secret, "HS256 secret of bearer tokens, at least 32 bytes (run: default is kept in --data)")
	},
	"instance-id": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.InstanceID, n, c.InstanceID, "this worker's name, unique among workers and stable across its restarts, e.g. the pod name "+
			"(Kafka's transactional.id suffix and group.instance.id; empty: random id, dynamic membership, slower recovery)")
	},
	"backup-dir": func(fs *flag.FlagSet, c *Config, n string) {
		if fs.Name() == "tagstream restore" {
			fs.StringVar(&c.BackupDir, n, "", "the folder of a backup made by tagstream backup (required)")
			return
		}
		fs.StringVar(&c.BackupDir, n, "", "the folder to make the backup in: new, or empty (required)")
	},
	"from": func(fs *flag.FlagSet, c *Config, n string) {
		// One variable, TAGSTREAM_FROM, for both commands: each reads
		// where it starts in its topic, in words that fit the topic.
		if strings.HasPrefix(fs.Name(), "tagstream dead-letters") {
			fs.StringVar(&c.From, n, "earliest", "where reading dead-letters starts: earliest, an RFC 3339 time (the first record at or after it), "+
				"or a number N, the last N dead letters selected (at most 1000), in time order")
			return
		}
		fs.StringVar(&c.From, n, "earliest", "where the replay starts in posts: earliest, an RFC 3339 time (the first record at or after it), "+
			"or <partition>=<offset>,... (partitions not listed start at the earliest)")
	},
	"follow": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.DeadLetters.Follow, n, c.DeadLetters.Follow, "after the dead letters there are, print new ones as they come until interrupted")
	},
	"json": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.DeadLetters.JSON, n, c.DeadLetters.JSON, "print JSON Lines (each record's place, timestamp and dead letter, the value in base64) instead of text")
	},
	"reason": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(list{&c.DeadLetters.Reasons}, n, "only dead letters of these reasons, comma-separated: bad_json, missing_field, invalid_field, key_mismatch, too_large, limit "+
			"(records that are not dead letters are always shown)")
	},
	"source-topic": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(list{&c.DeadLetters.SourceTopics}, n, "only dead letters of records of these topics, comma-separated, with or without --namespace (posts, likes, post-hashtags, ...)")
	},
	"offsets": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(list{&c.DeadLetters.Offsets}, n, "the dead letters to republish, <partition>:<offset>,... as the listing's first column shows them (--from is then not used)")
	},
	"dry-run": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.DeadLetters.DryRun, n, c.DeadLetters.DryRun, "say what would be republished, and publish nothing")
	},
	"exactly-once": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.ExactlyOnce, n, c.ExactlyOnce, "count every post exactly once across crashes with Kafka transactions "+
			"(Kafka Streams' processing.guarantee=exactly_once_v2); false only to measure what it costs")
	},
	"groups": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(subset{list{&c.Groups}, []string{"extractor", "hashtag-counts", "hashtag-top", "hashtag-recent"}}, n,
			"the worker's groups this process runs, comma-separated: extractor, hashtag-counts, hashtag-top, hashtag-recent "+
				"(topology.md, Groups); run the list groups (hashtag-top, hashtag-recent) in processes of their own to scale them apart from the counts")
	},
	"commit-interval": func(fs *flag.FlagSet, c *Config, n string) {
		// At most processors.MaxCommitInterval: a transaction must end
		// well within its timeout, likes' waits included.
		fs.Var(atLeast{p: &c.CommitInterval, min: 10 * time.Millisecond, max: 2500 * time.Millisecond}, n,
			"how long one extractor transaction collects posts and likes before it commits "+
				"(Kafka Streams' commit.interval.ms; 10ms to 2.5s): longer batches a hot hashtag's list rewrites, shorter brings counts and lists sooner")
	},
	"demo": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Demo, n, c.Demo, "on the first start of --data, seed 300 posts by 40 users across some 35 hashtags, each with a generated photo, "+
			"and likes, through the API as a client would (a later start seeds nothing: the data dir records it)")
	},
	"rank": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Rank.On, n, c.Rank.On, "rank posts by likes and age and publish each hashtag's top 100 to hashtag-top-posts, and keep the trending hashtags "+
			"(run: in this process; replay: for the new generation too; false: hashtag-top-posts is left to an outside ranking job and GET /v1/trending stays empty)")
	},
	"rank-interval": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(atLeast{p: &c.Rank.Interval, min: time.Second}, n, "the least time between two top-posts documents of one hashtag, and between two refreshes of GET /v1/trending (at least 1s)")
	},
	"rank-half-life": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(atLeast{p: &c.Rank.HalfLife, min: time.Minute}, n, "the time in which a post's score (its likes) halves: score = likes * 2^(-age/half-life), at least 1m; change it with a replay")
	},
	"log-level": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(oneOf{&c.LogLevel, []string{"debug", "info", "warn", "error"}}, n,
			"least severe log level written to stderr: debug, info (a line per request, start and stop, rebalances, table recoveries, "+
				"snapshot flushes, aborted transactions, generation moves), warn or error")
	},
	"log-format": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(oneOf{&c.LogFormat, []string{"text", "json"}}, n, "log lines on stderr as text (key=value) or json (one object per line, for a log shipper)")
	},
	"cdn-base": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.CDNBase, n, c.CDNBase, "base URL of image URLs (default: this API's /img origin)")
	},
	"edge-purge": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(purgeURLs{list{&c.Edge.Purge}}, n, "Varnish edges in front of this API to purge when a hashtag's page or the trending list changes, "+
			"as URLs of their purge listeners, comma-separated, e.g. http://127.0.0.1:6082 (docker/varnish/tagstream.vcl: an xkey soft purge; each edge gets every purge, from a queue of its own) "+
			"(default empty: no purges, cached pages expire by their max-age)")
	},
	"edge-purge-interval": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(atLeast{p: &c.Edge.Interval, min: 100 * time.Millisecond, max: time.Minute}, n,
			"how long changed pages are collected before one purge of them all (100ms to 1m): a page is purged at most once per interval, "+
				"however often it changes, and at most this long after it changed")
	},
	"hard": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Edge.Hard, n, c.Edge.Hard, "remove the objects instead of expiring them, so that not even a stale copy is served while the origin is down (a takedown)")
	},
	"edge-max-age": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(atLeast{p: &c.Edge.MaxAge, min: time.Second, max: 24 * time.Hour}, n,
			"with --edge-purge, how long the edge may keep a page or the trending list, purged on every change anyway "+
				"(Surrogate-Control: max-age, which only the edge sees; browsers keep the 5 s of Cache-Control; 1s to 24h). "+
				"Image URLs in pages live at least this long plus 10 minutes")
	},
	"cors-origins": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(origins{list{&c.CORSOrigins}}, n, "web origins whose scripts may call the API's /v1/ routes from a browser, and post photo uploads to the storage, comma-separated, "+
			"each exactly as browsers send it, e.g. https://app.example.com,http://localhost:3000, or * alone for any origin "+
			"(never with credentials: tokens travel in Authorization, not cookies); with --s3-endpoint the bucket's CORS configuration is replaced by a rule "+
			"allowing POST from them at start (default empty: no CORS headers at all, and the bucket's CORS left as it is)")
	},
	"s3-endpoint": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3Endpoint, n, c.Media.S3Endpoint, "URL of the S3 server holding the original images, e.g. http://127.0.0.1:19000 "+
			"(default empty: run keeps images in an embedded store under --data; api answers uploads and posts with an image_id with 503)")
	},
	"s3-public-endpoint": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3PublicEndpoint, n, c.Media.S3PublicEndpoint, "URL browsers post uploads to, if not --s3-endpoint (default: --s3-endpoint)")
	},
	"s3-access-key": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3AccessKey, n, c.Media.S3AccessKey, "S3 access key id")
	},
	"s3-secret-key": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3SecretKey, n, c.Media.S3SecretKey, "S3 secret access key")
	},
	"s3-region": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3Region, n, c.Media.S3Region, "S3 region, part of every signature")
	},
	"s3-bucket": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3Bucket, n, c.Media.S3Bucket, "S3 bucket of the original images (created at start if missing, unless --s3-create-bucket=false)")
	},
	"s3-ca": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.S3CA, n, c.Media.S3CA, "PEM file of the CAs to trust for an https --s3-endpoint, instead of the system's, as the AWS CLI's --ca-bundle "+
			"(default empty: the system's); refused with an http:// endpoint, which would not use TLS")
	},
	"s3-create-bucket": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Media.S3CreateBucket, n, c.Media.S3CreateBucket, "create --s3-bucket at start when missing and put its CORS rule (--cors-origins); "+
			"false for a key limited to the bucket (no s3:CreateBucket or s3:PutBucketCORS): then \"tagstream s3-init\" with an admin key makes the bucket, "+
			"and a missing bucket stops the start")
	},
	"image-keys": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Media.ImageKeys, n, c.Media.ImageKeys, "image-URL signing keys, kid:base64secret,... (secrets of 32+ bytes; the first signs, all verify) "+
			"(default empty: run generates one and keeps it in --data/image-keys; api derives one from --secret, which its replicas share)")
	},
	"upload-max-size": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Int64Var(&c.Media.UploadMaxSize, n, c.Media.UploadMaxSize, "largest photo upload in bytes (20971520 = 20 MiB)")
	},
	"image-decode-budget": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Int64Var(&c.Media.DecodeBudget, n, c.Media.DecodeBudget, "bytes the image origin's decodes may hold at once, estimated from each image's header "+
			"(268435456 = 256 MiB fits a 512 MiB process); a request that does not fit waits, then gets 503, an image that alone exceeds it 422")
	},
	"image-widths": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(ints{&c.Media.ImageWidths}, n, "widths in pixels the image origin resizes to, comma-separated; others get 400 (pages link 640)")
	},
	"cassandra-local-dc": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.LocalDC, n, c.Snapshot.LocalDC, "the Cassandra data centre this process runs in: requests go to its nodes, "+
			"the replicas of each key first, and elsewhere only when none answers (gocql's token-aware DC-aware policy; the DC of "+
			"cassandra-rackdc.properties, e.g. datacenter1) (default empty: every node is local)")
	},
	"cassandra-consistency": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Func(n, "consistency level of every Cassandra read and write: LOCAL_QUORUM, QUORUM, LOCAL_ONE, ONE, EACH_QUORUM or ALL "+
			"(default LOCAL_QUORUM: a quorum of the local data centre's replicas, --cassandra-local-dc)", func(v string) error {
			cl, err := gocql.ParseConsistencyWrapper(strings.ToUpper(strings.TrimSpace(v)))
			if err != nil {
				return err
			}
			switch cl {
			case gocql.Any, gocql.Two, gocql.Three:
				// ANY loses reads; TWO and THREE ignore data centres.
				return fmt.Errorf("%s is not offered: want LOCAL_QUORUM, QUORUM, LOCAL_ONE, ONE, EACH_QUORUM or ALL", cl)
			}
			c.Snapshot.Consistency = cl
			return nil
		})
	},
	"cassandra-user": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.User, n, c.Snapshot.User, "Cassandra role to log in as (authenticator: PasswordAuthenticator in cassandra.yaml) "+
			"(default empty: no login, which only AllowAllAuthenticator lets in)")
	},
	"cassandra-password": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.Password, n, c.Snapshot.Password, "password of --cassandra-user (prefer --cassandra-password-file: flags show in ps, variables in docker inspect)")
	},
	"cassandra-tls": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Snapshot.TLS.On, n, c.Snapshot.TLS.On, "connect to Cassandra over TLS (its client_encryption_options), verifying each node's certificate "+
			"and that it names the node's address; implied by --cassandra-ca, --cassandra-cert and --cassandra-key")
	},
	"cassandra-ca": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.TLS.CA, n, c.Snapshot.TLS.CA, "PEM file of the CAs a Cassandra node's certificate must chain to (default empty: the system's)")
	},
	"cassandra-cert": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.TLS.Cert, n, c.Snapshot.TLS.Cert, "PEM client certificate presented to Cassandra, for require_client_auth: true (mutual TLS); needs --cassandra-key")
	},
	"cassandra-key": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.TLS.Key, n, c.Snapshot.TLS.Key, "PEM private key of --cassandra-cert")
	},
	"init-schema": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Snapshot.InitSchema, n, c.Snapshot.InitSchema, "create the keyspace (--keyspace-replication), its types and tables, or bring an older "+
			"version's up to date, then exit: run it once before the snapshotters and APIs, which only check the schema is there (idempotent)")
	},
	"cassandra": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(list{&c.Snapshot.Cassandra}, n, "Cassandra contact points, host:port, comma-separated "+
			"(default empty: run starts no snapshotter; snapshot and api --source cassandra use 127.0.0.1:9042)")
	},
	"keyspace": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.Keyspace, n, c.Snapshot.Keyspace, "Cassandra keyspace of the hashtag snapshot")
	},
	"keyspace-replication": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Snapshot.Replication, n, c.Snapshot.Replication, "replication of the keyspace --init-schema creates: SimpleStrategy:N, "+
			"NetworkTopologyStrategy:dc1=N,dc2=N (each data centre's replicas), or the CQL map itself "+
			"(an existing keyspace is never altered; production: NetworkTopologyStrategy:dc1=3)")
	},
	"snapshot-interval": func(fs *flag.FlagSet, c *Config, n string) {
		fs.DurationVar(&c.Snapshot.Interval, n, c.Snapshot.Interval, "how often the snapshotter writes the hashtags changed since its last write to Cassandra")
	},
	"source": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(oneOf{&c.Snapshot.Source, []string{"views", "cassandra"}}, n, "where the API reads hashtag pages: views "+
			"(local goka views, a full copy of the tables) or cassandra (the snapshot: a stateless API)")
	},
	"user": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.User, n, c.User, "user the token is minted for")
	},
	"ttl": func(fs *flag.FlagSet, c *Config, n string) {
		fs.DurationVar(&c.TTL, n, c.TTL, "how long the token is valid (at most --token-max-ttl)")
	},
	"token-max-ttl": func(fs *flag.FlagSet, c *Config, n string) {
		fs.DurationVar(&c.TokenMaxTTL, n, c.TokenMaxTTL, "the longest token lifetime (exp - iat) minted or accepted: a person's session between two sign-ins")
	},
	"write-rate": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Float64Var(&c.WriteRate, n, c.WriteRate, "writes (posts, edits, deletes, upload reservations) per second each user may make after their burst; "+
			"over it the API answers 429 with Retry-After (negative: no limit)")
	},
	"write-burst": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.WriteBurst, n, c.WriteBurst, "writes each user may make at once before --write-rate applies")
	},
	"max-connections": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.MaxConnections, n, c.MaxConnections, "open HTTP connections at most; more wait to be accepted (each costs a few KB and a goroutine)")
	},
	"metrics": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Metrics, n, c.Metrics, "serve /metrics (Prometheus: records in and out, consumer lag, table sizes, transactions, Go runtime) "+
			"and /healthz on this address, e.g. :9464 (empty: off; api, run and snapshot serve /metrics on --http)")
	},
	"pprof": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Pprof, n, c.Pprof, "serve net/http/pprof on this address (empty: off)")
	},
	"keys": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Keys, n, c.Keys, "print distinct normalised keys (what counting uses) instead of hashtags as written")
	},
	"posts": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Posts, n, c.Load.Posts, "number of posts to create")
	},
	"seed": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Int64Var(&c.Load.Seed, n, c.Load.Seed, "random seed: the same seed makes the same posts")
	},
	"via": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Load.Via, n, c.Load.Via, "kafka (produce onto posts) or api (POST /v1/posts)")
	},
	"api": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Load.API, n, c.Load.API, "base URL of the API, read to check counts")
	},
	"users": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Users, n, c.Load.Users, "number of distinct users")
	},
	"tags": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Tags, n, c.Load.Tags, "hashtag vocabulary size")
	},
	"per-post": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.PerPost, n, c.Load.PerPost, "mean hashtags per post")
	},
	"zipf": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Float64Var(&c.Load.Zipf, n, c.Load.Zipf, "Zipf exponent s (> 1) of hashtag popularity")
	},
	"likes": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Likes, n, c.Load.Likes, "likes to give once every post is counted, Zipf (--zipf) over the posts, onto the likes topic (--via kafka); "+
			"prints how long every group took and what each table's changelog received per like")
	},
	"concurrency": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Concurrency, n, c.Load.Concurrency, "concurrent requests with --via api")
	},
	"timeout": func(fs *flag.FlagSet, c *Config, n string) {
		fs.DurationVar(&c.Load.Timeout, n, c.Load.Timeout, "how long to wait for the view to match")
	},
}

// rolePassword binds --<role>-password to c.RolePasswords[role].
func rolePassword(role string) func(fs *flag.FlagSet, c *Config, n string) {
	return func(fs *flag.FlagSet, c *Config, n string) {
		fs.Func(n, "with --create-users, the SCRAM password of the "+role+" role's user (prefer --"+n+"-file: flags show in ps, variables in docker inspect)",
			func(v string) error {
				if c.RolePasswords == nil {
					c.RolePasswords = map[string]string{}
				}
				c.RolePasswords[role] = v
				return nil
			})
	}
}

// FlagSet returns a flag set for the subcommand with the named flags bound
// to c. It panics on an unknown name: that is a programming error.
func FlagSet(cmd string, c *Config, names ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("tagstream "+cmd, flag.ContinueOnError)
	if slices.Contains(names, "log-level") {
		names = append(names, "log-format")
	}
	if slices.Contains(names, "cassandra") {
		// Whatever talks to Cassandra may run in one of its data centres,
		// and may have to log in and speak TLS.
		names = append(names, "cassandra-local-dc", "cassandra-consistency", "cassandra-user", "cassandra-password",
			"cassandra-tls", "cassandra-ca", "cassandra-cert", "cassandra-key")
	}
	if slices.Contains(names, "brokers") {
		// Whatever talks to Kafka may need to authenticate, and to do it over TLS.
		names = append(names, "namespace", "kafka-user", "kafka-password", "kafka-sasl-mechanism", "kafka-tls", "kafka-ca", "kafka-cert", "kafka-key")
	}
	for _, n := range names {
		def, ok := defs[n]
		if !ok {
			panic("config: unknown flag " + n)
		}
		if fs.Lookup(n) == nil {
			def(fs, c, n)
			if secretFlags[n] {
				fs.String(n+fileSuffix, "", "file holding --"+n+", e.g. a Docker or Kubernetes secret (/run/secrets/...), so that the value "+
					"shows in no process listing or environment; one trailing newline is dropped (or "+EnvName(n+fileSuffix)+")")
			}
		}
	}
	return fs
}

// secretFlags are the flags whose values are secrets: each has a
// --<name>-file form (and TAGSTREAM_<NAME>_FILE), and no error ever
// quotes its value.
var secretFlags = map[string]bool{
	"secret": true, "kafka-password": true, "s3-secret-key": true, "image-keys": true,
	"api-password": true, "worker-password": true, "rank-password": true, "reader-password": true,
	"cassandra-password": true,
}

const fileSuffix = "-file"

// maxSecretFileBytes bounds a secret file: a path given by mistake (a
// log, a device) must not be read whole into every process.
const maxSecretFileBytes = 64 << 10

// readSecretFile returns the secret in path without one trailing newline
// (echo and editors add it; no secret ends in one). Its errors name the
// file, never its content.
func readSecretFile(flagName, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("config: --%s: %w", flagName, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("config: --%s: read %s: %w", flagName, path, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("config: --%s: %s is over %d bytes: not a secret", flagName, path, maxSecretFileBytes)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("config: --%s: %s is empty", flagName, path)
	}
	return s, nil
}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return "TAGSTREAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args, then fills every flag not given on the command line
// from its TAGSTREAM_* variable, then reads the secrets given as files.
// The command line wins over the environment, a secret's file form
// included: --secret-file beats TAGSTREAM_SECRET. Both forms at one level
// (--secret and --secret-file, or both variables) is an error.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmd := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { cmd[f.Name] = true })
	env := map[string]bool{}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if cmd[f.Name] || err != nil {
			return
		}
		base, isFile := strings.CutSuffix(f.Name, fileSuffix)
		if (isFile && secretFlags[base] && cmd[base]) || (secretFlags[f.Name] && cmd[f.Name+fileSuffix]) {
			return // the other form of this secret is on the command line
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			env[f.Name] = true
			if e := fs.Set(f.Name, v); e != nil {
				shown := fmt.Sprintf("%q", v)
				if secretFlags[f.Name] {
					shown = "(a secret, not shown)"
				}
				err = fmt.Errorf("config: %s=%s: %w", EnvName(f.Name), shown, e)
			}
		}
	})
	if err != nil {
		return err
	}
	for n := range secretFlags {
		file := fs.Lookup(n + fileSuffix)
		if file == nil || file.Value.String() == "" {
			continue
		}
		switch {
		case cmd[n] && cmd[n+fileSuffix]:
			return fmt.Errorf("config: --%s and --%s given: give one", n, n+fileSuffix)
		case env[n] && env[n+fileSuffix]:
			return fmt.Errorf("config: %s and %s set: set one", EnvName(n), EnvName(n+fileSuffix))
		}
		v, err := readSecretFile(n+fileSuffix, file.Value.String())
		if err != nil {
			return err
		}
		if err := fs.Set(n, v); err != nil {
			return fmt.Errorf("config: --%s: the value in %s: %w", n+fileSuffix, file.Value.String(), err)
		}
	}
	return nil
}
