package docker_test

// These tests validate docker/compose.yaml and docker/Dockerfile without a
// Docker engine: compose-go (the library `docker compose` itself uses) loads
// the file, which checks it against the Compose schema, interpolates the
// environment and checks references (depends_on, volumes); checkProject and
// checkDockerfile then check what tagstream needs of the deployment. Each
// check is shown to fail on a broken copy.
//
// Secrets are checked as the processes get them: the content of the
// Compose secret a TAGSTREAM_<FLAG>_FILE variable names, never a value in
// the environment. They are `file:` secrets in docker/secrets/, which
// compose-go does not read (the engine bind-mounts them): the tests stand
// in for that directory with the test's values (withSecretFiles), and
// TestSecretsScript checks the deployment with what docker/secrets.sh
// writes.
//
// Kafka's settings are checked by their server.properties names, translated
// from KAFKA_* variables the way the apache/kafka image does (propertyName):
// a variable whose name the image maps to another property is a setting the
// broker never gets.

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.yaml.in/yaml/v3"

	"github.com/tagstream/tagstream/config"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

const (
	composeFile    = "compose.yaml"
	dockerfile     = "Dockerfile"
	dockerignore   = "Dockerfile.dockerignore"
	testSecret     = "test-only-secret-0123456789abcdef-0123456789abcdef"
	testS3Secret   = "test-only-s3-secret"
	kafkaImage     = "apache/kafka:"
	cassandraImage = "cassandra:"
	s3Image        = "versity/versitygw:"
	cassandraPort  = "9042"
	healthprobe    = "/healthprobe"
	brokerPort     = "9092"
	controllerPort = "9093"
	kafkaInit      = "kafka-init"
	// The one-shots that make Cassandra's roles (cqlsh, in the cassandra
	// image) and its schema (`tagstream snapshot --init-schema`).
	cassandraRoles = "cassandra-roles"
	cassandraInit  = "cassandra-init"
	// The compose CA's certificate, the secret every TLS client trusts.
	caSecret = "tls_ca_pem"
	// What the application principals use: the credentials `tagstream acls
	// --create-users` creates.
	scramMechanism = "SCRAM-SHA-512"
	// The only mechanism whose credentials exist before the cluster runs
	// (static, in the brokers' JAAS config): the brokers' own and kafka-init's.
	plainMechanism     = "PLAIN"
	standardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	anonymous          = "User:ANONYMOUS"
	// The edge: the official Varnish image, the VCL it runs (which
	// includes the deployment's site.vcl from vcl_path), the directory of
	// both in the repository, and varnishd's working directory (the
	// image's default).
	edgeImage   = "varnish:"
	edgeVCL     = "tagstream.vcl"
	siteVCL     = "site.vcl"
	vclDir      = "varnish"
	edgeWorkdir = "/var/lib/varnish/varnishd"
	// Where Compose mounts a secret whose target is not an absolute path.
	secretsDir = "/run/secrets/"
)

// secretVars are tagstream's variables whose values are secrets (the
// config package's secret flags, each with a --<flag>-file form): a
// tagstream service reads each from the file <VAR>_FILE names, a secret it
// mounts, and holds none in its environment, which `docker inspect` shows.
var secretVars = []string{"TAGSTREAM_SECRET", "TAGSTREAM_KAFKA_PASSWORD", "TAGSTREAM_S3_SECRET_KEY", "TAGSTREAM_IMAGE_KEYS",
	"TAGSTREAM_API_PASSWORD", "TAGSTREAM_WORKER_PASSWORD", "TAGSTREAM_RANK_PASSWORD", "TAGSTREAM_READER_PASSWORD",
	"TAGSTREAM_CASSANDRA_PASSWORD"}

// testVars are the operator's secrets with the test's values, by the
// variable docker/secrets.sh takes each from (its file in docker/secrets/
// is the name in lower case, and so is the Compose secret). Each password
// is distinct, so one handed to the wrong principal shows.
var testVars = map[string]string{
	"TAGSTREAM_SECRET":       testSecret,
	"S3_SECRET_KEY":          testS3Secret,
	"KAFKA_ADMIN_PASSWORD":   "test-only-kafka-admin-password",
	"KAFKA_API_PASSWORD":     "test-only-kafka-api-password",
	"KAFKA_WORKER_PASSWORD":  "test-only-kafka-worker-password",
	"KAFKA_RANK_PASSWORD":    "test-only-kafka-rank-password",
	"KAFKA_READER_PASSWORD":  "test-only-kafka-reader-password",
	"GRAFANA_ADMIN_PASSWORD": "test-only-grafana-admin-password",
	// Cassandra's superuser and the application's role (cassandra-roles),
	// and the API's S3 account (s3-init).
	"CASSANDRA_ADMIN_PASSWORD":     "test-only-cassandra-admin-password",
	"CASSANDRA_TAGSTREAM_PASSWORD": "test-only-cassandra-tagstream-password",
	"S3_API_SECRET_KEY":            "test-only-s3-api-secret-key",
}

// dotEnvVars are the secrets compose.yaml interpolates, because
// third-party images take them in their environment: docker/secrets.sh
// copies them from their files into docker/.env, which Compose reads.
var dotEnvVars = []string{"KAFKA_ADMIN_PASSWORD", "S3_SECRET_KEY"}

// loginModules are the JAAS login modules of the SASL mechanisms.
var loginModules = map[string]string{
	"PLAIN":         "org.apache.kafka.common.security.plain.PlainLoginModule",
	"SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
	"SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}

// imageOwnVars are the KAFKA_* variables the apache/kafka image keeps for
// its scripts rather than writing them into server.properties
// (KafkaDockerWrapper's ExcludeServerPropsEnv).
var imageOwnVars = []string{"KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
	"KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_LOG4J_LOGGERS",
	"KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME"}

// The services the deployment must have. Names matter: the tagstream
// processes reach Kafka by them.
var (
	brokerNames   = []string{"kafka-1", "kafka-2", "kafka-3"}
	stateful      = []string{"kafka-1", "kafka-2", "kafka-3", "cassandra", "s3"}
	healthChecked = []string{"kafka-1", "kafka-2", "kafka-3", "cassandra", "s3", "worker", "rank", "api", "snapshotter", "varnish"}
	// tagstream's processes and their subcommands: the long-running ones and
	// kafka-init, the one-shot that creates the Kafka principals.
	tagstreamCommands = map[string]string{"worker": "worker", "rank": "rank", "api": "api", "snapshotter": "snapshot", kafkaInit: "acls",
		cassandraInit: "snapshot"}
	// The tagstream processes that never talk to Kafka.
	kafkaFree = []string{cassandraInit}
	// The role each long-running tagstream process runs as
	// (processors/acls.go): the principal kafka-init gives that role.
	serviceRoles = map[string]topology.Role{"worker": topology.RoleWorker, "rank": topology.RoleRank, "api": topology.RoleAPI, "snapshotter": topology.RoleReader}
	// The services whose subcommands ensure their topics at start (the
	// worker creates them, the rank its own, the api only checks them): they must agree on
	// partitions and replication (goka's co-partitioning).
	topicUsers = []string{"worker", "rank", "api"}
	// The tagstream processes serving HTTP (/healthz, /readyz, /metrics).
	httpServices = []string{"api", "snapshotter"}
	// The tagstream processes serving only /metrics and /healthz, on
	// TAGSTREAM_METRICS.
	metricsServices = []string{"worker", "rank"}
	// How long each service must be given to stop (stop_grace_period)
	// beyond graceFloor: a Kafka broker's controlled shutdown (leaderships
	// moved, logs closed cleanly) and Cassandra's drain (memtables
	// flushed). Killed sooner, they recover logs or replay the commit log
	// on the next start.
	graceMin = map[string]time.Duration{"kafka-1": 120 * time.Second, "kafka-2": 120 * time.Second, "kafka-3": 120 * time.Second,
		"cassandra": 180 * time.Second}
	// graceFloor is the least any stateful or long-running tagstream service
	// gets: the tagstream processes' own stop takes up to 15 s (a 10 s
	// last snapshot flush, a 5 s transaction abort or HTTP drain, then
	// their Kafka client's close), and Docker's default is 10 s.
	graceFloor = 30 * time.Second
	// addedCaps are the capabilities a service may add back after
	// cap_drop: [ALL]; none needs any (each image runs as a user of its
	// own, or as root over files root owns, on ports above 1024).
	addedCaps = map[string][]string{}
)

// testEnv is the environment compose.yaml is loaded with: docker/.env's
// variables, as docker/secrets.sh writes them from testVars.
func testEnv() map[string]string {
	env := map[string]string{}
	for _, v := range dotEnvVars {
		env[v] = testVars[v]
	}
	return env
}

// load loads a compose file the way `docker compose` does, with only env as
// the environment (not the test process's, nor a .env file), so the result
// does not depend on the machine.
func load(t *testing.T, file string, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithEnv(list), cli.WithProfiles(profiles))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// loadAll loads compose.yaml with every profile enabled (the snapshotter
// too), its secret files holding the test's values.
func loadAll(t *testing.T) *types.Project {
	t.Helper()
	p, err := load(t, composeFile, testEnv(), "*")
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	withSecretFiles(p, testSecretFile)
	return p
}

// withSecretFiles sets each `file:` secret's Content, which compose-go
// leaves empty (the engine bind-mounts the file), to what read returns for
// the file's name, as the process would read it (tagstream drops one
// trailing newline): the checks then see what each process gets.
func withSecretFiles(p *types.Project, read func(name string) string) {
	for name, sc := range p.Secrets {
		if sc.File != "" {
			sc.Content = strings.TrimSuffix(read(filepath.Base(sc.File)), "\n")
			p.Secrets[name] = sc
		}
	}
}

// testSecretFile stands in for a file of docker/secrets/ as docker/secrets.sh
// writes it with testVars exported: the value of the variable named after
// it in upper case ("" for a name no variable matches).
func testSecretFile(name string) string { return testVars[strings.ToUpper(name)] }

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestComposeFile(t *testing.T) {
	p := loadAll(t)
	if problems := checkProject(p); len(problems) > 0 {
		t.Errorf("compose.yaml has %d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	api := p.AllServices()["api"]
	if got := secretValue(p.Secrets, api, "TAGSTREAM_SECRET"); got != testSecret {
		t.Errorf("api's TAGSTREAM_SECRET_FILE holds %q, want TAGSTREAM_SECRET's value", got)
	}
	if got := secretValue(p.Secrets, api, "TAGSTREAM_S3_SECRET_KEY"); got != testVars["S3_API_SECRET_KEY"] {
		t.Errorf("api's TAGSTREAM_S3_SECRET_KEY_FILE holds %q, want S3_API_SECRET_KEY's value (its account's, not root's)", got)
	}
	if got, want := env(api, "TAGSTREAM_S3_PUBLIC_ENDPOINT"), "https://127.0.0.1:7070"; got != want {
		t.Errorf("api TAGSTREAM_S3_PUBLIC_ENDPOINT = %q, want %q by default", got, want)
	}
	// Relative image URLs (/img/...): the browser asks the origin of the
	// page, the edge, which caches them.
	if got := env(api, "TAGSTREAM_CDN_BASE"); got != "" {
		t.Errorf("api TAGSTREAM_CDN_BASE = %q by default, want empty: image URLs relative to the page, served through the edge", got)
	}
	// The Kafka passwords where they belong: the admin's interpolated into
	// the brokers' JAAS setting (from docker/.env), the others in files.
	admin := testVars["KAFKA_ADMIN_PASSWORD"]
	for _, b := range brokerNames {
		jaas := kafkaProps(p.AllServices()[b])["listener.name.sasl_ssl.plain.sasl.jaas.config"]
		if !strings.Contains(jaas, `password="`+admin+`"`) || !strings.Contains(jaas, `user_admin="`+admin+`"`) {
			t.Errorf("%s PLAIN JAAS config %q does not hold KAFKA_ADMIN_PASSWORD as the admin's password", b, jaas)
		}
	}
	for name, want := range map[string]string{
		kafkaInit:     admin,
		"worker":      testVars["KAFKA_WORKER_PASSWORD"],
		"rank":        testVars["KAFKA_RANK_PASSWORD"],
		"api":         testVars["KAFKA_API_PASSWORD"],
		"snapshotter": testVars["KAFKA_READER_PASSWORD"],
	} {
		if got := secretValue(p.Secrets, p.AllServices()[name], "TAGSTREAM_KAFKA_PASSWORD"); got != want {
			t.Errorf("%s's TAGSTREAM_KAFKA_PASSWORD_FILE holds %q, want %q, its role's file", name, got, want)
		}
	}
	for _, role := range []string{"API", "WORKER", "RANK", "READER"} {
		key, v := "TAGSTREAM_"+role+"_PASSWORD", "KAFKA_"+role+"_PASSWORD"
		if got := secretValue(p.Secrets, p.AllServices()[kafkaInit], key); got != testVars[v] {
			t.Errorf("kafka-init's %s_FILE holds %q, want %s's value", key, got, v)
		}
	}
	// Cassandra's passwords: the application's role, as cassandra-roles
	// sets it and the snapshot's processes log in with it, and the
	// superuser's, which only cassandra-roles holds.
	roles := p.AllServices()[cassandraRoles]
	for name, key := range map[string]string{cassandraInit: "TAGSTREAM_CASSANDRA_PASSWORD", "snapshotter": "TAGSTREAM_CASSANDRA_PASSWORD"} {
		if got := secretValue(p.Secrets, p.AllServices()[name], key); got != testVars["CASSANDRA_TAGSTREAM_PASSWORD"] {
			t.Errorf("%s's %s_FILE holds %q, want CASSANDRA_TAGSTREAM_PASSWORD's value", name, key, got)
		}
	}
	if got := fileSecret(p.Secrets, roles, env(roles, "CQL_TAGSTREAM_PASSWORD_FILE")); got != testVars["CASSANDRA_TAGSTREAM_PASSWORD"] {
		t.Errorf("cassandra-roles CQL_TAGSTREAM_PASSWORD_FILE holds %q, want CASSANDRA_TAGSTREAM_PASSWORD's value", got)
	}
	if got := fileSecret(p.Secrets, roles, env(roles, "CQL_ADMIN_PASSWORD_FILE")); got != testVars["CASSANDRA_ADMIN_PASSWORD"] {
		t.Errorf("cassandra-roles CQL_ADMIN_PASSWORD_FILE holds %q, want CASSANDRA_ADMIN_PASSWORD's value", got)
	}
	grafana := p.AllServices()["grafana"]
	if got := fileSecret(p.Secrets, grafana, env(grafana, "GF_SECURITY_ADMIN_PASSWORD__FILE")); got != testVars["GRAFANA_ADMIN_PASSWORD"] {
		t.Errorf("grafana's GF_SECURITY_ADMIN_PASSWORD__FILE holds %q, want GRAFANA_ADMIN_PASSWORD's value", got)
	}
	// What `docker inspect` shows of a container (environment, command,
	// health check, labels) holds no secret, but where a third-party image
	// reads it only from its environment (docker/README.md, Known limits).
	inEnvironment := map[string][]string{"KAFKA_ADMIN_PASSWORD": brokerNames, "S3_SECRET_KEY": {"s3", "s3-init"}}
	for _, name := range sortedNames(p.AllServices()) {
		shown := inspected(p.AllServices()[name])
		for _, v := range sortedKeys(testVars) {
			if strings.Contains(shown, testVars[v]) && !slices.Contains(inEnvironment[v], name) {
				t.Errorf("docker inspect %s would show %s's value", name, v)
			}
		}
	}
	// What runs, for the test log.
	for _, name := range sortedNames(p.AllServices()) {
		t.Logf("%-12s %s", name, describe(p.AllServices()[name]))
	}
}

func TestComposeDefaultProfile(t *testing.T) {
	// What a plain `docker compose up` starts: everything, the snapshotter
	// included (`tagstream snapshot` exists; no service hides behind a
	// profile).
	p, err := load(t, composeFile, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kafka-1", "kafka-2", "kafka-3", kafkaInit, "cassandra", "s3", "s3-init", "worker", "rank", "api", "snapshotter", "varnish"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s does not start by default", name)
		}
	}
	for name := range p.DisabledServices {
		t.Errorf("service %s is behind a profile: a plain `up` leaves it out", name)
	}
	// The edge is the way in: the api publishes nothing, the edge its
	// HTTP listener on TAGSTREAM_EDGE_PORT, 8080 unless set.
	if ports := p.Services["api"].Ports; len(ports) > 0 {
		t.Errorf("api publishes %v on the host by default: clients must come through the edge", ports)
	}
	for _, port := range []string{"", "18080"} {
		e := testEnv()
		want := "8080"
		if port != "" {
			e["TAGSTREAM_EDGE_PORT"], want = port, port
		}
		p, err := load(t, composeFile, e)
		if err != nil {
			t.Fatal(err)
		}
		edge := p.Services["varnish"]
		http := edgeListeners(edge.Command)["http"]
		found := false
		for _, pc := range edge.Ports {
			found = found || (strconv.Itoa(int(pc.Target)) == http && pc.Published == want)
		}
		if http == "" || !found {
			t.Errorf("with TAGSTREAM_EDGE_PORT=%q, varnish does not publish host port %s to its http listener %q: %v", port, want, http, edge.Ports)
		}
	}
}

// TestComposeScaledAPI: `docker compose up --scale api=N` is a deployment
// the file supports: the edge spreads requests over every replica
// (site.vcl's dynamic director), and no replica holds a host port.
func TestComposeScaledAPI(t *testing.T) {
	for _, n := range []int{1, 2, 5} {
		p := loadAll(t)
		api := p.Services["api"]
		api.SetScale(n)
		p.Services["api"] = api
		if problems := checkProject(p); len(problems) > 0 {
			t.Errorf("with --scale api=%d: %s", n, strings.Join(problems, "; "))
		}
	}
}

func TestComposeS3Port(t *testing.T) {
	// The address browsers post uploads to follows the port s3 is published
	// on, unless S3_PUBLIC_ENDPOINT says otherwise (behind a proxy, say).
	e := testEnv()
	e["S3_PORT"] = "17070"
	p, err := load(t, composeFile, e)
	if err != nil {
		t.Fatal(err)
	}
	withSecretFiles(p, testSecretFile)
	if got, want := env(p.Services["api"], "TAGSTREAM_S3_PUBLIC_ENDPOINT"), "https://127.0.0.1:17070"; got != want {
		t.Errorf("with S3_PORT=17070, api TAGSTREAM_S3_PUBLIC_ENDPOINT = %q, want %q", got, want)
	}
	if problems := checkProject(p); len(problems) > 0 {
		t.Errorf("with S3_PORT=17070: %s", strings.Join(problems, "; "))
	}
	e["S3_PUBLIC_ENDPOINT"] = "https://uploads.example.com"
	if p, err = load(t, composeFile, e); err != nil {
		t.Fatal(err)
	}
	withSecretFiles(p, testSecretFile)
	if got := env(p.Services["api"], "TAGSTREAM_S3_PUBLIC_ENDPOINT"); got != e["S3_PUBLIC_ENDPOINT"] {
		t.Errorf("with S3_PUBLIC_ENDPOINT set, api TAGSTREAM_S3_PUBLIC_ENDPOINT = %q", got)
	}
	if problems := checkProject(p); len(problems) > 0 {
		t.Errorf("with S3_PUBLIC_ENDPOINT set: %s", strings.Join(problems, "; "))
	}
}

func TestComposeRequiredVariables(t *testing.T) {
	// The secrets compose.yaml interpolates (docker/.env's) are each used
	// only as `${VAR:?...}`, so `up` refuses to start without them, never
	// with a default or an empty value; the others are files, and their old
	// variables are used nowhere. The quick start in the file's header runs
	// docker/secrets.sh, and the README names every variable (the script
	// takes an exported one's value).
	text := readFile(t, composeFile)
	var header strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		header.WriteString(line + "\n")
	}
	if !strings.Contains(header.String(), "docker/secrets.sh") {
		t.Errorf("the quick start in compose.yaml's header does not run docker/secrets.sh")
	}
	readme := readFile(t, "README.md")
	for _, v := range sortedKeys(testVars) {
		uses := strings.Split(text, "${"+v)[1:]
		if !slices.Contains(dotEnvVars, v) {
			if len(uses) > 0 {
				t.Errorf("compose.yaml uses ${%s...}, which docker/.env does not set: the secret is the file secrets/%s", v, strings.ToLower(v))
			}
		} else if len(uses) == 0 {
			t.Errorf("compose.yaml never uses %s", v)
		}
		for _, rest := range uses {
			if !strings.HasPrefix(rest, ":?") {
				t.Errorf("compose.yaml uses ${%s%s...}, want ${%s:?...}: `up` must refuse to start without it", v, rest[:min(len(rest), 2)], v)
			}
		}
		if !strings.Contains(readme, v) {
			t.Errorf("README.md does not mention %s", v)
		}
	}
}

// TestComposeSecretFromFile pins what compose-go makes of a `file:`
// secret, which compose.yaml's secrets are and checkSecrets relies on: the
// path is resolved against the compose file's directory (the project's
// working directory), the file is not read, and it need not exist, so the
// file loads before docker/secrets.sh has run (Compose then fails when it
// creates a container that mounts it). And the .env it reads by default,
// as `docker compose -f docker/compose.yaml` does without --env-file, is
// the one next to the compose file, whatever the current directory.
func TestComposeSecretFromFile(t *testing.T) {
	const compose = `name: secret-test
services:
  s:
    image: ${IMAGE:?}
    read_only: true
    secrets: [pw]
secrets:
  pw:
    file: ./secrets/pw
`
	for _, exists := range []bool{false, true} {
		t.Run(fmt.Sprintf("file exists %v", exists), func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, []byte(compose), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("IMAGE=busybox:1.37\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if exists {
				if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "secrets", "pw"), []byte("test-only-password"), 0o444); err != nil {
					t.Fatal(err)
				}
			}
			opts, err := cli.NewProjectOptions([]string{file}, cli.WithEnvFiles(), cli.WithDotEnv)
			if err != nil {
				t.Fatal(err)
			}
			p, err := opts.LoadProject(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Services["s"].Image; got != "busybox:1.37" {
				t.Errorf("image %q: the .env next to the compose file was not read", got)
			}
			sc := p.Secrets["pw"]
			if want := filepath.Join(p.WorkingDir, "secrets", "pw"); sc.File != want {
				t.Errorf("secret file %q, want %q", sc.File, want)
			}
			if !samePath(p.WorkingDir, dir) {
				t.Errorf("working directory %q, want the compose file's %q", p.WorkingDir, dir)
			}
			if sc.Content != "" || sc.Environment != "" {
				t.Errorf("content %q, environment %q: want neither", sc.Content, sc.Environment)
			}
		})
	}
}

// TestSecretsScript runs docker/secrets.sh in a copy of docker/ and loads
// compose.yaml with what it writes, as `docker compose` would: docker/.env
// for interpolation, docker/secrets/ for the secrets. The script creates a
// file for every secret compose.yaml declares, 0444 in a 0700 directory,
// from an exported variable where there is one; a second run changes
// nothing; a deleted file is created anew, and docker/.env follows it;
// an existing docker/.env keeps its other lines; and no value is printed.
func TestSecretsScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.Skip(t, "no bash: docker/secrets.sh needs it")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.Skip(t, "no openssl: docker/secrets.sh needs it (Debian: apt-get install openssl)")
	}
	script := readFile(t, "secrets.sh")
	root := t.TempDir()
	dir := filepath.Join(root, "docker")
	secrets, dotEnv := filepath.Join(dir, "secrets"), filepath.Join(dir, ".env")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The certificates come from the repository's services/tls.sh.
	if err := os.Mkdir(filepath.Join(root, "services"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.sh", "lib.sh"} {
		if err := os.WriteFile(filepath.Join(root, "services", f), []byte(readFile(t, filepath.Join("..", "services", f))), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	servicesDir := t.TempDir()
	// The operator's own settings, and a stale copy of a secret.
	if err := os.WriteFile(dotEnv, []byte("TAGSTREAM_EDGE_PORT=18080\nS3_SECRET_KEY=stale-s3-key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder // everything the runs print
	run := func(wantOK bool, env ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bash, "docker/secrets.sh")
		cmd.Dir = root
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TAGSTREAM_SERVICES_DIR=" + servicesDir}, env...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		printed.WriteString(o.String() + e.String())
		var names []string
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		t.Logf("docker/secrets.sh, with %v exported:\n%s%s", names, o.String(), e.String())
		if (err == nil) != wantOK {
			t.Fatalf("docker/secrets.sh: %v, want success %v", err, wantOK)
		}
		return o.String(), e.String()
	}
	type state struct {
		fi      os.FileInfo
		content string
	}
	// snapshot returns every file the script manages, by name.
	snapshot := func() map[string]state {
		t.Helper()
		m := map[string]state{}
		add := func(path string) {
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			b := ""
			if !fi.IsDir() {
				b = readFile(t, path)
			}
			rel, _ := filepath.Rel(dir, path)
			m[rel] = state{fi, b}
		}
		add(secrets)
		add(dotEnv)
		entries, err := os.ReadDir(secrets)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			add(filepath.Join(secrets, e.Name()))
		}
		// The certificates, one level down.
		entries, _ = os.ReadDir(filepath.Join(secrets, "tls"))
		for _, e := range entries {
			add(filepath.Join(secrets, "tls", e.Name()))
		}
		return m
	}
	// same: the same file, unchanged (a directory's entries aside).
	same := func(a, b state) bool {
		return a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi) && a.fi.Mode() == b.fi.Mode() &&
			(a.fi.IsDir() || a.fi.ModTime().Equal(b.fi.ModTime())) && a.content == b.content
	}

	// What compose.yaml needs: a file for each secret, named after it
	// (a certificate's, in tls/, after the file services/tls.sh names).
	declared := map[string]bool{} // file, relative to docker/secrets
	for name, sc := range loadAll(t).Secrets {
		base := filepath.Base(sc.File)
		if filepath.Base(filepath.Dir(sc.File)) == "tls" {
			declared[filepath.Join("tls", base)] = true
			if tlsSecretName(base) != name {
				t.Errorf("secret %s is the file tls/%s: want the name %s", name, base, tlsSecretName(base))
			}
			continue
		}
		declared[base] = true
		if base != name {
			t.Errorf("secret %s is the file %s: the script names each file after its secret", name, sc.File)
		}
	}

	// First run, with two of the old variables exported.
	fromVars := []string{"KAFKA_API_PASSWORD", "S3_SECRET_KEY"}
	var env []string
	for _, v := range fromVars {
		env = append(env, v+"="+testVars[v])
	}
	stdout, _ := run(true, env...)
	first := snapshot()
	if m := first["secrets"].fi.Mode(); !m.IsDir() || m.Perm() != 0o700 {
		t.Errorf("docker/secrets is %v, want a directory, mode 0700", m)
	}
	for name, st := range first {
		if name == "secrets" || name == ".env" {
			continue
		}
		name, _ = filepath.Rel("secrets", name)
		if name == "tls" || filepath.Dir(name) == "tls" {
			// The certificates (services/tls.sh makes each in three
			// forms, of which compose.yaml mounts some): 0444, the CA's
			// key 0600 in a 0700 directory, mounted by none.
			want := os.FileMode(0o444)
			switch name {
			case "tls":
				want = os.ModeDir | 0o700
			case filepath.Join("tls", "ca-key.pem"):
				want = 0o600
			}
			if m := st.fi.Mode(); m&(os.ModeDir|os.ModePerm) != want {
				t.Errorf("docker/secrets/%s is %v, want %v", name, m, want)
			}
			continue
		}
		if !declared[name] {
			t.Errorf("docker/secrets/%s: compose.yaml declares no such secret", name)
			continue
		}
		if m := st.fi.Mode(); !m.IsRegular() || m.Perm() != 0o444 {
			t.Errorf("docker/secrets/%s is %v, want a file, mode 0444: uid 65532 reads it through the other bits", name, m)
		}
		if st.content == "" || strings.ContainsAny(st.content, "\n\r") {
			t.Errorf("docker/secrets/%s holds %q, want one value without a newline", name, st.content)
		}
		if !strings.Contains(stdout, "docker/secrets/"+name) {
			t.Errorf("the script created docker/secrets/%s without saying so", name)
		}
		v := strings.ToUpper(name)
		switch {
		case slices.Contains(fromVars, v):
			if st.content != testVars[v] {
				t.Errorf("docker/secrets/%s holds %q, want the exported %s's value", name, st.content, v)
			}
		case !regexp.MustCompile(`^[0-9a-f]{32,}$`).MatchString(st.content):
			t.Errorf("docker/secrets/%s holds %q, want at least 16 random bytes in hex", name, st.content)
		}
	}
	for name := range declared {
		if _, ok := first[filepath.Join("secrets", name)]; !ok {
			t.Errorf("the script did not create docker/secrets/%s, a secret compose.yaml declares", name)
		}
	}
	if m := first[".env"].fi.Mode(); m.Perm() != 0o600 {
		t.Errorf("docker/.env has mode %v, want 0600", m)
	}
	dotEnvLines := func() map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, line := range strings.Split(readFile(t, dotEnv), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				if _, dup := m[k]; dup {
					t.Errorf("docker/.env sets %s twice", k)
				}
				m[k] = v
			}
		}
		return m
	}
	want := map[string]string{"TAGSTREAM_EDGE_PORT": "18080"}
	for _, v := range dotEnvVars {
		want[v] = first[filepath.Join("secrets", strings.ToLower(v))].content
	}
	if got := dotEnvLines(); !maps.Equal(got, want) {
		t.Errorf("docker/.env sets %q, want %q: its own line kept, and the secrets' values", got, want)
	}

	// compose.yaml with what the script wrote, read as `docker compose` does.
	check := func() {
		t.Helper()
		opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithEnvFiles(dotEnv), cli.WithDotEnv, cli.WithProfiles([]string{"*"}))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatalf("compose.yaml with the script's docker/.env: %v", err)
		}
		withSecretFiles(p, func(name string) string {
			b, _ := os.ReadFile(filepath.Join(secrets, name))
			return string(b)
		})
		if problems := checkProject(p); len(problems) > 0 {
			t.Errorf("compose.yaml with the script's files has %d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
		}
	}
	check()

	// Again: nothing changes.
	stdout, _ = run(true)
	if strings.Contains(stdout, "created") || strings.Contains(stdout, "wrote") {
		t.Errorf("the second run says it changed something:\n%s", stdout)
	}
	second := snapshot()
	for name, st := range first {
		if s, ok := second[name]; !ok || !same(s, st) {
			t.Errorf("the second run changed docker/%s", name)
		}
	}

	// Rotation: a deleted file is created anew, and docker/.env follows.
	// A variable that differs from an existing file changes nothing, but is
	// pointed out.
	admin := filepath.Join("secrets", "kafka_admin_password")
	if err := os.Remove(filepath.Join(dir, admin)); err != nil {
		t.Fatal(err)
	}
	_, stderr := run(true, "KAFKA_WORKER_PASSWORD=test-only-another-worker-password")
	if !strings.Contains(stderr, "KAFKA_WORKER_PASSWORD") {
		t.Errorf("the script does not point out that KAFKA_WORKER_PASSWORD differs from its file:\n%s", stderr)
	}
	third := snapshot()
	for name, st := range second {
		changed := !same(third[name], st)
		if should := name == admin || name == ".env"; changed != should {
			t.Errorf("after docker/%s was deleted, docker/%s changed: %v, want %v", admin, name, changed, should)
		}
	}
	if third[admin].content == second[admin].content {
		t.Errorf("docker/%s was created with the old value", admin)
	}
	if got := dotEnvLines()["KAFKA_ADMIN_PASSWORD"]; got != third[admin].content {
		t.Errorf("docker/.env's KAFKA_ADMIN_PASSWORD is not the new docker/%s", admin)
	}
	check()

	// A value the brokers' JAAS string (and docker/.env) cannot hold is
	// refused, and nothing is written.
	if err := os.Remove(filepath.Join(dir, admin)); err != nil {
		t.Fatal(err)
	}
	run(false, `KAFKA_ADMIN_PASSWORD=test-only-"quoted"-password`)
	if _, err := os.Stat(filepath.Join(dir, admin)); !os.IsNotExist(err) {
		t.Errorf("docker/%s written from a value with quotes (%v)", admin, err)
	}

	// No value was ever printed.
	values := []string{`test-only-"quoted"-password`, "test-only-another-worker-password", "stale-s3-key"}
	for _, st := range []map[string]state{first, third} {
		for name, s := range st {
			if strings.HasPrefix(name, "secrets"+string(filepath.Separator)) && !s.fi.IsDir() && !strings.HasSuffix(name, ".pem") && !strings.HasSuffix(name, ".p12") {
				values = append(values, s.content)
			}
		}
	}
	for _, v := range values {
		if strings.Contains(printed.String(), v) {
			t.Errorf("the script printed a secret's value (%d bytes)", len(v))
		}
	}
}

func TestComposeShellVariables(t *testing.T) {
	// The TAGSTREAM_* variables compose.yaml reads from the shell are ones
	// tagstream accepts in its environment too: the binary refuses a
	// TAGSTREAM_* variable it does not know (config.CheckEnv), so one
	// exported for compose would break every tagstream command run from
	// that shell.
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{(TAGSTREAM_[A-Z0-9_]+)`).FindAllStringSubmatch(readFile(t, composeFile), -1) {
		names[m[1]] = true
	}
	if !names["TAGSTREAM_EDGE_PORT"] {
		t.Errorf("compose.yaml does not read TAGSTREAM_EDGE_PORT")
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if err := config.CheckEnv([]string{name + "=x"}); err != nil {
			t.Errorf("compose.yaml reads %s from the shell, which tagstream refuses in its environment: %v", name, err)
		}
	}
}

func TestKafkaPropertyNames(t *testing.T) {
	// The apache/kafka image's mapping, on the names this file uses.
	for variable, property := range map[string]string{
		"KAFKA_NODE_ID": "node.id",
		"KAFKA_LISTENER_NAME_SASL__SSL_PLAIN_SASL_JAAS_CONFIG":             "listener.name.sasl_ssl.plain.sasl.jaas.config",
		"KAFKA_LISTENER_NAME_SASL__SSL_SCRAM___SHA___512_SASL_JAAS_CONFIG": "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
		"KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL":                       "sasl.mechanism.inter.broker.protocol",
		"KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND":                             "allow.everyone.if.no.acl.found",
	} {
		if got := propertyName(variable); got != property {
			t.Errorf("propertyName(%s) = %s, want %s", variable, got, property)
		}
		if got := envName(property); got != variable {
			t.Errorf("envName(%s) = %s, want %s", property, got, variable)
		}
	}
}

func TestDockerfile(t *testing.T) {
	if problems := checkDockerfile(readFile(t, dockerfile)); len(problems) > 0 {
		t.Errorf("Dockerfile has %d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	ignore := strings.Fields(readFile(t, dockerignore))
	for _, want := range []string{".git", "bin", "data", ".services", "docker/secrets"} {
		if !slices.Contains(ignore, want) {
			t.Errorf("%s does not exclude %s from the build context", dockerignore, want)
		}
	}
	// The compose file builds with this Dockerfile from the repository root.
	api := loadAll(t).AllServices()["api"]
	if api.Build == nil {
		t.Fatal("api has no build")
	}
	if got := filepath.Join(api.Build.Context, api.Build.Dockerfile); !sameFile(t, got, dockerfile) {
		t.Errorf("api builds with %s, not docker/Dockerfile", got)
	}
	if _, err := os.Stat(filepath.Join(api.Build.Context, "go.mod")); err != nil {
		t.Errorf("build context %s is not the repository root: %v", api.Build.Context, err)
	}
}

// TestValidationFails shows that every check can fail: broken copies of the
// compose file are refused by compose-go, and broken models and Dockerfiles
// are reported by checkProject and checkDockerfile.
func TestValidationFails(t *testing.T) {
	original := readFile(t, composeFile)

	t.Run("loader", func(t *testing.T) {
		type loaderCase struct {
			name, old, new string
			env            map[string]string
			want           string // in the error
		}
		cases := []loaderCase{
			{name: "unknown key", old: "\n  api:\n", new: "\n  api:\n    restart_policy: always\n", want: "restart_policy"},
			{name: "undeclared volume", old: "\n  s3-data:\n", new: "\n", want: "undefined volume s3-data"},
			{name: "depends_on a missing service", old: "\n      s3-init:\n        condition:", new: "\n      s3-init-typo:\n        condition:", want: "s3-init-typo"},
			{name: "bad healthcheck", old: `test: ["CMD-SHELL", "nodetool`, new: `test: ["RUN", "nodetool`, want: "healthcheck"},
		}
		// Each variable of docker/.env, unset or empty (${VAR:?...}, not
		// ${VAR?...}): refused, with the hint to run docker/secrets.sh.
		for _, v := range dotEnvVars {
			unset, empty := testEnv(), testEnv()
			delete(unset, v)
			empty[v] = ""
			want := v + " is missing a value: run docker/secrets.sh"
			cases = append(cases,
				loaderCase{name: "no " + v, env: unset, want: want},
				loaderCase{name: "empty " + v, env: empty, want: want})
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				text := original
				if tc.old != "" {
					if n := strings.Count(text, tc.old); n != 1 {
						t.Fatalf("compose.yaml has %d occurrences of %q, the mutation needs exactly 1", n, tc.old)
					}
					text = strings.Replace(text, tc.old, tc.new, 1)
				}
				env := tc.env
				if env == nil {
					env = testEnv()
				}
				file := filepath.Join(t.TempDir(), "compose.yaml")
				if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := load(t, file, env, "*")
				if err == nil {
					t.Fatal("the broken compose file loaded")
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q does not mention %q", err, tc.want)
				}
				t.Logf("refused: %v", err)
			})
		}
	})

	t.Run("round trip", func(t *testing.T) {
		// The loaded model written back and loaded again is still valid ...
		p := loadAll(t)
		dir := t.TempDir()
		write := func(p *types.Project) string {
			b, err := p.MarshalYAML()
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return file
		}
		if _, err := load(t, write(p), testEnv(), "*"); err != nil {
			t.Fatalf("the unchanged model does not load again: %v", err)
		}
		// ... and with a depends_on to a service that does not exist, it is not.
		api := p.Services["api"]
		api.DependsOn["postgres"] = types.ServiceDependency{Condition: types.ServiceConditionHealthy, Required: true}
		p.Services["api"] = api
		_, err := load(t, write(p), testEnv(), "*")
		if err == nil || !strings.Contains(err.Error(), `undefined service "postgres"`) {
			t.Fatalf("depends_on a missing service: err = %v", err)
		}
	})

	t.Run("project", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			mutate func(s types.Services)
			want   string // in a problem
		}{
			{"broker that is not a kafka service", func(s types.Services) {
				setEnv(s, "worker", "TAGSTREAM_BROKERS", "kafka-1:9092,kafka-4:9092")
			}, "kafka-4"},
			{"broker on the controller port", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_BROKERS", "kafka-1:9093,kafka-2:9092,kafka-3:9092")
			}, "9093"},
			{"duplicate node id", func(s types.Services) { setEnv(s, "kafka-3", "KAFKA_NODE_ID", "2") }, "node id"},
			{"quorum missing a voter", func(s types.Services) {
				setEnv(s, "kafka-2", "KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka-1:9093,2@kafka-2:9093")
			}, "quorum"},
			{"fourth broker", func(s types.Services) {
				k := s["kafka-3"]
				k.Name = "kafka-4"
				s["kafka-4"] = k
			}, "3 Kafka brokers"},
			{"broker only", func(s types.Services) { setEnv(s, "kafka-1", "KAFKA_PROCESS_ROLES", "broker") }, "controller"},
			{"replication above the brokers", func(s types.Services) {
				for _, name := range topicUsers {
					setEnv(s, name, "TAGSTREAM_REPLICATION", "4")
				}
			}, "TAGSTREAM_REPLICATION=4"},
			{"processes disagree on partitions", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_PARTITIONS", "24")
			}, "TAGSTREAM_PARTITIONS"},
			{"one worker", func(s types.Services) { w := s["worker"]; w.SetScale(1); s["worker"] = w }, "replicas"},
			{"another image", func(s types.Services) { a := s["api"]; a.Image = "tagstream:other"; s["api"] = a }, "image"},
			{"another Dockerfile", func(s types.Services) {
				a := s["snapshotter"]
				b := *a.Build
				b.Dockerfile = "Dockerfile.dev"
				a.Build = &b
				s["snapshotter"] = a
			}, "build"},
			{"no healthcheck", func(s types.Services) { c := s["cassandra"]; c.HealthCheck = nil; s["cassandra"] = c }, "cassandra has no healthcheck"},
			{"disabled healthcheck", func(s types.Services) {
				a := s["api"]
				a.HealthCheck = &types.HealthCheckConfig{Disable: true}
				s["api"] = a
			}, "api has no healthcheck"},
			{"no volume", func(s types.Services) { c := s["s3"]; c.Volumes = nil; s["s3"] = c }, "s3 keeps its data"},
			{"waits for a service without healthcheck", func(s types.Services) {
				w := s["worker"]
				w.DependsOn["s3-init"] = types.ServiceDependency{Condition: types.ServiceConditionHealthy, Required: true}
				s["worker"] = w
			}, "s3-init"},
			{"starts before Kafka is healthy", func(s types.Services) { dropDependency(s, "worker", "kafka-2") }, "kafka-2"},
			{"no memory limit", func(s types.Services) {
				c := s["cassandra"]
				c.Deploy.Resources.Limits = nil
				s["cassandra"] = c
			}, "limit"},
			{"secret in the file", func(s types.Services) { setEnv(s, "api", "TAGSTREAM_SECRET", "short") }, "TAGSTREAM_SECRET"},
			{"api on loopback", func(s types.Services) { setEnv(s, "api", "TAGSTREAM_HTTP", "127.0.0.1:8080") }, "TAGSTREAM_HTTP"},
			{"no restart policy", func(s types.Services) { w := s["worker"]; w.Restart = ""; s["worker"] = w }, "restart"},
			{"one instance id for every worker replica", func(s types.Services) {
				setEnv(s, "worker", "TAGSTREAM_INSTANCE_ID", "worker-1")
			}, "TAGSTREAM_INSTANCE_ID"},
			{"a flag the subcommand does not take", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_S3_ENDPOINT", "http://s3:7070")
			}, "TAGSTREAM_S3_ENDPOINT"},
			{"a misspelt variable", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_S3_BUCKETS", "tagstream-images")
			}, "TAGSTREAM_S3_BUCKETS"},
			{"a value the flag refuses", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_SNAPSHOT_INTERVAL", "5")
			}, "TAGSTREAM_SNAPSHOT_INTERVAL"},
			{"snapshotter on loopback", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_HTTP", "127.0.0.1:8081")
			}, "snapshotter TAGSTREAM_HTTP"},
			{"snapshotter probed on the api's port", func(s types.Services) {
				setHealthcheck(s, "snapshotter", "CMD", healthprobe, "http://127.0.0.1:8080/readyz")
			}, "snapshotter healthcheck"},
			{"snapshotter probed through a shell", func(s types.Services) {
				setHealthcheck(s, "snapshotter", "CMD-SHELL", "wget -q -O- http://127.0.0.1:8081/readyz")
			}, healthprobe},
			{"cassandra that is not a service", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_CASSANDRA", "cassandra-2:9042")
			}, "cassandra-2"},
			{"snapshotter before Cassandra is healthy", func(s types.Services) { dropDependency(s, "snapshotter", "cassandra") }, "before cassandra is healthy"},
			{"keyspace replicated beyond the Cassandra nodes", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_KEYSPACE_REPLICATION", "{'class': 'SimpleStrategy', 'replication_factor': 3}")
			}, "TAGSTREAM_KEYSPACE_REPLICATION"},
			{"keyspace in a data center that does not exist", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_KEYSPACE_REPLICATION", "{'class': 'NetworkTopologyStrategy', 'dc2': 1}")
			}, "dc2"},
			{"api without S3", func(s types.Services) { unsetEnv(s, "api", "TAGSTREAM_S3_ENDPOINT") }, "TAGSTREAM_S3_ENDPOINT"},
			{"api S3 that is not a service", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_S3_ENDPOINT", "https://minio:9000")
			}, "minio"},
			{"uploads to a port s3 does not publish", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_S3_PUBLIC_ENDPOINT", "http://127.0.0.1:9999")
			}, "TAGSTREAM_S3_PUBLIC_ENDPOINT"},
			{"api bucket that s3-init does not create", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_S3_BUCKET", "tagstream-snapshots")
			}, "bucket"},
			{"S3 over http", func(s types.Services) { setEnv(s, "api", "TAGSTREAM_S3_ENDPOINT", "http://s3:7070") }, "is not https"},
			{"S3 without its certificate", func(s types.Services) { unsetEnv(s, "s3", "VGW_CERT") }, "s3 VGW_CERT"},
			{"S3 trusted against the system's CAs", func(s types.Services) { unsetEnv(s, "api", "TAGSTREAM_S3_CA") }, "api TAGSTREAM_S3_CA"},
			{"uploads over http", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_S3_PUBLIC_ENDPOINT", "http://127.0.0.1:7070")
			}, "serves https only"},
			{"s3-init trusting nothing", func(s types.Services) { unsetEnv(s, "s3-init", "SSL_CERT_FILE") }, "s3-init SSL_CERT_FILE"},
			{"s3-init over http", func(s types.Services) { setEnv(s, "s3-init", "ADMIN_ENDPOINT_URL", "http://s3:7070") }, "s3-init ADMIN_ENDPOINT_URL"},
			// Cassandra: TLS, the application's role, the schema first.
			{"Cassandra without TLS", func(s types.Services) { setEnv(s, "snapshotter", "TAGSTREAM_CASSANDRA_TLS", "false") }, "snapshotter TAGSTREAM_CASSANDRA_TLS"},
			{"Cassandra trusted against another CA", func(s types.Services) {
				setEnv(s, cassandraInit, "TAGSTREAM_CASSANDRA_CA", "/etc/ssl/certs/ca-certificates.crt")
			}, "cassandra-init TAGSTREAM_CASSANDRA_CA"},
			{"a local data centre with no node", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_CASSANDRA_LOCAL_DC", "datacenter1")
			}, "snapshotter TAGSTREAM_CASSANDRA_LOCAL_DC=\"datacenter1\""},
			{"the schema made as the superuser", func(s types.Services) {
				setEnv(s, cassandraInit, "TAGSTREAM_CASSANDRA_USER", "admin")
			}, "cassandra-init TAGSTREAM_CASSANDRA_USER"},
			{"the schema made by the snapshotter", func(s types.Services) { dropDependency(s, "snapshotter", cassandraInit) }, "before cassandra-init"},
			{"the schema before the role", func(s types.Services) { dropDependency(s, cassandraInit, cassandraRoles) }, "before cassandra-roles"},
			{"cassandra-init that only runs a snapshotter", func(s types.Services) {
				c := s[cassandraInit]
				c.Command = types.ShellCommand{"snapshot"}
				s[cassandraInit] = c
			}, "--init-schema"},
			{"cassandra-init with brokers", func(s types.Services) {
				setEnv(s, cassandraInit, "TAGSTREAM_BROKERS", "kafka-1:9092")
			}, "cassandra-init names brokers"},
			{"the roles before the node is healthy", func(s types.Services) { dropDependency(s, cassandraRoles, "cassandra") }, "cassandra-roles starts before cassandra is healthy"},
			{"cassandra without its certificate", func(s types.Services) { unsetEnv(s, "cassandra", "CASSANDRA_KEYSTORE") }, "cassandra CASSANDRA_KEYSTORE"},
			{"api before the bucket exists", func(s types.Services) { dropDependency(s, "api", "s3-init") }, "s3-init"},

			// Kafka: SASL on every broker, ACLs, each process as its role.
			{"a PLAINTEXT client listener", func(s types.Services) {
				setEnv(s, "kafka-2", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:SSL,SASL_SSL:PLAINTEXT")
			}, "kafka-2 client listener SASL_SSL is PLAINTEXT"},
			{"a SASL client listener without TLS", func(s types.Services) {
				setBrokersEnv(s, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:SSL,SASL_SSL:SASL_PLAINTEXT")
			}, "kafka-1 client listener SASL_SSL is SASL_PLAINTEXT: want SASL_SSL"},
			{"a PLAINTEXT controller listener", func(s types.Services) {
				setEnv(s, "kafka-3", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL")
			}, "kafka-3 controller listener CONTROLLER is PLAINTEXT"},
			{"controllers without client certificates", func(s types.Services) { setBrokersEnv(s, "KAFKA_LISTENER_NAME_CONTROLLER_SSL_CLIENT_AUTH", "") }, "listener.name.controller.ssl.client.auth"},
			{"a broker with another's certificate", func(s types.Services) {
				k := s["kafka-2"]
				k.Secrets = slices.Clone(k.Secrets)
				for i := range k.Secrets {
					if k.Secrets[i].Source == "tls_kafka_2_p12" {
						k.Secrets[i].Source = "tls_kafka_1_p12"
					}
				}
				s["kafka-2"] = k
			}, "kafka-2 key store /etc/kafka/secrets/kafka.p12 is secret \"tls_kafka_1_p12\", want tls_kafka_2_p12"},
			{"a PEM key store", func(s types.Services) { setBrokersEnv(s, "KAFKA_SSL_KEYSTORE_TYPE", "PEM") }, "ssl.keystore.type"},
			{"no trust store", func(s types.Services) { setBrokersEnv(s, "KAFKA_SSL_TRUSTSTORE_LOCATION", "") }, "is not the compose CA"},
			{"no host name checks between brokers", func(s types.Services) { setEnv(s, "kafka-2", "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "") }, "kafka-2 ssl.endpoint.identification.algorithm"},
			{"a broker's certificate not a superuser", func(s types.Services) {
				setBrokersEnv(s, "KAFKA_SUPER_USERS", "User:admin;User:CN=kafka-1,O=tagstream;User:CN=kafka-3,O=tagstream")
			}, "super.users lacks User:CN=kafka-2,O=tagstream"},
			{"a client without TLS", func(s types.Services) { setEnv(s, "worker", "TAGSTREAM_KAFKA_TLS", "false") }, "worker TAGSTREAM_KAFKA_TLS=\"false\""},
			{"a client trusting another CA", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_KAFKA_CA", "/etc/ssl/certs/ca-certificates.crt")
			}, "snapshotter TAGSTREAM_KAFKA_CA"},
			{"advertising the old PLAINTEXT listener", func(s types.Services) {
				setEnv(s, "kafka-3", "KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://kafka-3:9092")
			}, "kafka-3 advertises"},
			{"no authorizer on one broker", func(s types.Services) {
				unsetEnv(s, "kafka-3", "KAFKA_AUTHORIZER_CLASS_NAME")
			}, "kafka-3 authorizer.class.name"},
			{"everyone allowed without ACLs", func(s types.Services) {
				setEnv(s, "kafka-1", "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND", "true")
			}, "allow.everyone.if.no.acl.found"},
			{"ANONYMOUS a superuser", func(s types.Services) {
				for _, b := range brokerNames {
					setEnv(s, b, "KAFKA_SUPER_USERS", env(s[b], "KAFKA_SUPER_USERS")+";"+anonymous)
				}
			}, "super.users holds User:ANONYMOUS"},
			{"a setting the image maps to another property", func(s types.Services) {
				for _, b := range brokerNames {
					k := s[b]
					v := env(k, "KAFKA_LISTENER_NAME_SASL__SSL_SCRAM___SHA___512_SASL_JAAS_CONFIG")
					unsetEnv(s, b, "KAFKA_LISTENER_NAME_SASL__SSL_SCRAM___SHA___512_SASL_JAAS_CONFIG")
					setEnv(s, b, "KAFKA_LISTENER_NAME_SASL_SSL_SCRAM_SHA_512_SASL_JAAS_CONFIG", v)
				}
			}, "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"},
			{"SCRAM between brokers", func(s types.Services) {
				setBrokersEnv(s, "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL", "SCRAM-SHA-512")
			}, "sasl.mechanism.inter.broker.protocol"},
			{"brokers that refuse their own login", func(s types.Services) {
				for _, b := range brokerNames {
					setEnv(s, b, "KAFKA_LISTENER_NAME_SASL__SSL_PLAIN_SASL_JAAS_CONFIG",
						`org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a-password-here" user_admin="another-one";`)
				}
			}, "user_admin"},
			{"no KAFKA_OPTS", func(s types.Services) { unsetEnv(s, "kafka-1", "KAFKA_OPTS") }, "kafka-1 has no KAFKA_OPTS"},
			{"broker healthcheck without credentials", func(s types.Services) {
				k := s["kafka-2"]
				hc := *k.HealthCheck
				hc.Test = types.HealthCheckTest{"CMD-SHELL", "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 >/dev/null"}
				k.HealthCheck = &hc
				s["kafka-2"] = k
			}, "kafka-2 healthcheck"},
			{"a service that forgets its Kafka user", func(s types.Services) {
				unsetEnv(s, "snapshotter", "TAGSTREAM_KAFKA_USER")
			}, "snapshotter has no TAGSTREAM_KAFKA_USER"},
			{"a service that forgets its Kafka password", func(s types.Services) {
				unsetEnv(s, "worker", "TAGSTREAM_KAFKA_PASSWORD_FILE")
			}, "worker has no TAGSTREAM_KAFKA_PASSWORD"},
			{"api as admin", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_KAFKA_USER", "admin")
				useSecret(s, "api", "TAGSTREAM_KAFKA_PASSWORD", "kafka_admin_password")
				setEnv(s, "api", "TAGSTREAM_KAFKA_SASL_MECHANISM", plainMechanism)
			}, "api runs as admin, a superuser"},
			{"snapshotter as the worker", func(s types.Services) {
				setEnv(s, "snapshotter", "TAGSTREAM_KAFKA_USER", "worker")
				useSecret(s, "snapshotter", "TAGSTREAM_KAFKA_PASSWORD", "kafka_worker_password")
			}, "snapshotter runs as worker"},
			{"a password that is not the one kafka-init sets", func(s types.Services) {
				useSecret(s, "api", "TAGSTREAM_KAFKA_PASSWORD", "kafka_reader_password")
			}, "TAGSTREAM_API_PASSWORD"},
			{"a mechanism kafka-init creates no credentials for", func(s types.Services) {
				setEnv(s, "worker", "TAGSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
			}, "SCRAM-SHA-256"},
			{"worker before its user exists", func(s types.Services) { dropDependency(s, "worker", kafkaInit) }, "worker starts before kafka-init"},
			{"kafka-init that restarts", func(s types.Services) {
				k := s[kafkaInit]
				k.Restart = types.RestartPolicyUnlessStopped
				s[kafkaInit] = k
			}, "kafka-init restarts"},
			{"kafka-init without the rank role", func(s types.Services) {
				k := s[kafkaInit]
				k.Command = slices.DeleteFunc(slices.Clone(k.Command), func(a string) bool { return a == "rank=rank" })
				s[kafkaInit] = k
			}, "role rank"},
			{"kafka-init without --create-users", func(s types.Services) {
				k := s[kafkaInit]
				k.Command = slices.DeleteFunc(slices.Clone(k.Command), func(a string) bool { return a == "--create-users" })
				s[kafkaInit] = k
			}, "--create-users"},
			{"kafka-init over SCRAM", func(s types.Services) {
				setEnv(s, kafkaInit, "TAGSTREAM_KAFKA_SASL_MECHANISM", scramMechanism)
			}, "kafka-init logs in with SCRAM-SHA-512"},
			{"kafka-init with another admin password", func(s types.Services) {
				useSecret(s, kafkaInit, "TAGSTREAM_KAFKA_PASSWORD", "kafka_api_password")
			}, "kafka-init TAGSTREAM_KAFKA_PASSWORD"},
			{"api before any worker", func(s types.Services) { dropDependency(s, "api", "worker") }, "api may not create topics"},
			// The edge: the way in, running tagstream.vcl, purged by the api.
			{"api published on the host", func(s types.Services) {
				a := s["api"]
				a.Ports = append(slices.Clone(a.Ports), types.ServicePortConfig{Target: 8080, Published: "8080", Protocol: "tcp"})
				s["api"] = a
			}, "api publishes"},
			{"no edge", func(s types.Services) { delete(s, "varnish") }, "want one Varnish edge"},
			{"edge without the VCL", func(s types.Services) { v := s["varnish"]; v.Volumes = nil; s["varnish"] = v }, "does not mount docker/varnish"},
			{"edge running the image's VCL", func(s types.Services) {
				replaceArg(s, "varnish", "/etc/varnish/tagstream.vcl", "/etc/varnish/default.vcl")
			}, "want -f /etc/varnish/tagstream.vcl"},
			{"edge without vcl_path", func(s types.Services) {
				replaceArg(s, "varnish", "vcl_path=/etc/varnish", "vcl_path=/usr/share/varnish/vcl")
			}, "vcl_path"},
			{"edge through the image's entrypoint", func(s types.Services) {
				v := s["varnish"]
				v.Command = slices.Clone(v.Command[1:])
				s["varnish"] = v
			}, "want varnishd"},
			{"edge in the background", func(s types.Services) {
				v := s["varnish"]
				v.Command = slices.DeleteFunc(slices.Clone(v.Command), func(a string) bool { return a == "-F" })
				s["varnish"] = v
			}, "-F"},
			{"edge working directory noexec", func(s types.Services) {
				v := s["varnish"]
				v.Tmpfs = slices.Clone(v.Tmpfs)
				for i, t := range v.Tmpfs {
					v.Tmpfs[i] = strings.Replace(t, ":exec,", ":", 1)
				}
				s["varnish"] = v
			}, "noexec"},
			{"edge without /tmp", func(s types.Services) {
				v := s["varnish"]
				v.Tmpfs = slices.DeleteFunc(slices.Clone(v.Tmpfs), func(t string) bool { return strings.HasPrefix(t, "/tmp") })
				s["varnish"] = v
			}, "/tmp"},
			{"edge with a writable root", func(s types.Services) { v := s["varnish"]; v.ReadOnly = false; s["varnish"] = v }, "read_only"},
			{"edge with capabilities", func(s types.Services) { v := s["varnish"]; v.CapDrop = nil; s["varnish"] = v }, "cap_drop"},
			{"edge before the api is healthy", func(s types.Services) { dropDependency(s, "varnish", "api") }, "depends_on api"},
			{"edge restarted with the api", func(s types.Services) {
				v := s["varnish"]
				d := v.DependsOn["api"]
				d.Restart = true
				v.DependsOn["api"] = d
				s["varnish"] = v
			}, "empties its cache"},
			{"edge unpublished", func(s types.Services) { v := s["varnish"]; v.Ports = nil; s["varnish"] = v }, "publishes none of its listeners"},
			{"purge listener published", func(s types.Services) {
				v := s["varnish"]
				v.Ports = append(slices.Clone(v.Ports), types.ServicePortConfig{Target: 6082, Published: "6082", Protocol: "tcp"})
				s["varnish"] = v
			}, "publishes its purge listener"},
			{"no purges", func(s types.Services) { unsetEnv(s, "api", "TAGSTREAM_EDGE_PURGE") }, "no TAGSTREAM_EDGE_PURGE"},
			{"purges on the published listener", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_EDGE_PURGE", "http://varnish:6081")
			}, "TAGSTREAM_EDGE_PURGE uses port 6081"},
			{"purges to another host", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_EDGE_PURGE", "http://cache:6082")
			}, "names cache, which is not the edge"},
			{"purges with pages from Cassandra", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_SOURCE", "cassandra")
			}, "Cassandra"},
			{"image URLs on the api's service name", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_CDN_BASE", "http://api:8080")
			}, "TAGSTREAM_CDN_BASE"},
			// Stopping: time for a clean stop, and Cassandra drained.
			{"a broker killed after 10 s", func(s types.Services) { k := s["kafka-2"]; k.StopGracePeriod = nil; s["kafka-2"] = k }, "kafka-2 has no stop_grace_period"},
			{"cassandra given a minute", func(s types.Services) { setGrace(s, "cassandra", time.Minute) }, "cassandra stop_grace_period 1m0s is below 3m0s"},
			{"a snapshotter cut during its last flush", func(s types.Services) { setGrace(s, "snapshotter", 10*time.Second) }, "snapshotter stop_grace_period 10s is below 30s"},
			{"a volume killed after 10 s", func(s types.Services) { c := s["prometheus"]; c.StopGracePeriod = nil; s["prometheus"] = c }, "prometheus has no stop_grace_period"},
			{"cassandra behind a shell", func(s types.Services) {
				c := s["cassandra"]
				c.Entrypoint = types.ShellCommand{"sh", "-c", "docker-entrypoint.sh cassandra -f"}
				s["cassandra"] = c
			}, "the SIGTERM must reach the JVM"},
			{"cassandra stopped with SIGKILL", func(s types.Services) { c := s["cassandra"]; c.StopSignal = "SIGKILL"; s["cassandra"] = c }, "not on SIGKILL"},
			{"cassandra in the background", func(s types.Services) {
				c := s["cassandra"]
				c.Command = types.ShellCommand{"cassandra"}
				s["cassandra"] = c
			}, "want the image's, cassandra -f"},
			// Privileges.
			{"a broker with its capabilities", func(s types.Services) { k := s["kafka-1"]; k.CapDrop = nil; s["kafka-1"] = k }, "kafka-1 keeps its capabilities"},
			{"a capability added back", func(s types.Services) { c := s["s3"]; c.CapAdd = []string{"SYS_ADMIN"}; s["s3"] = c }, "s3 adds capability SYS_ADMIN"},
			{"no no-new-privileges", func(s types.Services) { c := s["grafana"]; c.SecurityOpt = nil; s["grafana"] = c }, "grafana lacks security_opt no-new-privileges:true"},
			{"a privileged one-shot", func(s types.Services) { c := s["s3-init"]; c.Privileged = true; s["s3-init"] = c }, "s3-init is privileged"},
			{"cassandra as root", func(s types.Services) { c := s["cassandra"]; c.User = ""; s["cassandra"] = c }, "cassandra starts as root"},
			// Workers: a healthcheck on their metrics listener.
			{"worker without a healthcheck", func(s types.Services) { c := s["worker"]; c.HealthCheck = nil; s["worker"] = c }, "worker has no healthcheck"},
			{"rank probed where it serves nothing", func(s types.Services) { setHealthcheck(s, "rank", "CMD", healthprobe, "http://127.0.0.1:9464/readyz") }, "rank healthcheck asks http://127.0.0.1:9464/readyz, want http://127.0.0.1:9464/healthz"},
			{"worker metrics on loopback", func(s types.Services) {
				setEnv(s, "worker", "TAGSTREAM_METRICS", "127.0.0.1:9464")
			}, "worker TAGSTREAM_METRICS"},
			{"api on another port than the edge's backend", func(s types.Services) {
				setEnv(s, "api", "TAGSTREAM_HTTP", "0.0.0.0:9090")
			}, `the api listens on "9090"`},
			{"an image on a moving tag", func(s types.Services) { c := s["cassandra"]; c.Image = "cassandra:latest"; s["cassandra"] = c }, "not pinned"},
			{"an image without a tag", func(s types.Services) {
				p := s["prometheus"]
				p.Image = "prom/prometheus"
				s["prometheus"] = p
			}, "not pinned"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := loadAll(t) // a fresh copy each time
				all := p.AllServices()
				tc.mutate(all)
				p.Services, p.DisabledServices = all, nil
				problems := checkProject(p)
				for _, pr := range problems {
					if strings.Contains(pr, tc.want) {
						t.Logf("reported: %s", pr)
						return
					}
				}
				t.Fatalf("no problem mentions %q; problems: %q", tc.want, problems)
			})
		}
	})

	// How the services get their secrets: as files of Compose secrets from
	// docker/secrets/, each only where a variable names it, and never in a
	// tagstream service's environment; the tagstream services read-only.
	t.Run("secrets", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			mutate func(p *types.Project)
			want   string // in a problem
		}{
			{"a Kafka password in the worker's environment", func(p *types.Project) {
				setEnv(p.Services, "worker", "TAGSTREAM_KAFKA_PASSWORD", testVars["KAFKA_WORKER_PASSWORD"])
				unsetEnv(p.Services, "worker", "TAGSTREAM_KAFKA_PASSWORD_FILE")
			}, "worker sets TAGSTREAM_KAFKA_PASSWORD in its environment"},
			{"a role's password in kafka-init's environment", func(p *types.Project) {
				setEnv(p.Services, kafkaInit, "TAGSTREAM_RANK_PASSWORD", testVars["KAFKA_RANK_PASSWORD"])
				unsetEnv(p.Services, kafkaInit, "TAGSTREAM_RANK_PASSWORD_FILE")
			}, "kafka-init sets TAGSTREAM_RANK_PASSWORD in its environment"},
			{"image keys set, in the API's environment", func(p *types.Project) {
				setEnv(p.Services, "api", "TAGSTREAM_IMAGE_KEYS", "k1:c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWI=")
			}, "api sets TAGSTREAM_IMAGE_KEYS in its environment"},
			{"a variable and its file", func(p *types.Project) {
				setEnv(p.Services, "api", "TAGSTREAM_S3_SECRET_KEY", "")
			}, "api sets both TAGSTREAM_S3_SECRET_KEY and TAGSTREAM_S3_SECRET_KEY_FILE"},
			{"a secret the worker does not need", func(p *types.Project) {
				mountSecret(p.Services, "worker", "kafka_admin_password")
			}, "worker mounts secret kafka_admin_password, which none of its variables names"},
			{"a secret no flag of the subcommand reads", func(p *types.Project) {
				useSecret(p.Services, "worker", "TAGSTREAM_SECRET", "tagstream_secret")
			}, "worker sets TAGSTREAM_SECRET_FILE, but `tagstream worker` has no such flag"},
			{"the admin's password for the rank job", func(p *types.Project) {
				useSecret(p.Services, "rank", "TAGSTREAM_KAFKA_PASSWORD", "kafka_admin_password")
			}, "rank TAGSTREAM_KAFKA_PASSWORD is not the password kafka-init sets"},
			{"a file the service does not mount", func(p *types.Project) {
				setEnv(p.Services, "rank", "TAGSTREAM_KAFKA_PASSWORD_FILE", secretsDir+"kafka_worker_password")
			}, "rank TAGSTREAM_KAFKA_PASSWORD_FILE=/run/secrets/kafka_worker_password names no secret rank mounts"},
			{"grafana without its secret", func(p *types.Project) {
				g := p.Services["grafana"]
				g.Secrets = nil
				p.Services["grafana"] = g
			}, "grafana GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin_password names no secret grafana mounts"},
			{"a mode on a file secret", func(p *types.Project) {
				setSecretMount(p.Services, "api", "tagstream_secret", func(sc *types.ServiceSecretConfig) {
					m := types.FileMode(0o400)
					sc.Mode = &m
				})
			}, "api secret tagstream_secret sets mode, uid or gid"},
			{"a file secret given to the container's user", func(p *types.Project) {
				setSecretMount(p.Services, "snapshotter", "kafka_reader_password", func(sc *types.ServiceSecretConfig) { sc.UID = "65532" })
			}, "snapshotter secret kafka_reader_password sets mode, uid or gid"},
			{"a secret from a variable", func(p *types.Project) {
				setSecretSource(p, "grafana_admin_password", "", "GRAFANA_ADMIN_PASSWORD")
			}, "secret grafana_admin_password is read from variable GRAFANA_ADMIN_PASSWORD"},
			{"a secret from a variable in a read-only service", func(p *types.Project) {
				setSecretSource(p, "kafka_worker_password", "", "KAFKA_WORKER_PASSWORD")
			}, "worker is read_only and mounts secret kafka_worker_password, from a variable"},
			{"a secret file outside docker/secrets/", func(p *types.Project) {
				setSecretSource(p, "tagstream_secret", filepath.Join(p.WorkingDir, "tagstream_secret"), "")
			}, "secret tagstream_secret is the file tagstream_secret, want ./secrets/tagstream_secret"},
			{"a secret file of another name", func(p *types.Project) {
				setSecretSource(p, "kafka_rank_password", filepath.Join(p.WorkingDir, "secrets", "rank_password"), "")
			}, "secret kafka_rank_password is the file secrets/rank_password, want ./secrets/kafka_rank_password"},
			{"an external secret", func(p *types.Project) {
				setSecretSource(p, "s3_secret_key", "", "")
				sc := p.Secrets["s3_secret_key"]
				sc.External = true
				p.Secrets["s3_secret_key"] = sc
			}, "secret s3_secret_key is not a file"},
			{"a writable tagstream service", func(p *types.Project) {
				a := p.Services["api"]
				a.ReadOnly = false
				p.Services["api"] = a
			}, "api root file system is writable"},
			{"a writable one-shot", func(p *types.Project) {
				k := p.Services[kafkaInit]
				k.ReadOnly = false
				p.Services[kafkaInit] = k
			}, "kafka-init root file system is writable"},
			{"an API secret shorter than 32 bytes", func(p *types.Project) {
				setSecret(p, "tagstream_secret", "short")
			}, "api TAGSTREAM_SECRET is shorter than 32 bytes"},
			{"the API with S3's root key", func(p *types.Project) {
				useSecret(p.Services, "api", "TAGSTREAM_S3_SECRET_KEY", "s3_secret_key")
				unsetSecretMount(p.Services, "api", "s3_api_secret_key")
			}, "api holds s3's root key"},
			{"the API with S3's root access key", func(p *types.Project) {
				setEnv(p.Services, "api", "TAGSTREAM_S3_ACCESS_KEY", "tagstream")
			}, "api holds s3's root key"},
			{"the API with another account's secret", func(p *types.Project) {
				useSecret(p.Services, "api", "TAGSTREAM_S3_SECRET_KEY", "kafka_api_password")
				unsetSecretMount(p.Services, "api", "s3_api_secret_key")
			}, "is not the account s3-init makes"},
			{"the snapshotter with another Cassandra password", func(p *types.Project) {
				useSecret(p.Services, "snapshotter", "TAGSTREAM_CASSANDRA_PASSWORD", "cassandra_admin_password")
				unsetSecretMount(p.Services, "snapshotter", "cassandra_tagstream_password")
			}, "snapshotter TAGSTREAM_CASSANDRA_PASSWORD is not the password cassandra-roles sets"},
			{"a TLS secret under another name", func(p *types.Project) {
				sc := p.Secrets["tls_s3_pem"]
				p.Secrets["s3_cert"] = sc
				delete(p.Secrets, "tls_s3_pem")
			}, "secret s3_cert is the file secrets/tls/s3.pem: name it tls_s3_pem"},
			{"the CA's key as a secret", func(p *types.Project) {
				p.Secrets["tls_ca_key_pem"] = types.SecretConfig{Name: "tls_ca_key_pem", File: filepath.Join(p.WorkingDir, "secrets", "tls", "ca-key.pem")}
			}, "secret tls_ca_key_pem is the CA's key"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := loadAll(t) // a fresh copy each time; every service enabled
				tc.mutate(p)
				problems := checkProject(p)
				for _, pr := range problems {
					if strings.Contains(pr, tc.want) {
						t.Logf("reported: %s", pr)
						return
					}
				}
				t.Fatalf("no problem mentions %q; problems: %q", tc.want, problems)
			})
		}
	})

	t.Run("site.vcl", func(t *testing.T) {
		good := readFile(t, filepath.Join(vclDir, siteVCL))
		for _, tc := range []struct {
			name, old, new, want string
		}{
			{"another host", `apis.backend("api")`, `apis.backend("api-1")`, `resolves host "api-1", not the api service`},
			{"another port", `port = "8080",`, `port = "8081",`, `director apis is port 8081, the api listens on "8080"`},
			{"no port", `port = "8080",`, ``, `director apis has no port`},
			{"no backend hint", `set req.backend_hint = apis.backend("api");`, ``, "never sets req.backend_hint"},
			{"backend hint commented out", `set req.backend_hint = apis.backend("api");`, `# set req.backend_hint = apis.backend("api");`, "never sets req.backend_hint"},
			{"no import", "import dynamic;", "", "does not import dynamic"},
			{"probed where the api serves nothing", `.url = "/readyz";`, `.url = "/";`, "/healthz or /readyz"},
			{"not probed", "probe = api_ready,", "", "is not probed"},
			{"resolved once an hour", "ttl = 5s,", "", "resolves the api every 1h0m0s"},
			{"a static backend", "backend default none;", "backend default { .host = \"api\"; .port = \"8080\"; .probe = { .url = \"/readyz\"; }\n}", "api runs 3 replicas, but site.vcl backend default is the static host"},
			{"no purgers", "acl purgers {", "acl editors {", "acl purgers"},
			{"PURGE on every listener", `req.method == "PURGE" && local.socket != "purge"`, `req.method == "PURGE" && false`, "does not keep PURGE to a listener of its own"},
			{"PURGE on a listener varnishd does not open", `local.socket != "purge"`, `local.socket != "purges"`, `listener "purges", which varnish does not open`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if n := strings.Count(good, tc.old); n != 1 {
					t.Fatalf("%s has %d occurrences of %q, the mutation needs exactly 1", siteVCL, n, tc.old)
				}
				broken := strings.Replace(good, tc.old, tc.new, 1)
				all := loadAll(t).AllServices()
				api := all["api"]
				api.SetScale(3) // docker compose up --scale api=3
				all["api"] = api
				problems := checkEdge(all, func(file string) (string, error) {
					if !samePath(file, filepath.Join(vclDir, siteVCL)) {
						return "", fmt.Errorf("read %s, not docker/%s/%s", file, vclDir, siteVCL)
					}
					return broken, nil
				})
				for _, pr := range problems {
					if strings.Contains(pr, tc.want) {
						t.Logf("reported: %s", pr)
						return
					}
				}
				t.Fatalf("no problem mentions %q; problems: %q", tc.want, problems)
			})
		}
	})

	t.Run("cassandra/entrypoint.sh", func(t *testing.T) {
		good := readFile(t, cassandraEntrypoint)
		for _, tc := range []struct{ name, old, new string }{
			{"the image's entrypoint as a child", `exec docker-entrypoint.sh "$@"`, `docker-entrypoint.sh "$@"`},
			{"the image's entrypoint commented out", `exec docker-entrypoint.sh "$@"`, `# exec docker-entrypoint.sh "$@"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if n := strings.Count(good, tc.old); n != 1 {
					t.Fatalf("%s has %d occurrences of %q, the mutation needs exactly 1", cassandraEntrypoint, n, tc.old)
				}
				broken := strings.Replace(good, tc.old, tc.new, 1)
				problems := checkStop(loadAll(t).AllServices(), func(file string) (string, error) { return broken, nil })
				for _, pr := range problems {
					if strings.Contains(pr, "does not end with `exec docker-entrypoint.sh") {
						t.Logf("reported: %s", pr)
						return
					}
				}
				t.Fatalf("no problem says the script does not exec the image's entrypoint; problems: %q", problems)
			})
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		good := readFile(t, dockerfile)
		for _, tc := range []struct {
			name, old, new, want string
		}{
			{"root user", "USER 65532:65532", "USER root", "root"},
			{"uid 0", "USER 65532:65532", "USER 0:0", "root"},
			{"no user", "USER 65532:65532", "", "USER"},
			{"one stage", "FROM gcr.io/distroless/static-debian12:nonroot", "", "multi-stage"},
			{"sources before modules", "COPY go.mod go.sum ./\nRUN go mod download", "COPY . .\nRUN go mod download", "go mod download"},
			{"cgo", "CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/tagstream", "go build -o /out/tagstream", "CGO_ENABLED=0"},
			{"no probe", "COPY --from=build /out/healthprobe /healthprobe", "", healthprobe},
			{"no entrypoint", `ENTRYPOINT ["/tagstream"]`, "", "ENTRYPOINT"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if n := strings.Count(good, tc.old); n != 1 {
					t.Fatalf("Dockerfile has %d occurrences of %q, the mutation needs exactly 1", n, tc.old)
				}
				problems := checkDockerfile(strings.Replace(good, tc.old, tc.new, 1))
				for _, pr := range problems {
					if strings.Contains(pr, tc.want) {
						t.Logf("reported: %s", pr)
						return
					}
				}
				t.Fatalf("no problem mentions %q; problems: %q", tc.want, problems)
			})
		}
	})
}

// checkProject returns what is wrong with the deployment, as sentences.
func checkProject(p *types.Project) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	all := p.AllServices()
	names := sortedNames(all)

	// Every service has something to run, everything it depends on exists
	// (and can become healthy if it is waited for), every named volume it
	// mounts is declared, and it restarts and is bounded.
	for _, name := range names {
		s := all[name]
		if s.Image == "" && s.Build == nil {
			bad("%s has neither image nor build", name)
		}
		if s.Build == nil && !pinned(s.Image) {
			bad("%s image %q is not pinned to a version tag (or digest): every pull could bring another version", name, s.Image)
		}
		for dep, d := range s.DependsOn {
			target, ok := all[dep]
			switch {
			case !ok:
				bad("%s depends on %s, which is not a service", name, dep)
			case d.Condition == types.ServiceConditionHealthy && !hasHealthcheck(target):
				bad("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case d.Condition == types.ServiceConditionCompletedSuccessfully && target.Restart != types.RestartPolicyNo:
				bad("%s waits for %s to complete, but %s restarts (%q)", name, dep, dep, target.Restart)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				if _, ok := p.Volumes[v.Source]; !ok {
					bad("%s mounts volume %s, which is not declared", name, v.Source)
				}
			}
		}
		if s.Restart == types.RestartPolicyNo {
			if len(s.Command) == 0 && len(s.Entrypoint) == 0 {
				bad("%s does not restart, but is not a one-shot job with a command", name)
			}
		} else if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways {
			bad("%s has restart policy %q, want unless-stopped (or no for a one-shot job)", name, s.Restart)
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes <= 0 || s.Deploy.Resources.Limits.NanoCPUs <= 0 {
			bad("%s has no cpu and memory limit", name)
		} else if m := s.Deploy.Resources.Limits.MemoryBytes; m > 4<<30 {
			bad("%s memory limit %d bytes is not modest (over 4 GiB)", name, m)
		}
	}
	for _, name := range stateful {
		if !hasNamedVolume(all[name]) {
			bad("%s keeps its data in the container: it mounts no named volume", name)
		}
	}
	for _, name := range healthChecked {
		if !hasHealthcheck(all[name]) {
			bad("%s has no healthcheck", name)
		}
	}

	// Kafka: exactly three combined broker+controller nodes forming one
	// quorum, each advertising its own service name.
	var brokers []string
	for _, name := range names {
		if strings.HasPrefix(all[name].Image, kafkaImage) {
			brokers = append(brokers, name)
		}
	}
	if len(brokers) != 3 {
		bad("want 3 Kafka brokers, have %d: %v", len(brokers), brokers)
	}
	ids := map[string]string{} // node id -> service
	var voters, cluster string
	for _, name := range brokers {
		s := all[name]
		id := env(s, "KAFKA_NODE_ID")
		if id == "" {
			bad("%s has no KAFKA_NODE_ID", name)
		} else if other, dup := ids[id]; dup {
			bad("%s and %s share node id %s", other, name, id)
		}
		ids[id] = name
		roles := strings.Split(env(s, "KAFKA_PROCESS_ROLES"), ",")
		if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
			bad("%s has KAFKA_PROCESS_ROLES %q, want broker,controller", name, env(s, "KAFKA_PROCESS_ROLES"))
		}
		if v := env(s, "KAFKA_CONTROLLER_QUORUM_VOTERS"); voters == "" {
			voters = v
		} else if v != voters {
			bad("%s has another controller quorum (%q, not %q)", name, v, voters)
		}
		if c := env(s, "CLUSTER_ID"); c == "" {
			bad("%s has no CLUSTER_ID", name)
		} else if cluster == "" {
			cluster = c
		} else if c != cluster {
			bad("%s has another CLUSTER_ID", name)
		}
		for key, want := range map[string]string{
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "3",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
			"KAFKA_DEFAULT_REPLICATION_FACTOR":               "3",
			"KAFKA_MIN_INSYNC_REPLICAS":                      "2",
		} {
			if got := env(s, key); got != want {
				bad("%s has %s=%q, want %s", name, key, got, want)
			}
		}
		if dir := env(s, "KAFKA_LOG_DIRS"); !mountsNamedVolumeAt(s, dir) {
			bad("%s keeps its log dir %q outside a named volume", name, dir)
		}
	}
	// The quorum names every broker, by its node id, on the controller port.
	quorum := map[string]string{}
	for _, v := range strings.Split(voters, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(v), "@")
		if !ok {
			bad("quorum voter %q is not id@host:port", v)
			continue
		}
		quorum[id] = addr
	}
	if len(quorum) != len(brokers) {
		bad("the controller quorum %q has %d voters for %d brokers", voters, len(quorum), len(brokers))
	}
	for id, name := range ids {
		if got, want := quorum[id], name+":"+controllerPort; got != want {
			bad("the controller quorum has voter %s at %q, want %q", id, got, want)
		}
	}
	problems = append(problems, checkKafkaSecurity(all, brokers)...)

	// tagstream: one image built from one Dockerfile, pointed at the brokers
	// that exist, all processes agreeing on partitions and replication.
	var ref *types.ServiceConfig
	for _, name := range names {
		s := all[name]
		_, expected := tagstreamCommands[name]
		if s.Build == nil {
			if expected {
				bad("%s is a tagstream process but has no build", name)
			}
			continue
		}
		if !expected {
			bad("%s builds an image but is not a known tagstream process", name)
		}
		if ref == nil {
			ref = &s
		} else {
			if s.Image != ref.Image {
				bad("%s uses image %q, %s uses %q: every tagstream process runs the same image", name, s.Image, ref.Name, ref.Image)
			}
			if s.Build.Context != ref.Build.Context || s.Build.Dockerfile != ref.Build.Dockerfile {
				bad("%s has another build (%s %s) than %s", name, s.Build.Context, s.Build.Dockerfile, ref.Name)
			}
		}
	}
	for _, name := range sortedKeys(tagstreamCommands) {
		s, ok := all[name]
		if !ok {
			bad("tagstream process %s is missing", name)
			continue
		}
		if len(s.Command) == 0 || s.Command[0] != tagstreamCommands[name] {
			bad("%s runs %q, want `tagstream %s`", name, s.Command, tagstreamCommands[name])
		}
		// Tables are in memory, the secrets bind mounts: nothing to write.
		if !s.ReadOnly {
			bad("%s root file system is writable: want read_only (tagstream writes nothing locally, and its secrets are bind mounts)", name)
		}
		problems = append(problems, checkFlags(name, tagstreamCommands[name], s)...)
		if slices.Contains(kafkaFree, name) {
			if env(s, "TAGSTREAM_BROKERS") != "" {
				bad("%s names brokers, but does not talk to Kafka", name)
			}
			continue
		}
		for _, b := range brokerNames {
			if d, ok := s.DependsOn[b]; !ok || d.Condition != types.ServiceConditionHealthy {
				bad("%s starts before %s is healthy", name, b)
			}
		}
		// TLS to the brokers, checked against the compose CA.
		if env(s, "TAGSTREAM_KAFKA_TLS") != "true" {
			bad("%s TAGSTREAM_KAFKA_TLS=%q: the brokers take only TLS (SASL_SSL), want true", name, env(s, "TAGSTREAM_KAFKA_TLS"))
		}
		if sc, ok := secretMounts(s)[env(s, "TAGSTREAM_KAFKA_CA")]; !ok || sc.Source != caSecret {
			bad("%s TAGSTREAM_KAFKA_CA=%q is not the compose CA (secret %s) it mounts: the brokers' certificates would not verify", name, env(s, "TAGSTREAM_KAFKA_CA"), caSecret)
		}
		listed := map[string]bool{}
		for _, addr := range strings.Split(env(s, "TAGSTREAM_BROKERS"), ",") {
			host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
			switch {
			case err != nil:
				bad("%s TAGSTREAM_BROKERS entry %q: %v", name, addr, err)
			case !slices.Contains(brokers, host):
				bad("%s TAGSTREAM_BROKERS names %s, which is not a Kafka service", name, host)
			case port != brokerPort:
				bad("%s TAGSTREAM_BROKERS names %s on port %s, the brokers listen on %s", name, host, port, brokerPort)
			}
			listed[host] = true
		}
		if len(listed) != len(brokers) {
			bad("%s TAGSTREAM_BROKERS names %d of the %d brokers: bootstrap should survive any one down", name, len(listed), len(brokers))
		}
		if slices.Contains(topicUsers, name) {
			for _, key := range []string{"TAGSTREAM_PARTITIONS", "TAGSTREAM_REPLICATION"} {
				if got, want := env(s, key), env(all["worker"], key); got != want {
					bad("%s has %s=%q, the workers %q: goka's groups must be co-partitioned", name, key, got, want)
				}
			}
		}
	}
	worker := all["worker"]
	partitions, err1 := strconv.Atoi(env(worker, "TAGSTREAM_PARTITIONS"))
	replication, err2 := strconv.Atoi(env(worker, "TAGSTREAM_REPLICATION"))
	minISR, _ := strconv.Atoi(env(all["kafka-1"], "KAFKA_MIN_INSYNC_REPLICAS"))
	switch {
	case err1 != nil || err2 != nil:
		bad("worker TAGSTREAM_PARTITIONS/TAGSTREAM_REPLICATION are not numbers: %v %v", err1, err2)
	case replication > len(brokers) || replication <= minISR:
		bad("TAGSTREAM_REPLICATION=%d: want more than min.insync.replicas (%d) and at most the %d brokers", replication, minISR, len(brokers))
	case worker.GetScale() < 2:
		bad("worker has %d replicas, want at least 2", worker.GetScale())
	case worker.GetScale() > partitions:
		bad("worker has %d replicas for %d partitions: the rest would idle", worker.GetScale(), partitions)
	}
	// Replicas share one environment: a fixed instance id would be every
	// replica's, and two workers with one transactional id fence each other.
	if id := env(worker, "TAGSTREAM_INSTANCE_ID"); id != "" && worker.GetScale() > 1 {
		bad("worker sets TAGSTREAM_INSTANCE_ID=%q for all its %d replicas: each running worker needs its own (leave it empty)", id, worker.GetScale())
	}

	// The HTTP processes: reachable from outside their container, and
	// checked through the probe binary on the port they listen on: /readyz
	// of the API's listener, or /healthz of the metrics listener of those
	// without one.
	probed := map[string][2]string{} // service -> variable, path
	for _, name := range httpServices {
		probed[name] = [2]string{"TAGSTREAM_HTTP", "/readyz"}
	}
	for _, name := range metricsServices {
		probed[name] = [2]string{"TAGSTREAM_METRICS", "/healthz"}
	}
	for _, name := range slices.Sorted(maps.Keys(probed)) {
		s, key, route := all[name], probed[name][0], probed[name][1]
		host, port, _ := net.SplitHostPort(env(s, key))
		if (host != "0.0.0.0" && host != "") || port == "" {
			bad("%s %s=%q listens inside the container only", name, key, env(s, key))
		}
		if !hasHealthcheck(s) {
			continue
		}
		if hc := s.HealthCheck.Test; len(hc) != 3 || hc[0] != "CMD" || hc[1] != healthprobe {
			bad("%s healthcheck %q does not run %s, the image has no shell", name, hc, healthprobe)
		} else if want := "http://127.0.0.1:" + port + route; hc[2] != want {
			bad("%s healthcheck asks %s, want %s (its %s)", name, hc[2], want, key)
		}
	}

	problems = append(problems, checkCassandra(all, p.Secrets)...)

	// The API: reachable from outside its container, with its secret from
	// its file, and its photos in the compose's S3.
	api := all["api"]
	if len(secretValue(p.Secrets, api, "TAGSTREAM_SECRET")) < 32 {
		bad("api TAGSTREAM_SECRET is shorter than 32 bytes")
	}
	// The edge is the way in: a port of the api's own on the host would be
	// a way around it (around its cache, and into /metrics and /readyz,
	// which the VCL keeps from clients).
	for _, port := range api.Ports {
		bad("api publishes %s:%d on the host: clients must come through the edge", port.Published, port.Target)
	}
	problems = append(problems, checkS3(all, p.Secrets)...)
	problems = append(problems, checkEdge(all, readText)...)
	problems = append(problems, checkStop(all, readText)...)
	problems = append(problems, checkHardening(all)...)
	if len(brokers) > 0 {
		problems = append(problems, checkPrincipals(all, p.Secrets, kafkaProps(all[brokers[0]]))...)
	}
	problems = append(problems, checkSecrets(p)...)
	return problems
}

// cassandraRole is the application's Cassandra role, which
// cassandra-roles makes and the snapshot's processes log in as.
const cassandraRole = "tagstream"

// checkCassandra checks the way to Cassandra: the node serves TLS (its key
// store and password mounted, named for docker/cassandra/entrypoint.sh);
// cassandra-roles, a one-shot after the node is healthy, logs in over TLS
// against the compose CA and sets the application role's password; and
// every tagstream process reading Cassandra (the snapshotter, and
// cassandra-init, the one-shot making the schema after cassandra-roles)
// names the node on 9042, over TLS against the compose CA, as that role
// with that password, into a keyspace the nodes can replicate, the
// snapshotter only once cassandra-init has run.
func checkCassandra(all types.Services, secrets types.Secrets) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	nodes := map[string]string{} // service -> data center
	for _, name := range sortedNames(all) {
		s := all[name]
		if !strings.HasPrefix(s.Image, cassandraImage) || s.Restart == types.RestartPolicyNo {
			continue
		}
		nodes[name] = env(s, "CASSANDRA_DC")
		mounts := secretMounts(s)
		if mounts[env(s, "CASSANDRA_KEYSTORE")].Source != tlsSecretName(name+".p12") {
			bad("%s CASSANDRA_KEYSTORE=%q is not its own certificate (secret %s): it would not serve TLS", name, env(s, "CASSANDRA_KEYSTORE"), tlsSecretName(name+".p12"))
		}
		if mounts[env(s, "CASSANDRA_KEYSTORE_PASSWORD_FILE")].Source != "tls_p12_password" {
			bad("%s CASSANDRA_KEYSTORE_PASSWORD_FILE=%q is not the key stores' password (secret tls_p12_password)", name, env(s, "CASSANDRA_KEYSTORE_PASSWORD_FILE"))
		}
	}
	roles, ok := all[cassandraRoles]
	if !ok {
		return append(problems, "no cassandra-roles service makes Cassandra's roles: with PasswordAuthenticator nothing but the default superuser could log in")
	}
	if !mapHas(nodes, env(roles, "CQL_HOST")) {
		bad("cassandra-roles CQL_HOST=%q is not a Cassandra node", env(roles, "CQL_HOST"))
	} else if d, ok := roles.DependsOn[env(roles, "CQL_HOST")]; !ok || d.Condition != types.ServiceConditionHealthy {
		bad("cassandra-roles starts before %s is healthy", env(roles, "CQL_HOST"))
	}
	if secretMounts(roles)[env(roles, "CQL_CA")].Source != caSecret {
		bad("cassandra-roles CQL_CA=%q is not the compose CA (secret %s)", env(roles, "CQL_CA"), caSecret)
	}
	password := fileSecret(secrets, roles, env(roles, "CQL_TAGSTREAM_PASSWORD_FILE"))
	for _, name := range []string{cassandraInit, "snapshotter"} {
		s, ok := all[name]
		if !ok {
			bad("no %s service", name)
			continue
		}
		for _, addr := range strings.Split(env(s, "TAGSTREAM_CASSANDRA"), ",") {
			host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
			switch {
			case err != nil:
				bad("%s TAGSTREAM_CASSANDRA entry %q: %v", name, addr, err)
			case !mapHas(nodes, host):
				bad("%s TAGSTREAM_CASSANDRA names %s, which is not a Cassandra service", name, host)
			case port != cassandraPort:
				bad("%s TAGSTREAM_CASSANDRA names %s on port %s, Cassandra listens on %s", name, host, port, cassandraPort)
			case name == "snapshotter":
				if d, ok := s.DependsOn[host]; !ok || d.Condition != types.ServiceConditionHealthy {
					bad("snapshotter starts before %s is healthy", host)
				}
			}
		}
		if env(s, "TAGSTREAM_CASSANDRA_TLS") != "true" {
			bad("%s TAGSTREAM_CASSANDRA_TLS=%q: Cassandra takes only TLS clients, want true", name, env(s, "TAGSTREAM_CASSANDRA_TLS"))
		}
		if secretMounts(s)[env(s, "TAGSTREAM_CASSANDRA_CA")].Source != caSecret {
			bad("%s TAGSTREAM_CASSANDRA_CA=%q is not the compose CA (secret %s) it mounts", name, env(s, "TAGSTREAM_CASSANDRA_CA"), caSecret)
		}
		if user := env(s, "TAGSTREAM_CASSANDRA_USER"); user != cassandraRole {
			bad("%s TAGSTREAM_CASSANDRA_USER=%q: want %s, the role cassandra-roles makes (and the keyspace's owner)", name, user, cassandraRole)
		}
		if got := secretValue(secrets, s, "TAGSTREAM_CASSANDRA_PASSWORD"); got == "" || got != password {
			bad("%s TAGSTREAM_CASSANDRA_PASSWORD is not the password cassandra-roles sets for %s (its CQL_TAGSTREAM_PASSWORD_FILE)", name, cassandraRole)
		}
		if dc := env(s, "TAGSTREAM_CASSANDRA_LOCAL_DC"); dc != "" && !slices.Contains(slices.Collect(maps.Values(nodes)), dc) {
			bad("%s TAGSTREAM_CASSANDRA_LOCAL_DC=%q is no Cassandra node's data centre (CASSANDRA_DC): every request would go to a remote one, and LOCAL_QUORUM would find no replica", name, dc)
		}
		if r := env(s, "TAGSTREAM_KEYSPACE_REPLICATION"); r != "" {
			for _, pr := range checkReplication(r, nodes) {
				bad("%s TAGSTREAM_KEYSPACE_REPLICATION=%q: %s", name, r, pr)
			}
		}
	}
	init := all[cassandraInit]
	if !slices.Contains(init.Command, "--init-schema") {
		bad("cassandra-init runs %q, want `tagstream snapshot --init-schema`", init.Command)
	}
	if d, ok := init.DependsOn[cassandraRoles]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		bad("cassandra-init starts before cassandra-roles has made its role")
	}
	if d, ok := all["snapshotter"].DependsOn[cassandraInit]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		bad("snapshotter starts before cassandra-init has made the schema: it no longer makes it itself")
	}
	return problems
}

// checkSecrets checks how the services get their secrets: every secret is
// a file of docker/secrets/ named after it (docker/secrets.sh writes them
// there), which Compose bind-mounts with the host file's owner and mode,
// ignoring a service's mode, uid and gid for it; a tagstream service holds
// none in its environment, which `docker inspect` shows, but reads each
// from the file its <VAR>_FILE names; every variable naming a file in
// /run/secrets (every *_FILE of a tagstream service) names a secret the
// service mounts, and every secret a service mounts is named by one of its
// variables (no service gets a secret it does not read).
func checkSecrets(p *types.Project) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	dir := filepath.Join(p.WorkingDir, "secrets")
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		def := p.Secrets[name]
		switch {
		case def.Environment != "":
			bad("secret %s is read from variable %s: the secrets are files of docker/secrets/, which docker/secrets.sh writes", name, def.Environment)
		case def.File == "":
			bad("secret %s is not a file: want ./secrets/%s, which docker/secrets.sh writes", name, name)
		case filepath.Dir(def.File) == filepath.Join(dir, "tls"):
			// The certificates: services/tls.sh names the files, the
			// secret is tls_ and the file's name with '-' and '.' as '_'.
			if want := tlsSecretName(filepath.Base(def.File)); name != want {
				bad("secret %s is the file secrets/tls/%s: name it %s", name, filepath.Base(def.File), want)
			}
			if filepath.Base(def.File) == "ca-key.pem" {
				bad("secret %s is the CA's key, which signs every certificate: no container may hold it", name)
			}
		case def.File != filepath.Join(dir, name):
			rel, err := filepath.Rel(p.WorkingDir, def.File)
			if err != nil {
				rel = def.File
			}
			bad("secret %s is the file %s, want ./secrets/%s: docker/secrets.sh writes it there, in a directory only its owner may open, which .gitignore keeps out of git", name, rel, name)
		}
	}
	all := p.AllServices()
	for _, name := range sortedNames(all) {
		s := all[name]
		_, tagstream := tagstreamCommands[name]
		if tagstream {
			for _, key := range secretVars {
				v, set := s.Environment[key]
				if !set {
					continue
				}
				if v != nil && *v != "" {
					bad("%s sets %s in its environment, which `docker inspect` shows: mount a secret and name it in %s_FILE", name, key, key)
				}
				if env(s, key+"_FILE") != "" {
					bad("%s sets both %s and %s_FILE: tagstream refuses both forms at one level", name, key, key)
				}
			}
		}
		mounts := secretMounts(s)
		named := map[string]bool{} // mounted files a variable names
		for _, key := range sortedKeys(envMap(s)) {
			v := env(s, key)
			if strings.HasPrefix(s.Image, kafkaImage) && kafkaSecretFileVar.MatchString(key) {
				// The image's start script looks for these names
				// under its secrets directory.
				v = path.Join(kafkaSecretsDir, v)
			}
			if _, ok := mounts[v]; ok {
				named[v] = true
			} else if v != "" && (strings.HasPrefix(v, secretsDir) || (tagstream && strings.HasSuffix(key, "_FILE"))) {
				bad("%s %s=%s names no secret %s mounts", name, key, v, name)
			}
		}
		for _, target := range slices.Sorted(maps.Keys(mounts)) {
			sc := mounts[target]
			if !named[target] {
				bad("%s mounts secret %s, which none of its variables names: a secret goes only to the services that read it", name, sc.Source)
			}
			if def := p.Secrets[sc.Source]; def.Environment != "" {
				// Compose writes such a secret into the container's root
				// file system, and refuses to for a read-only one.
				if s.ReadOnly {
					bad("%s is read_only and mounts secret %s, from a variable: Compose refuses to write it into a read-only root file system", name, sc.Source)
				}
				continue
			}
			if sc.Mode != nil || sc.UID != "" || sc.GID != "" {
				bad("%s secret %s sets mode, uid or gid, which Compose ignores for a `file:` secret (with a warning): the mount has the host file's owner and mode, 0444 from docker/secrets.sh", name, sc.Source)
			}
		}
	}
	return problems
}

// kafkaSecretsDir is where the apache/kafka image's start script looks for
// the files its KAFKA_SSL_*_FILENAME and *_CREDENTIALS variables name.
const kafkaSecretsDir = "/etc/kafka/secrets"

var kafkaSecretFileVar = regexp.MustCompile(`^KAFKA_SSL_\w+_(FILENAME|CREDENTIALS)$`)

// tlsSecretName is the Compose secret of a file of docker/secrets/tls/.
func tlsSecretName(file string) string {
	return "tls_" + strings.NewReplacer("-", "_", ".", "_").Replace(file)
}

// secretMounts returns the secrets s mounts, by the path Compose mounts
// each at: the target if absolute, else /run/secrets/ and the target (or
// the secret's name).
func secretMounts(s types.ServiceConfig) map[string]types.ServiceSecretConfig {
	m := map[string]types.ServiceSecretConfig{}
	for _, sc := range s.Secrets {
		target := sc.Target
		switch {
		case target == "":
			target = secretsDir + sc.Source
		case !strings.HasPrefix(target, "/"):
			target = secretsDir + target
		}
		m[target] = sc
	}
	return m
}

// secretValue returns what variable key gives s's process: the content of
// the secret key_FILE names, if it is set, or else key's own value.
func secretValue(secrets types.Secrets, s types.ServiceConfig, key string) string {
	if path := env(s, key+"_FILE"); path != "" {
		return fileSecret(secrets, s, path)
	}
	return env(s, key)
}

// fileSecret returns the content of the secret s mounts at path ("" if it
// mounts none there): its Content, as withSecretFiles set it.
func fileSecret(secrets types.Secrets, s types.ServiceConfig, path string) string {
	if sc, ok := secretMounts(s)[path]; ok {
		return secrets[sc.Source].Content
	}
	return ""
}

// inspected returns what `docker inspect` shows of a service's container
// that could hold a secret: its environment, command, entrypoint, health
// check and labels.
func inspected(s types.ServiceConfig) string {
	var b strings.Builder
	for _, k := range sortedKeys(envMap(s)) {
		b.WriteString(k + "=" + env(s, k) + "\n")
	}
	b.WriteString(strings.Join(s.Command, " ") + "\n" + strings.Join(s.Entrypoint, " ") + "\n")
	if s.HealthCheck != nil {
		b.WriteString(strings.Join(s.HealthCheck.Test, " ") + "\n")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		b.WriteString(k + "=" + s.Labels[k] + "\n")
	}
	return b.String()
}

// checkKafkaSecurity checks what every broker needs for SASL and ACLs, as
// services/kafka/server.properties configures the test broker: one SASL
// client listener on the broker port, also between brokers, advertised
// under the broker's service name; PLAIN (static credentials) between
// brokers and for the admin, with the brokers accepting their own login;
// a login module for every enabled mechanism; the StandardAuthorizer
// denying what no ACL allows; the brokers' principal a superuser, and
// ANONYMOUS too where the controller listener is PLAINTEXT; a healthcheck
// that logs in; and, but for node id and advertised listener, the same
// settings on every broker.
func checkKafkaSecurity(all types.Services, brokers []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var first map[string]string
	for _, name := range brokers {
		s := all[name]
		props := kafkaProps(s)
		controllers := strings.Split(props["controller.listener.names"], ",")
		protocols := map[string]string{}
		for _, kv := range strings.Split(props["listener.security.protocol.map"], ",") {
			if l, proto, ok := strings.Cut(strings.TrimSpace(kv), ":"); ok {
				protocols[l] = proto
			}
		}
		var client string
		for _, l := range strings.Split(props["listeners"], ",") {
			lname, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
			_, port, err := net.SplitHostPort(addr)
			switch {
			case !ok || err != nil:
				bad("%s listener %q is not NAME://host:port", name, l)
			case protocols[lname] == "":
				bad("%s listener %s has no security protocol in listener.security.protocol.map", name, lname)
			case slices.Contains(controllers, lname):
				if port != controllerPort {
					bad("%s controller listener %s is on port %s, the quorum uses %s", name, lname, port, controllerPort)
				}
				// SCRAM cannot guard it (its credentials live in the
				// log the controllers serve): client certificates do.
				if protocols[lname] != "SSL" {
					bad("%s controller listener %s is %s: want SSL with client certificates, or anything in the network is a superuser there", name, lname, protocols[lname])
				}
				if auth := props["listener.name."+strings.ToLower(lname)+".ssl.client.auth"]; auth != "required" {
					bad("%s controller listener %s has listener.name.%s.ssl.client.auth=%q: want required, only the brokers' certificates get in", name, lname, strings.ToLower(lname), auth)
				}
			case client != "":
				bad("%s has a second client listener %s: clients and brokers use %s only", name, lname, client)
			default:
				client = lname
				if !strings.HasPrefix(protocols[lname], "SASL_") {
					bad("%s client listener %s is %s: any client would be ANONYMOUS", name, lname, protocols[lname])
				} else if protocols[lname] != "SASL_SSL" {
					bad("%s client listener %s is %s: want SASL_SSL, records and the admin's PLAIN password would cross the network in the clear", name, lname, protocols[lname])
				}
				if port != brokerPort {
					bad("%s client listener %s is on port %s, tagstream uses %s", name, lname, port, brokerPort)
				}
			}
		}
		if client == "" {
			bad("%s has no client listener", name)
			continue
		}
		if got, want := props["advertised.listeners"], client+"://"+name+":"+brokerPort; got != want {
			bad("%s advertises %q, want %q", name, got, want)
		}
		if got := props["inter.broker.listener.name"]; got != client {
			bad("%s inter.broker.listener.name=%q: the brokers must authenticate to each other on %s", name, got, client)
		}
		mechanisms := strings.Split(props["sasl.enabled.mechanisms"], ",")
		if got := props["sasl.mechanism.inter.broker.protocol"]; got != plainMechanism {
			bad("%s sasl.mechanism.inter.broker.protocol=%q, want %s: no SCRAM user exists before the cluster runs", name, got, plainMechanism)
		}
		for _, m := range mechanisms {
			key := "listener.name." + strings.ToLower(client) + "." + strings.ToLower(m) + ".sasl.jaas.config"
			module, _, err := parseJAAS(props[key])
			switch {
			case loginModules[m] == "":
				bad("%s enables SASL mechanism %q, which tagstream does not speak", name, m)
			case err != nil:
				bad("%s %s (%s): %v: the broker would not start", name, key, envName(key), err)
			case module != loginModules[m]:
				bad("%s %s uses %s, %s needs %s", name, key, module, m, loginModules[m])
			}
		}
		if !slices.Contains(mechanisms, plainMechanism) {
			bad("%s does not enable %s, the brokers' and the admin's mechanism", name, plainMechanism)
		} else {
			users, login, password := plainLogin(props, client)
			switch {
			case login == "" || password == "":
				bad("%s PLAIN JAAS config has no username and password for the brokers' own login", name)
			case users[login] != password:
				bad("%s PLAIN JAAS config: user_%s is not the password the brokers log in with", name, login)
			case !slices.Contains(superUsers(props), "User:"+login):
				bad("%s super.users=%q lacks User:%s, the brokers' own principal", name, props["super.users"], login)
			}
		}
		problems = append(problems, checkBrokerTLS(name, s, props, brokers)...)
		if got := props["authorizer.class.name"]; got != standardAuthorizer {
			bad("%s authorizer.class.name=%q, want %s: without it no ACL is enforced", name, got, standardAuthorizer)
		}
		if got := props["allow.everyone.if.no.acl.found"]; got != "false" {
			bad("%s allow.everyone.if.no.acl.found=%q, want false: a resource without ACLs would be open to every principal", name, got)
		}
		if strings.HasPrefix(protocols[client], "SASL_") && env(s, "KAFKA_OPTS") == "" {
			bad("%s has no KAFKA_OPTS: the image refuses to start a SASL listener without it", name)
		}
		if hasHealthcheck(s) {
			hc := strings.Join(s.HealthCheck.Test, " ")
			for _, want := range []string{"--bootstrap-server localhost:" + brokerPort, "--command-config", "security.protocol=" + protocols[client],
				"ssl.truststore.location=" + props["ssl.truststore.location"],
				"sasl.mechanism=" + plainMechanism, envName("listener.name." + strings.ToLower(client) + ".plain.sasl.jaas.config")} {
				if !strings.Contains(hc, want) {
					bad("%s healthcheck %q does not log in (no %s)", name, hc, want)
				}
			}
		}
		// The same settings on every broker.
		delete(props, "node.id")
		delete(props, "advertised.listeners")
		props["KAFKA_OPTS"] = env(s, "KAFKA_OPTS")
		if first == nil {
			first = props
			continue
		}
		for _, k := range sortedKeys(first) {
			if props[k] != first[k] {
				bad("%s has %s=%q, %s %q: only node id and advertised listener may differ", name, k, props[k], brokers[0], first[k])
			}
		}
		for _, k := range sortedKeys(props) {
			if _, ok := first[k]; !ok {
				bad("%s sets %s, which %s does not: only node id and advertised listener may differ", name, k, brokers[0])
			}
		}
	}
	return problems
}

// checkBrokerTLS checks a broker's certificates: its own key store
// (tls_<broker>_p12, which docker/secrets.sh makes for the broker's name,
// with the subject CN=<broker>,O=tagstream) and the password file where
// the image's start script looks, the compose CA as its trust store, every
// broker's certificate principal a superuser (the controllers know the
// brokers by it) and ANONYMOUS none (no listener is PLAINTEXT).
func checkBrokerTLS(name string, s types.ServiceConfig, props map[string]string, brokers []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	mounts := secretMounts(s)
	mounted := func(file string) string { return mounts[path.Join(kafkaSecretsDir, file)].Source }
	if got, want := mounted(props["ssl.keystore.filename"]), tlsSecretName(name+".p12"); props["ssl.keystore.filename"] == "" || got != want {
		bad("%s key store %s/%s is secret %q, want %s: its own certificate, for its name", name, kafkaSecretsDir, props["ssl.keystore.filename"], got, want)
	}
	if props["ssl.keystore.type"] != "PKCS12" {
		bad("%s ssl.keystore.type=%q: want PKCS12 (the image always sets ssl.key.password, and the PEM keys are not encrypted)", name, props["ssl.keystore.type"])
	}
	for _, key := range []string{"ssl.keystore.credentials", "ssl.key.credentials"} {
		if got := mounted(props[key]); props[key] == "" || got != "tls_p12_password" {
			bad("%s %s (%s) is %s/%s, secret %q: want tls_p12_password", name, key, envName(key), kafkaSecretsDir, props[key], got)
		}
	}
	if props["ssl.truststore.type"] != "PEM" || mounts[props["ssl.truststore.location"]].Source != caSecret {
		bad("%s ssl.truststore.location=%q (type %q) is not the compose CA (secret %s, PEM)", name, props["ssl.truststore.location"], props["ssl.truststore.type"], caSecret)
	}
	if v, ok := props["ssl.endpoint.identification.algorithm"]; ok && v != "https" {
		bad("%s ssl.endpoint.identification.algorithm=%q: the brokers would not check each other's names", name, v)
	}
	supers := superUsers(props)
	for _, b := range brokers {
		if p := "User:CN=" + b + ",O=tagstream"; !slices.Contains(supers, p) {
			bad("%s super.users lacks %s, the principal of %s's certificate on the controller listener", name, p, b)
		}
	}
	if slices.Contains(supers, anonymous) {
		bad("%s super.users holds %s: no listener is PLAINTEXT, and a connection without a certificate must get nothing", name, anonymous)
	}
	return problems
}

// checkPrincipals checks who each tagstream process is to Kafka: kafka-init
// creates a SCRAM user for every role (topology.Roles) as the admin, a
// superuser logging in with the brokers' PLAIN credentials; every other
// process that talks to Kafka runs as its role's user, with the password
// kafka-init sets for it, never as a superuser, after kafka-init has run;
// and a process that may not create the topics it needs starts after one
// that may. props are a broker's server.properties; passwords are what the
// processes read (secretValue).
func checkPrincipals(all types.Services, secrets types.Secrets, props map[string]string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	supers := superUsers(props)
	enabled := strings.Split(props["sasl.enabled.mechanisms"], ",")
	init, ok := all[kafkaInit]
	if !ok {
		return []string{"no kafka-init service creates the Kafka users and ACLs"}
	}
	users := map[topology.Role]string{} // role -> user, as kafka-init gives them
	createUsers := false
	for _, a := range init.Command[min(1, len(init.Command)):] {
		if a == "--create-users" || a == "-create-users" || a == "--create-users=true" {
			createUsers = true
		} else if role, user, ok := strings.Cut(a, "="); ok && !strings.HasPrefix(a, "-") {
			users[topology.Role(role)] = user
		}
	}
	if !createUsers {
		bad("kafka-init runs %q without --create-users: no principal would have credentials", init.Command)
	}
	for _, role := range topology.Roles() {
		if users[role] == "" {
			bad("kafka-init gives role %s no user: its principal would have no credentials and no ACLs", role)
		}
	}
	for role := range users {
		if !slices.Contains(topology.Roles(), role) {
			bad("kafka-init names role %q, which is not one of %v", role, topology.Roles())
		}
	}
	admin := env(init, "TAGSTREAM_KAFKA_USER")
	plain, _, _ := plainLogin(props, props["inter.broker.listener.name"])
	switch mech := env(init, "TAGSTREAM_KAFKA_SASL_MECHANISM"); {
	case !slices.Contains(supers, "User:"+admin):
		bad("kafka-init runs as %q, not one of super.users %v: it could not create users and ACLs", admin, supers)
	case mech != plainMechanism:
		bad("kafka-init logs in with %s: only %s credentials exist before it has run", mech, plainMechanism)
	case plain[admin] == "" || plain[admin] != secretValue(secrets, init, "TAGSTREAM_KAFKA_PASSWORD"):
		bad("kafka-init TAGSTREAM_KAFKA_PASSWORD is not the brokers' PLAIN password of %s (user_%s)", admin, admin)
	}

	for _, name := range sortedKeys(tagstreamCommands) {
		s, ok := all[name]
		if !ok || name == kafkaInit || env(s, "TAGSTREAM_BROKERS") == "" {
			continue
		}
		user, password := env(s, "TAGSTREAM_KAFKA_USER"), secretValue(secrets, s, "TAGSTREAM_KAFKA_PASSWORD")
		if user == "" {
			bad("%s has no TAGSTREAM_KAFKA_USER: it would connect without SASL and be refused", name)
			continue
		}
		if password == "" {
			bad("%s has no TAGSTREAM_KAFKA_PASSWORD_FILE naming a secret it mounts (nor TAGSTREAM_KAFKA_PASSWORD)", name)
		}
		if slices.Contains(supers, "User:"+user) {
			bad("%s runs as %s, a superuser: a long-running process gets its role's grants, no more", name, user)
		}
		role, ok := serviceRoles[name]
		if !ok {
			bad("%s talks to Kafka but has no role (serviceRoles)", name)
			continue
		}
		if users[role] != user {
			bad("%s runs as %s, but kafka-init gives role %s to %q", name, user, role, users[role])
		}
		mech := env(s, "TAGSTREAM_KAFKA_SASL_MECHANISM")
		if mech == "" {
			mech = scramMechanism // tagstream's default
		}
		if mech != scramMechanism {
			bad("%s logs in with %s, but kafka-init creates %s credentials", name, mech, scramMechanism)
		} else if !slices.Contains(enabled, mech) {
			bad("%s logs in with %s, which the brokers do not enable", name, mech)
		}
		if key := config.EnvName(string(role) + "-password"); password != secretValue(secrets, init, key) {
			bad("%s TAGSTREAM_KAFKA_PASSWORD is not the password kafka-init sets for %s (its %s)", name, user, key)
		}
		if d, ok := s.DependsOn[kafkaInit]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			bad("%s starts before kafka-init has created its user and ACLs", name)
		}
	}

	// Whoever ensures topics it may not create waits for whoever creates them.
	for _, name := range topicUsers {
		role, ok := serviceRoles[name]
		if !ok || mayCreateTopics(role) {
			continue
		}
		after := false
		for dep := range all[name].DependsOn {
			if r, ok := serviceRoles[dep]; ok && mayCreateTopics(r) {
				after = true
			}
		}
		if !after {
			bad("%s may not create topics (role %s) and starts before any process that may: on a first start it would find none", name, role)
		}
	}
	return problems
}

// mayCreateTopics reports whether role's ACLs let it create a topic.
func mayCreateTopics(role topology.Role) bool {
	for _, g := range topology.Namespace("").Grants(role) {
		if g.Resource == kmsg.ACLResourceTypeTopic && slices.Contains(g.Ops, kmsg.ACLOperationCreate) {
			return true
		}
	}
	return false
}

// kafkaProps returns the server.properties the apache/kafka image writes
// from s's environment.
func kafkaProps(s types.ServiceConfig) map[string]string {
	props := map[string]string{}
	for k := range s.Environment {
		if strings.HasPrefix(k, "KAFKA_") && !slices.Contains(imageOwnVars, k) {
			props[propertyName(k)] = env(s, k)
		}
	}
	return props
}

// propertyName is the image's mapping of a KAFKA_* variable to a property:
// '_' is '.', '__' is '_' and '___' is '-'.
func propertyName(variable string) string {
	k := strings.ToLower(strings.TrimPrefix(variable, "KAFKA_"))
	k = strings.ReplaceAll(k, "_", ".")
	k = strings.ReplaceAll(k, "...", "-")
	return strings.ReplaceAll(k, "..", "_")
}

// envName is the variable propertyName maps to property.
func envName(property string) string {
	k := strings.ReplaceAll(property, "_", "__")
	k = strings.ReplaceAll(k, "-", "___")
	return "KAFKA_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
}

func superUsers(props map[string]string) []string {
	var out []string
	for _, u := range strings.Split(props["super.users"], ";") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// plainLogin reads the PLAIN JAAS config of listener: the users the
// brokers accept (user_<name>="password") and the login they use themselves.
func plainLogin(props map[string]string, listener string) (users map[string]string, username, password string) {
	_, opts, _ := parseJAAS(props["listener.name."+strings.ToLower(listener)+".plain.sasl.jaas.config"])
	users = map[string]string{}
	for k, v := range opts {
		if u, ok := strings.CutPrefix(k, "user_"); ok {
			users[u] = v
		}
	}
	return users, opts["username"], opts["password"]
}

var (
	jaasEntry  = regexp.MustCompile(`^(\S+)\s+(?:required|requisite|sufficient|optional)\b\s*(.*);$`)
	jaasOption = regexp.MustCompile(`^([A-Za-z0-9_.-]+)="([^"]*)"\s*`)
)

// parseJAAS parses one JAAS login module entry, as a sasl.jaas.config
// property holds it: `module.Class required key="value" ...;`.
func parseJAAS(text string) (module string, opts map[string]string, err error) {
	m := jaasEntry.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return "", nil, fmt.Errorf("JAAS config %q is not `LoginModule required key=\"value\" ...;`", text)
	}
	module, rest := m[1], m[2]
	opts = map[string]string{}
	for rest != "" {
		o := jaasOption.FindStringSubmatch(rest)
		if o == nil {
			return "", nil, fmt.Errorf("JAAS config %q: cannot parse %q", text, rest)
		}
		opts[o[1]] = o[2]
		rest = rest[len(o[0]):]
	}
	return module, opts, nil
}

// checkS3 checks the api's photo storage: the compose's S3 server, over
// https (its certificate and key mounted), reached inside the network and
// checked against the compose CA, with the account s3-init makes for it
// (never the server's root key), the bucket s3-init gives that account
// (and waits for), and a public endpoint on the port s3 publishes, https
// too.
func checkS3(all types.Services, secrets types.Secrets) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	api := all["api"]
	endpoint := env(api, "TAGSTREAM_S3_ENDPOINT")
	if endpoint == "" {
		return []string{"api has no TAGSTREAM_S3_ENDPOINT: it would answer uploads with 503"}
	}
	init, hasInit := all["s3-init"]
	if !hasInit {
		bad("no s3-init service makes the api's account and bucket")
	}
	scheme, host, port, ok := schemeHostPort(endpoint)
	server, isService := all[host]
	switch {
	case !ok:
		bad("api TAGSTREAM_S3_ENDPOINT=%q is not https://host:port", endpoint)
	case scheme != "https":
		bad("api TAGSTREAM_S3_ENDPOINT=%q is not https: the photos and the key's signatures would cross the network in the clear", endpoint)
	case !isService || !strings.HasPrefix(server.Image, s3Image):
		bad("api TAGSTREAM_S3_ENDPOINT names %s, which is not the S3 service", host)
	case !slices.Contains(server.Command, ":"+port):
		bad("api TAGSTREAM_S3_ENDPOINT uses port %s, %s listens on %q", port, host, server.Command)
	default:
		for _, v := range []string{"VGW_CERT", "VGW_KEY"} {
			if _, mounted := secretMounts(server)[env(server, v)]; !mounted {
				bad("%s %s=%q names no secret it mounts: it would not serve https", host, v, env(server, v))
			}
		}
		if sc, mounted := secretMounts(api)[env(api, "TAGSTREAM_S3_CA")]; !mounted || sc.Source != caSecret {
			bad("api TAGSTREAM_S3_CA=%q is not the compose CA (secret %s) it mounts: %s's certificate would not verify", env(api, "TAGSTREAM_S3_CA"), caSecret, host)
		}
		// The api's key is the account s3-init makes, never root's.
		access, secret := env(api, "TAGSTREAM_S3_ACCESS_KEY"), secretValue(secrets, api, "TAGSTREAM_S3_SECRET_KEY")
		switch {
		case access == "" || secret == "":
			bad("api has no S3 access key and secret")
		case access == env(server, "ROOT_ACCESS_KEY_ID") || secret == env(server, "ROOT_SECRET_ACCESS_KEY"):
			bad("api holds %s's root key: give it the account s3-init makes, limited to its bucket", host)
		case hasInit && (access != env(init, "API_ACCESS_KEY") || secret != fileSecret(secrets, init, env(init, "API_SECRET_KEY_FILE"))):
			bad("api's S3 key (%s) is not the account s3-init makes (%s, the secret its API_SECRET_KEY_FILE names)", access, env(init, "API_ACCESS_KEY"))
		}
		if hasInit {
			if u := env(init, "ADMIN_ENDPOINT_URL"); u != "https://"+host+":"+port {
				bad("s3-init ADMIN_ENDPOINT_URL=%q, want https://%s:%s", u, host, port)
			}
			if sc, mounted := secretMounts(init)[env(init, "SSL_CERT_FILE")]; !mounted || sc.Source != caSecret {
				bad("s3-init SSL_CERT_FILE=%q is not the compose CA (secret %s) it mounts", env(init, "SSL_CERT_FILE"), caSecret)
			}
			if env(init, "ADMIN_ACCESS_KEY_ID") != env(server, "ROOT_ACCESS_KEY_ID") || env(init, "ADMIN_SECRET_ACCESS_KEY") != env(server, "ROOT_SECRET_ACCESS_KEY") {
				bad("s3-init does not log in as %s's root, the only account that may make others", host)
			}
		}
		// Browsers post to the public endpoint: a port s3 publishes, https.
		if public := env(api, "TAGSTREAM_S3_PUBLIC_ENDPOINT"); public != "" {
			pscheme, _, pport, ok := schemeHostPort(public)
			published := false
			for _, p := range server.Ports {
				published = published || (strconv.Itoa(int(p.Target)) == port && p.Published == pport)
			}
			// Another host (a proxy, a real domain) is the operator's call.
			if ok && strings.Contains(public, "://127.0.0.1:") {
				if !published {
					bad("api TAGSTREAM_S3_PUBLIC_ENDPOINT=%q: %s publishes no port %s to its port %s", public, host, pport, port)
				}
				if pscheme != "https" {
					bad("api TAGSTREAM_S3_PUBLIC_ENDPOINT=%q: %s serves https only", public, host)
				}
			}
		} else {
			bad("api has no TAGSTREAM_S3_PUBLIC_ENDPOINT: browsers would be sent to %s, a name only the compose network resolves", endpoint)
		}
	}
	if !hasInit {
		return problems
	}
	// The bucket is the one s3-init gives the account, and the api waits.
	if bucket := env(api, "TAGSTREAM_S3_BUCKET"); bucket == "" || bucket != env(init, "BUCKET") {
		bad("api TAGSTREAM_S3_BUCKET=%q is not the bucket s3-init creates (%q)", bucket, env(init, "BUCKET"))
	}
	if d, ok := api.DependsOn["s3-init"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		bad("api does not wait for s3-init to have created its bucket")
	}
	return problems
}

// checkEdge checks the Varnish edge in front of the api: one service of
// the official image, running docker/varnish/tagstream.vcl from a
// read-only mount of docker/varnish that vcl_path names (tagstream.vcl
// includes site.vcl from there), in the foreground, with malloc storage,
// its working directory on a tmpfs that allows exec, no capabilities, a
// read-only root, started after the api is healthy and restarted with it;
// the api purging it on a listener of its own that the host does not
// see. readSite reads site.vcl (checkSite checks it).
func checkEdge(all types.Services, readSite func(file string) (string, error)) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var edges []string
	for _, name := range sortedNames(all) {
		if strings.HasPrefix(all[name].Image, edgeImage) {
			edges = append(edges, name)
		}
	}
	if len(edges) != 1 {
		return []string{fmt.Sprintf("want one Varnish edge (image %s...) in front of the api, have %d: %v", edgeImage, len(edges), edges)}
	}
	name := edges[0]
	edge, api := all[name], all["api"]

	// The VCL: docker/varnish, read-only, where vcl_path looks.
	var dir, source string
	want, _ := filepath.Abs(vclDir)
	for _, v := range edge.Volumes {
		if v.Type == types.VolumeTypeBind && samePath(v.Source, want) {
			dir, source = v.Target, v.Source
			if !v.ReadOnly {
				bad("%s mounts docker/%s writable: the edge has no business changing its VCL", name, vclDir)
			}
		}
	}
	if dir == "" {
		bad("%s does not mount docker/%s, where %s and %s are", name, vclDir, edgeVCL, siteVCL)
	}
	cmd := edge.Command
	if len(cmd) == 0 || cmd[0] != "varnishd" {
		// The image's entrypoint would put its own -f default.vcl and
		// listeners in front of anything that starts with a flag.
		bad("%s runs %q, want varnishd and its options", name, cmd)
		return problems
	}
	args := varnishdArgs(cmd)
	if _, ok := args["-F"]; !ok {
		bad("%s runs varnishd without -F: it would daemonize and the container would exit", name)
	}
	if f := args["-f"]; len(f) != 1 || dir == "" || f[0] != path.Join(dir, edgeVCL) {
		bad("%s loads %q, want -f %s (docker/%s/%s)", name, f, path.Join(dir, edgeVCL), vclDir, edgeVCL)
	}
	onPath := false
	for _, p := range args["-p"] {
		if v, ok := strings.CutPrefix(p, "vcl_path="); ok {
			onPath = onPath || (dir != "" && slices.Contains(strings.Split(v, ":"), dir))
		}
	}
	if !onPath {
		bad("%s vcl_path does not name %s: %s's include of %s would not find the deployment's one", name, dir, edgeVCL, siteVCL)
	}
	if !slices.ContainsFunc(args["-s"], func(s string) bool { return strings.HasPrefix(s, "malloc,") }) {
		bad("%s has no -s malloc,<size> storage: the image's default is not sized here", name)
	}

	// Hardening, and what varnishd needs despite it: a writable working
	// directory from which it dlopen()s the compiled VCL (exec), and a
	// /tmp for the C compiler.
	workdir := edgeWorkdir
	if n := args["-n"]; len(n) > 0 {
		workdir = n[len(n)-1]
	}
	tmpfs := map[string]string{}
	for _, t := range edge.Tmpfs {
		p, opts, _ := strings.Cut(t, ":")
		tmpfs[p] = opts
	}
	if opts, ok := tmpfs[workdir]; !ok {
		bad("%s working directory %s is not a tmpfs: its shared memory log would be written to disk, or fail on the read-only root", name, workdir)
	} else if !tmpfsExec(opts) {
		bad("%s working directory %s is a noexec tmpfs (Docker's default): varnishd cannot dlopen() the compiled VCL, want %s:exec", name, workdir, workdir)
	}
	if !edge.ReadOnly {
		bad("%s root file system is writable: want read_only, with tmpfs where varnishd writes", name)
	} else if _, ok := tmpfs["/tmp"]; !ok {
		bad("%s has a read-only root and no tmpfs on /tmp, where the C compiler writes while varnishd compiles the VCL", name)
	}
	if !slices.Contains(edge.CapDrop, "ALL") {
		bad("%s keeps its capabilities: the image runs varnishd as a user on ports above 1024, want cap_drop: [ALL]", name)
	}
	if !slices.Contains(edge.SecurityOpt, "no-new-privileges:true") {
		bad("%s lacks security_opt no-new-privileges:true", name)
	}
	if hasHealthcheck(edge) {
		if hc := strings.Join(edge.HealthCheck.Test, " "); strings.Contains(hc, "varnishadm") && !strings.Contains(hc, "-n "+workdir) {
			bad("%s healthcheck %q asks varnishadm of another working directory than %s", name, hc, workdir)
		}
	}
	// The first lookup of the api must find it: the edge starts after
	// the api is healthy.
	dep, waits := edge.DependsOn["api"]
	if !waits || dep.Condition != types.ServiceConditionHealthy {
		bad("%s does not wait for the api to be healthy (depends_on api: service_healthy)", name)
	}

	listeners := edgeListeners(cmd)
	published := map[string]bool{} // listener -> published on the host
	for l, port := range listeners {
		for _, pc := range edge.Ports {
			published[l] = published[l] || strconv.Itoa(int(pc.Target)) == port
		}
	}
	if !slices.ContainsFunc(slices.Collect(maps.Values(published)), func(b bool) bool { return b }) {
		bad("%s publishes none of its listeners %v: the edge is the way in", name, listeners)
	}

	// The site: the backend is the api, PURGE only on the listener the api
	// purges through.
	purgeSocket := ""
	if dir != "" {
		text, err := readSite(filepath.Join(source, siteVCL))
		if err != nil {
			bad("%s: %v", siteVCL, err)
		} else {
			var siteProblems []string
			var dynamic bool
			purgeSocket, dynamic, siteProblems = checkSite(text, all)
			problems = append(problems, siteProblems...)
			// A static backend is resolved once, when the VCL loads: the
			// edge must restart when compose recreates the api. The
			// dynamic director follows the api's addresses itself, and a
			// restart would only empty the cache at every api update.
			switch {
			case waits && dynamic && dep.Restart:
				bad("%s restarts with the api (depends_on api: restart: true), which empties its cache at every api update: %s's dynamic director follows the api's addresses", name, siteVCL)
			case waits && !dynamic && !dep.Restart:
				bad("%s's static backend is resolved once: it must restart with the api (depends_on api: restart: true)", name)
			}
		}
	}
	switch {
	case purgeSocket == "":
		for l := range published {
			if published[l] {
				bad("%s does not keep PURGE to a listener of its own, and %s publishes listener %s on the host: the purgers ACL of private addresses is all that stands in the way", siteVCL, name, l)
			}
		}
	case listeners[purgeSocket] == "":
		bad("%s keeps PURGE to listener %q, which %s does not open (%v)", siteVCL, purgeSocket, name, listeners)
	case published[purgeSocket]:
		bad("%s publishes its purge listener %s on the host", name, purgeSocket)
	}

	// The api purges the edge, on that listener.
	purge := env(api, "TAGSTREAM_EDGE_PURGE")
	if purge == "" {
		bad("api has no TAGSTREAM_EDGE_PURGE: changed hashtag pages would stay cached at the edge until their max-age")
	}
	for _, u := range strings.Split(purge, ",") {
		if u == "" {
			continue
		}
		host, port, ok := urlHostPort(u)
		switch {
		case !ok:
			bad("api TAGSTREAM_EDGE_PURGE entry %q is not http://host:port", u)
		case host != name:
			bad("api TAGSTREAM_EDGE_PURGE names %s, which is not the edge (%s)", host, name)
		case purgeSocket != "" && port != listeners[purgeSocket]:
			bad("api TAGSTREAM_EDGE_PURGE uses port %s, the edge takes PURGE on its %s listener, port %q (%v)", port, purgeSocket, listeners[purgeSocket], listeners)
		case !slices.Contains(slices.Collect(maps.Values(listeners)), port):
			bad("api TAGSTREAM_EDGE_PURGE uses port %s, the edge listens on %v", port, listeners)
		}
	}
	if purge != "" && env(api, "TAGSTREAM_SOURCE") == "cassandra" {
		bad("api purges the edge but reads pages from Cassandra (TAGSTREAM_SOURCE): it refuses to start, the snapshot tells no changes")
	}
	// Image URLs are for browsers: a name of the compose network would
	// not resolve, and the api's own address would bypass the edge.
	if cdn := env(api, "TAGSTREAM_CDN_BASE"); cdn != "" {
		if u, err := url.Parse(cdn); err == nil {
			if _, isService := all[u.Hostname()]; isService {
				bad("api TAGSTREAM_CDN_BASE=%q names a compose service: browsers cannot resolve it (empty keeps image URLs relative, through the edge)", cdn)
			}
		}
	}
	return problems
}

var (
	vclComment   = regexp.MustCompile(`(?m)(^|\s)(#|//).*$`)
	vclBackend   = regexp.MustCompile(`(?s)\bbackend\s+([A-Za-z_][\w-]*)\s*\{(.*?)\n\}`)
	vclHost      = regexp.MustCompile(`\.host\s*=\s*"([^"]*)"\s*;`)
	vclPort      = regexp.MustCompile(`\.port\s*=\s*"([^"]*)"\s*;`)
	vclProbeURL  = regexp.MustCompile(`\.url\s*=\s*"([^"]*)"\s*;`)
	vclPurgers   = regexp.MustCompile(`\bacl\s+purgers\s*\{`)
	vclPurgeSock = regexp.MustCompile(`req\.method\s*==\s*"PURGE"\s*&&\s*local\.socket\s*!=\s*"([^"]+)"`)
	// vmod_dynamic: its import, a director (name, arguments), the
	// arguments checked, a named probe, and the backend hint.
	vclImportDynamic = regexp.MustCompile(`(?m)^\s*import\s+dynamic\s*;`)
	vclDirector      = regexp.MustCompile(`(?s)\bnew\s+([A-Za-z_]\w*)\s*=\s*dynamic\.director\s*\((.*?)\)\s*;`)
	vclArgPort       = regexp.MustCompile(`\bport\s*=\s*"([^"]*)"`)
	vclArgProbe      = regexp.MustCompile(`\bprobe\s*=\s*([A-Za-z_]\w*)`)
	vclArgTTL        = regexp.MustCompile(`\bttl\s*=\s*([0-9]+(?:ms|s|m|h))\b`)
	vclProbe         = regexp.MustCompile(`(?s)\bprobe\s+([A-Za-z_]\w*)\s*\{(.*?)\n\}`)
	vclBackendHint   = regexp.MustCompile(`set\s+req\.backend_hint\s*=\s*([A-Za-z_]\w*)\.backend\(\s*"([^"]*)"\s*\)\s*;`)
)

// checkSite checks docker/varnish/site.vcl against the compose file.
// Its backends are either static ones, each the api service on the port
// it listens on (TAGSTREAM_HTTP), probed on a health route it serves, and
// then only for one api replica (Varnish resolves a static host once, to
// one address); or a vmod_dynamic director, imported, on the api's port,
// with such a probe and a short ttl, that vcl_recv makes every request's
// backend for host "api": it resolves the name again every ttl and
// round-robins over every replica's address. The purgers ACL exists. It
// returns the listener that site.vcl keeps PURGE to ("" if none) and
// whether the backends are the dynamic director's.
func checkSite(text string, all types.Services) (purgeSocket string, dynamic bool, problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	text = vclComment.ReplaceAllString(text, "$1")
	api := all["api"]
	_, apiPort, _ := net.SplitHostPort(env(api, "TAGSTREAM_HTTP"))
	probeURL := func(body string) bool {
		u := vclProbeURL.FindStringSubmatch(body)
		return u != nil && (u[1] == "/healthz" || u[1] == "/readyz")
	}
	backends := vclBackend.FindAllStringSubmatch(text, -1)
	directors := vclDirector.FindAllStringSubmatch(text, -1)
	if len(backends) == 0 && len(directors) == 0 {
		bad("%s declares no backend and no dynamic director", siteVCL)
	}
	for _, b := range backends {
		name, body := b[1], b[2]
		host, port := vclHost.FindStringSubmatch(body), vclPort.FindStringSubmatch(body)
		switch {
		case host == nil || port == nil:
			bad("%s backend %s has no .host and .port", siteVCL, name)
		case host[1] != "api":
			bad("%s backend %s is host %q, not the api service", siteVCL, name, host[1])
		case port[1] != apiPort:
			bad("%s backend %s is port %s, the api listens on %q (TAGSTREAM_HTTP)", siteVCL, name, port[1], apiPort)
		}
		if !probeURL(body) {
			bad("%s backend %s is not probed on /healthz or /readyz: the edge would not know when to serve stale pages", siteVCL, name)
		}
		// Varnish refuses a backend host that resolves to more than one
		// IPv4 address ("resolves to too many addresses"): Docker's DNS
		// gives one per replica.
		if n := api.GetScale(); n > 1 && host != nil && host[1] == "api" {
			bad("api runs %d replicas, but %s backend %s is the static host %q, which Varnish resolves to one address only (and refuses to load when it resolves to more)", n, siteVCL, name, host[1])
		}
	}
	probes := map[string]string{} // name -> body
	for _, m := range vclProbe.FindAllStringSubmatch(text, -1) {
		probes[m[1]] = m[2]
	}
	names := map[string]bool{}
	for _, d := range directors {
		name, args := d[1], d[2]
		names[name] = true
		if !vclImportDynamic.MatchString(text) {
			bad("%s uses dynamic.director but does not import dynamic", siteVCL)
		}
		if port := vclArgPort.FindStringSubmatch(args); port == nil {
			bad("%s director %s has no port: vmod_dynamic's default is 80, the api listens on %q (TAGSTREAM_HTTP)", siteVCL, name, apiPort)
		} else if port[1] != apiPort {
			bad("%s director %s is port %s, the api listens on %q (TAGSTREAM_HTTP)", siteVCL, name, port[1], apiPort)
		}
		if p := vclArgProbe.FindStringSubmatch(args); p == nil || !probeURL(probes[p[1]]) {
			bad("%s director %s is not probed on /healthz or /readyz (a probe declared in %s): a replica that stops answering would keep its share of requests", siteVCL, name, siteVCL)
		}
		// vmod_dynamic's default ttl is an hour: a new replica would wait
		// that long for traffic.
		ttl := time.Hour
		if m := vclArgTTL.FindStringSubmatch(args); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				ttl = d
			}
		}
		if ttl > 30*time.Second {
			bad("%s director %s resolves the api every %s: a new or removed replica would be noticed that late, want a ttl of 30s at most", siteVCL, name, ttl)
		}
	}
	if len(directors) > 0 {
		hint := vclBackendHint.FindStringSubmatch(text)
		switch {
		case hint == nil:
			bad("%s never sets req.backend_hint to its director's backend: requests would go to the default backend", siteVCL)
		case !names[hint[1]]:
			bad("%s sets req.backend_hint to %s.backend(...), which is no dynamic director", siteVCL, hint[1])
		case hint[2] != "api":
			bad("%s resolves host %q, not the api service", siteVCL, hint[2])
		default:
			dynamic = true
		}
	}
	if !vclPurgers.MatchString(text) {
		bad("%s has no acl purgers, which %s requires", siteVCL, edgeVCL)
	}
	if m := vclPurgeSock.FindStringSubmatch(text); m != nil {
		purgeSocket = m[1]
	}
	return purgeSocket, dynamic, problems
}

// cassandraEntrypoint is the script compose.yaml may run as the
// Cassandra service's entrypoint (docker/cassandra/entrypoint.sh): it must
// end by exec'ing the image's, so that the JVM still gets the SIGTERM.
var (
	cassandraEntrypoint  = filepath.Join("cassandra", "entrypoint.sh")
	execsImageEntrypoint = regexp.MustCompile(`(?m)^\s*exec\s+docker-entrypoint\.sh\s+"\$@"\s*$`)
	shellComment         = regexp.MustCompile(`(?m)^\s*#.*$`)
)

// checkStop checks how long each service is given to stop: every service
// with a named volume and every long-running tagstream process at least
// graceFloor, the brokers and Cassandra what graceMin says. And Cassandra
// drains when stopped: Cassandra 5.0's shutdown hook drains the node on
// SIGTERM (StorageService.drain(true): memtables flushed, commit log
// segments recycled), so the signal must reach its JVM: the image's stop
// signal (SIGTERM), `cassandra -f` (the launcher execs the JVM in the
// foreground), and the image's entrypoint, or docker/cassandra/entrypoint.sh
// mounted read-only and exec'ing it. read reads that script.
func checkStop(all types.Services, read func(file string) (string, error)) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range sortedNames(all) {
		s := all[name]
		_, tagstream := tagstreamCommands[name]
		longRunning := tagstream && s.Restart != types.RestartPolicyNo
		if !hasNamedVolume(s) && !longRunning && graceMin[name] == 0 {
			continue
		}
		want := max(graceFloor, graceMin[name])
		switch {
		case s.StopGracePeriod == nil:
			bad("%s has no stop_grace_period: Docker kills it 10 s after the SIGTERM, want at least %s", name, want)
		case time.Duration(*s.StopGracePeriod) < want:
			bad("%s stop_grace_period %s is below %s", name, time.Duration(*s.StopGracePeriod), want)
		}
	}
	script, _ := filepath.Abs(cassandraEntrypoint)
	for _, name := range sortedNames(all) {
		s := all[name]
		if !strings.HasPrefix(s.Image, cassandraImage) || s.Restart == types.RestartPolicyNo {
			continue // not a node: a one-shot of the image's cqlsh
		}
		if sig := strings.TrimPrefix(strings.ToUpper(s.StopSignal), "SIG"); sig != "" && sig != "TERM" {
			bad("%s stop_signal %s: Cassandra drains on SIGTERM (its shutdown hook), not on SIG%s", name, s.StopSignal, sig)
		}
		if len(s.Command) > 0 && !slices.Equal(s.Command, []string{"cassandra", "-f"}) {
			bad("%s command %q: want the image's, cassandra -f (in the foreground, the launcher execs the JVM, which gets the SIGTERM)", name, s.Command)
		}
		if len(s.Entrypoint) == 0 {
			continue
		}
		// The script, mounted itself or with its directory.
		var target, source string
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			rel, err := filepath.Rel(v.Source, script)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			target, source = path.Join(v.Target, filepath.ToSlash(rel)), script
			if !v.ReadOnly {
				bad("%s mounts docker/%s writable", name, cassandraEntrypoint)
			}
		}
		if target == "" || len(s.Entrypoint) != 1 || s.Entrypoint[0] != target {
			bad("%s entrypoint %q is neither the image's nor docker/%s: the SIGTERM must reach the JVM, whose shutdown hook drains the node", name, s.Entrypoint, cassandraEntrypoint)
			continue
		}
		text, err := read(source)
		if err != nil {
			bad("%s: %v", cassandraEntrypoint, err)
			continue
		}
		if !execsImageEntrypoint.MatchString(shellComment.ReplaceAllString(text, "")) {
			bad("docker/%s does not end with `exec docker-entrypoint.sh \"$@\"`: the SIGTERM would stop at the script, and the node would not drain", cassandraEntrypoint)
		}
	}
	return problems
}

// checkHardening checks every container's privileges: no capability but
// those addedCaps allows (none), no-new-privileges, never privileged; and
// Cassandra, whose entrypoint would step down from root through gosu
// (chown, setuid, setgid: capabilities it no longer has), started as its
// own user.
func checkHardening(all types.Services) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range sortedNames(all) {
		s := all[name]
		if !slices.Contains(s.CapDrop, "ALL") {
			bad("%s keeps its capabilities: want cap_drop: [ALL] (and cap_add for any it needs, with why)", name)
		}
		for _, c := range s.CapAdd {
			if !slices.Contains(addedCaps[name], strings.TrimPrefix(strings.ToUpper(c), "CAP_")) {
				bad("%s adds capability %s back, which it does not need (addedCaps)", name, c)
			}
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			bad("%s lacks security_opt no-new-privileges:true", name)
		}
		if s.Privileged {
			bad("%s is privileged", name)
		}
		if strings.HasPrefix(s.Image, cassandraImage) {
			user, _, _ := strings.Cut(s.User, ":")
			if user == "" || user == "0" || user == "root" {
				bad("%s starts as root (user %q): the image's entrypoint would chown and step down through gosu, which needs CHOWN, SETUID and SETGID; start it as the image's cassandra user (999:999)", name, s.User)
			}
		}
	}
	return problems
}

// varnishdArgs are a varnishd command line's options, by flag (-a, -p and
// -s repeat); flags that take no argument map to "".
func varnishdArgs(cmd []string) map[string][]string {
	args := map[string][]string{}
	for i := 1; i < len(cmd); i++ {
		a := cmd[i]
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		flag := a[:2]
		switch {
		case strings.ContainsRune("FCdV?", rune(a[1])):
			args[flag] = append(args[flag], "")
		case len(a) > 2:
			args[flag] = append(args[flag], a[2:])
		case i+1 < len(cmd):
			args[flag] = append(args[flag], cmd[i+1])
			i++
		}
	}
	return args
}

// edgeListeners are varnishd's -a listeners, name -> port (unnamed ones
// are a0, a1, ... as varnishd names them).
func edgeListeners(cmd []string) map[string]string {
	l := map[string]string{}
	for i, a := range varnishdArgs(cmd)["-a"] {
		name, addr, ok := strings.Cut(a, "=")
		if !ok {
			name, addr = "a"+strconv.Itoa(i), a
		}
		addr, _, _ = strings.Cut(addr, ",")
		if _, port, err := net.SplitHostPort(addr); err == nil {
			l[name] = port
		}
	}
	return l
}

// tmpfsExec reports whether tmpfs options allow exec: Docker mounts a
// tmpfs noexec unless its options say exec; the last of the two wins.
func tmpfsExec(opts string) bool {
	exec := false
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "exec":
			exec = true
		case "noexec":
			exec = false
		}
	}
	return exec
}

// pinned reports whether an image reference names a version: a digest,
// or a tag that starts with a digit (v1.2 too), not a moving name such as
// latest, old or stable.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i <= strings.LastIndex(image, "/") {
		return false
	}
	tag := strings.TrimPrefix(image[i+1:], "v")
	return tag != "" && tag[0] >= '0' && tag[0] <= '9'
}

func samePath(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func readText(file string) (string, error) {
	b, err := os.ReadFile(file)
	return string(b), err
}

var (
	flagsOnce sync.Once
	flagsBin  string
	flagsErr  error
	flagsMu   sync.Mutex
	flagsOf   = map[string][]string{}
)

// commandFlags returns the flags `tagstream <cmd> -h` lists: asked of the
// binary itself, built once, so no copy of main.go's lists can drift.
func commandFlags(cmd string) []string {
	flagsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "compose-test-")
		if err != nil {
			flagsErr = err
			return
		}
		flagsBin = filepath.Join(dir, "tagstream")
		if out, err := exec.Command("go", "build", "-o", flagsBin, "../cmd/tagstream").CombinedOutput(); err != nil {
			flagsErr = fmt.Errorf("build tagstream: %v\n%s", err, out)
		}
	})
	if flagsErr != nil {
		panic(flagsErr)
	}
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if f, ok := flagsOf[cmd]; ok {
		return f
	}
	out, _ := exec.Command(flagsBin, cmd, "-h").CombinedOutput() // -h exits 0 or 2 by flag's rules
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		names = append(names, m[1])
	}
	// A secret's --<flag>-file is config.FlagSet's own, added with --<flag>.
	names = slices.DeleteFunc(names, func(n string) bool {
		base, ok := strings.CutSuffix(n, "-file")
		return ok && slices.Contains(names, base)
	})
	if len(names) == 0 {
		panic(fmt.Sprintf("tagstream %s -h lists no flag:\n%s", cmd, out))
	}
	flagsOf[cmd] = names
	return names
}

// checkFlags checks that every TAGSTREAM_* variable of a tagstream service
// is a flag of its subcommand and holds a value that flag accepts, and that
// tagstream accepts the service's environment (config.CheckEnv, which every
// command runs first).
func checkFlags(name, cmd string, s types.ServiceConfig) []string {
	var problems []string
	var c config.Config
	fs := config.FlagSet(cmd, &c, commandFlags(cmd)...)
	byEnv := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { byEnv[config.EnvName(f.Name)] = f.Name })
	var environ []string
	for _, k := range sortedKeys(envMap(s)) {
		environ = append(environ, k+"="+env(s, k))
	}
	if err := config.CheckEnv(environ); err != nil {
		problems = append(problems, fmt.Sprintf("%s: tagstream refuses its environment: %v", name, err))
	}
	for _, key := range sortedKeys(envMap(s)) {
		if !strings.HasPrefix(key, "TAGSTREAM_") {
			continue
		}
		flagName, ok := byEnv[key]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s sets %s, but `tagstream %s` has no such flag (the variable would be ignored)", name, key, cmd))
			continue
		}
		if err := fs.Set(flagName, env(s, key)); err != nil {
			problems = append(problems, fmt.Sprintf("%s %s=%q: %v", name, key, env(s, key), err))
		}
	}
	return problems
}

// checkReplication checks a CQL replication map against the Cassandra
// services (service -> data center): SimpleStrategy with a replication
// factor of at most the nodes, or NetworkTopologyStrategy naming existing
// data centers with at most their nodes each.
func checkReplication(r string, nodes map[string]string) []string {
	var problems []string
	m := map[string]string{}
	for _, kv := range strings.Split(strings.Trim(strings.TrimSpace(r), "{}"), ",") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return []string{"not a CQL map {'key': value, ...}"}
		}
		m[strings.Trim(strings.TrimSpace(k), "'")] = strings.Trim(strings.TrimSpace(v), "'")
	}
	perDC := map[string]int{}
	for _, dc := range nodes {
		perDC[dc]++
	}
	factor := func(key, v string, max int) {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			problems = append(problems, fmt.Sprintf("%s %q is not a positive number", key, v))
		case n > max:
			problems = append(problems, fmt.Sprintf("%s %d is above the %d Cassandra node(s): the snapshotter's LOCAL_QUORUM writes would fail", key, n, max))
		}
	}
	switch class := m["class"]; class {
	case "SimpleStrategy":
		factor("replication_factor", m["replication_factor"], len(nodes))
	case "NetworkTopologyStrategy":
		for k, v := range m {
			if k == "class" {
				continue
			}
			if perDC[k] == 0 {
				problems = append(problems, fmt.Sprintf("data center %s has no Cassandra node (CASSANDRA_DC)", k))
				continue
			}
			factor(k, v, perDC[k])
		}
	default:
		problems = append(problems, fmt.Sprintf("unknown class %q", class))
	}
	return problems
}

func urlHostPort(u string) (host, port string, ok bool) {
	scheme, host, port, ok := schemeHostPort(u)
	return host, port, ok && scheme == "http"
}

// schemeHostPort splits an http:// or https:// URL with a port.
func schemeHostPort(u string) (scheme, host, port string, ok bool) {
	scheme, rest, found := strings.Cut(u, "://")
	if !found || (scheme != "http" && scheme != "https") {
		return "", "", "", false
	}
	host, port, err := net.SplitHostPort(strings.TrimSuffix(rest, "/"))
	return scheme, host, port, err == nil
}

func envMap(s types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for k := range s.Environment {
		m[k] = env(s, k)
	}
	return m
}

func mapHas(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// checkDockerfile returns what is wrong with the Dockerfile: it must build
// in stages, download modules in their own layer, build a static binary, and
// run it as a non-root user.
func checkDockerfile(text string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	type instr struct{ cmd, args string }
	var stages [][]instr
	for _, line := range logicalLines(text) {
		cmd, args, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if cmd != "ARG" {
				bad("%s before the first FROM", cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], instr{cmd, strings.TrimSpace(args)})
	}
	if len(stages) < 2 {
		bad("want a multi-stage build (at least 2 FROM), have %d", len(stages))
	}
	if len(stages) == 0 {
		return problems
	}

	build := stages[0]
	modules, sources, download := -1, -1, -1
	for i, in := range build {
		switch {
		case in.cmd == "COPY" && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum"):
			modules = i
		case in.cmd == "COPY" && strings.HasPrefix(in.args, ". "):
			sources = i
		case in.cmd == "RUN" && strings.Contains(in.args, "go mod download"):
			download = i
		}
	}
	if modules < 0 || download < 0 || sources < 0 || !(modules < download && download < sources) {
		bad("the build stage must COPY go.mod go.sum, RUN go mod download, then COPY the sources (module layer cached apart)")
	}
	static := false
	for _, in := range build {
		cgoOff := in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0")
		for _, step := range strings.Split(in.args, "&&") {
			if in.cmd == "RUN" && strings.Contains(step, "go build") && strings.Contains(step, "./cmd/tagstream") {
				static = static || cgoOff || strings.Contains(step, "CGO_ENABLED=0")
			}
		}
		if cgoOff {
			// An ENV before the build covers it.
			static = static || slices.ContainsFunc(build, func(b instr) bool {
				return b.cmd == "RUN" && strings.Contains(b.args, "./cmd/tagstream")
			})
		}
	}
	if !static {
		bad("the build stage must build ./cmd/tagstream with CGO_ENABLED=0 (a static binary for the final stage)")
	}

	final := stages[len(stages)-1]
	user, entrypoint, probe := "", false, false
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = strings.Contains(in.args, "/tagstream")
		case "COPY":
			probe = probe || strings.HasSuffix(in.args, " "+healthprobe)
		}
	}
	name, _, _ := strings.Cut(user, ":")
	switch {
	case user == "":
		bad("the final stage sets no USER: it would run as root")
	case name == "root" || name == "0":
		bad("the final stage runs as root (USER %s)", user)
	}
	if !entrypoint {
		bad("the final stage has no ENTRYPOINT running /tagstream")
	}
	if !probe {
		bad("the final stage does not copy %s, which the api healthcheck runs", healthprobe)
	}
	return problems
}

// logicalLines returns the Dockerfile's instructions: comments and blank
// lines dropped, backslash continuations joined.
func logicalLines(text string) []string {
	var lines []string
	var cur strings.Builder
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

func unsetEnv(all types.Services, name, key string) {
	s := all[name]
	e := types.MappingWithEquals{}
	for k, v := range s.Environment {
		if k != key {
			e[k] = v
		}
	}
	s.Environment = e
	all[name] = s
}

// replaceArg replaces one argument of a service's command.
func replaceArg(all types.Services, name, old, new string) {
	s := all[name]
	s.Command = slices.Clone(s.Command)
	if i := slices.Index(s.Command, old); i >= 0 {
		s.Command[i] = new
	}
	all[name] = s
}

func setEnv(all types.Services, name, key, value string) {
	s := all[name]
	e := types.MappingWithEquals{}
	for k, v := range s.Environment {
		e[k] = v
	}
	e[key] = &value
	s.Environment = e
	all[name] = s
}

// setBrokersEnv sets a variable on every broker; "" unsets it.
func setBrokersEnv(all types.Services, key, value string) {
	for _, b := range brokerNames {
		if value == "" {
			unsetEnv(all, b, key)
		} else {
			setEnv(all, b, key, value)
		}
	}
}

// dropDependency removes a service's depends_on entry.
func dropDependency(all types.Services, name, dep string) {
	s := all[name]
	d := maps.Clone(s.DependsOn)
	delete(d, dep)
	s.DependsOn = d
	all[name] = s
}

// setGrace sets a service's stop_grace_period.
func setGrace(all types.Services, name string, d time.Duration) {
	s := all[name]
	g := types.Duration(d)
	s.StopGracePeriod = &g
	all[name] = s
}

// setHealthcheck replaces a service's healthcheck command.
func setHealthcheck(all types.Services, name string, test ...string) {
	s := all[name]
	hc := *s.HealthCheck
	hc.Test = test
	s.HealthCheck = &hc
	all[name] = s
}

// mountSecret mounts a secret in a service, at /run/secrets/<source>.
func mountSecret(all types.Services, name, source string) {
	s := all[name]
	s.Secrets = append(slices.Clone(s.Secrets), types.ServiceSecretConfig{Source: source})
	all[name] = s
}

// useSecret has a service read key from a secret: mounts it (if it is not
// already) and points key_FILE at it.
func useSecret(all types.Services, name, key, source string) {
	if _, ok := secretMounts(all[name])[secretsDir+source]; !ok {
		mountSecret(all, name, source)
	}
	setEnv(all, name, key+"_FILE", secretsDir+source)
}

// unsetSecretMount unmounts a secret from a service.
func unsetSecretMount(all types.Services, name, source string) {
	s := all[name]
	s.Secrets = slices.DeleteFunc(slices.Clone(s.Secrets), func(sc types.ServiceSecretConfig) bool { return sc.Source == source })
	all[name] = s
}

// setSecretMount changes how a service mounts a secret.
func setSecretMount(all types.Services, name, source string, change func(*types.ServiceSecretConfig)) {
	s := all[name]
	s.Secrets = slices.Clone(s.Secrets)
	for i := range s.Secrets {
		if s.Secrets[i].Source == source {
			change(&s.Secrets[i])
		}
	}
	all[name] = s
}

// setSecret changes a secret's content, as if its file held another value.
func setSecret(p *types.Project, name, content string) {
	sc := p.Secrets[name]
	sc.Content = content
	p.Secrets[name] = sc
}

// setSecretSource has a secret read from another file, or from a variable.
func setSecretSource(p *types.Project, name, file, variable string) {
	sc := p.Secrets[name]
	sc.File, sc.Environment = file, variable
	p.Secrets[name] = sc
}

func hasHealthcheck(s types.ServiceConfig) bool {
	hc := s.HealthCheck
	return hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

func hasNamedVolume(s types.ServiceConfig) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			return true
		}
	}
	return false
}

func mountsNamedVolumeAt(s types.ServiceConfig, dir string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" && v.Target == dir {
			return true
		}
	}
	return false
}

func describe(s types.ServiceConfig) string {
	what := s.Image
	if s.Build != nil {
		what += " (built from " + s.Build.Dockerfile + ")"
	}
	if len(s.Profiles) > 0 {
		what += fmt.Sprintf(" profiles=%v", s.Profiles)
	}
	if n := s.GetScale(); n != 1 {
		what += fmt.Sprintf(" replicas=%d", n)
	}
	for i, sc := range s.Secrets {
		if i == 0 {
			what += " secrets="
		} else {
			what += ","
		}
		what += sc.Source
	}
	return what
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func sortedNames(s types.Services) []string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Prometheus scrapes every long-running tagstream service on the port it
// serves /metrics on: TAGSTREAM_METRICS for worker and rank, TAGSTREAM_HTTP
// for api and snapshotter; a job per service, none for another.
func TestPrometheusScrapesEveryProcess(t *testing.T) {
	p := loadAll(t)
	var cfg struct {
		ScrapeConfigs []struct {
			Job string `yaml:"job_name"`
			DNS []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			Static []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus.yml")), &cfg); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]string{} // service -> port
	for _, j := range cfg.ScrapeConfigs {
		for _, d := range j.DNS {
			for _, n := range d.Names {
				scraped[n] = strconv.Itoa(d.Port)
			}
		}
		for _, s := range j.Static {
			for _, target := range s.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Fatalf("job %s: target %q: %v", j.Job, target, err)
				}
				scraped[host] = port
			}
		}
	}
	for name, cmd := range tagstreamCommands {
		if p.AllServices()[name].Restart == types.RestartPolicyNo {
			continue // a one-shot: kafka-init, cassandra-init
		}
		addr := env(p.AllServices()[name], "TAGSTREAM_HTTP")
		if cmd == "worker" || cmd == "rank" {
			addr = env(p.AllServices()[name], "TAGSTREAM_METRICS")
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s serves /metrics on %q: %v", name, addr, err)
			continue
		}
		if got, ok := scraped[name]; !ok || got != port {
			t.Errorf("prometheus.yml scrapes %s on port %q (found %v), but it serves /metrics on %s", name, got, ok, port)
		}
		delete(scraped, name)
	}
	// Not through the edge: it answers /metrics with a 404 (tagstream.vcl),
	// and would show one replica's metrics, cached, as the service's.
	for name, s := range p.AllServices() {
		if _, ok := scraped[name]; ok && strings.HasPrefix(s.Image, edgeImage) {
			t.Errorf("prometheus.yml scrapes %s, the edge: scrape the tagstream services directly", name)
			delete(scraped, name)
		}
	}
	for name := range scraped {
		t.Errorf("prometheus.yml scrapes %s, which is no tagstream service", name)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		if _, ok := p.AllServices()[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
}
