package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocql/gocql"
)

// secretFile writes content to a file of the test's, mode 600 as a
// Docker secret is mounted, and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every secret has a file form, on the command line and in the
// environment, which a Docker secret mounts: the value then shows in no
// process listing, environment or `docker inspect`.
func TestSecretsFromFiles(t *testing.T) {
	for n := range secretFlags {
		c := Defaults()
		fs := FlagSet("t", &c, n)
		if fs.Lookup(n+fileSuffix) == nil {
			t.Fatalf("--%s has no --%s", n, n+fileSuffix)
		}
		// The file's one trailing newline (echo's) is not the secret's.
		if err := Parse(fs, []string{"--" + n + fileSuffix, secretFile(t, "s3cr3t-"+n+"\n")}); err != nil {
			t.Fatalf("--%s-file: %v", n, err)
		}
		got := fs.Lookup(n).Value.String()
		if role, ok := strings.CutSuffix(n, "-password"); ok && c.RolePasswords != nil {
			got = c.RolePasswords[role] // a Func flag, which shows no value
		}
		if got != "s3cr3t-"+n {
			t.Errorf("--%s-file set %q", n, got)
		}
	}
	c := Defaults()
	t.Setenv("TAGSTREAM_SECRET_FILE", secretFile(t, "from-a-file\r\n"))
	if err := Parse(FlagSet("api", &c, "secret"), nil); err != nil || c.Secret != "from-a-file" {
		t.Errorf("TAGSTREAM_SECRET_FILE: %q, %v", c.Secret, err)
	}
	// The command line beats the environment, whichever form each has.
	c = Defaults()
	t.Setenv("TAGSTREAM_KAFKA_PASSWORD", "from-env")
	if err := Parse(FlagSet("api", &c, "kafka-password"), []string{"--kafka-password-file", secretFile(t, "from-file")}); err != nil || c.KafkaPassword != "from-file" {
		t.Errorf("--kafka-password-file over TAGSTREAM_KAFKA_PASSWORD: %q, %v", c.KafkaPassword, err)
	}
	c = Defaults()
	if err := Parse(FlagSet("api", &c, "secret"), []string{"--secret", "from-flag"}); err != nil || c.Secret != "from-flag" {
		t.Errorf("--secret over TAGSTREAM_SECRET_FILE: %q, %v", c.Secret, err)
	}
	if c := Defaults(); Parse(FlagSet("api", &c, "s3-secret-key"), []string{"--s3-secret-key-file", secretFile(t, "k")}) != nil || c.Media.S3SecretKey != "k" {
		t.Errorf("--s3-secret-key-file: %q", c.Media.S3SecretKey)
	}
	c = Defaults()
	if err := Parse(FlagSet("api", &c, "worker-password"), []string{"--worker-password-file", secretFile(t, "w")}); err != nil || c.RolePasswords["worker"] != "w" {
		t.Errorf("--worker-password-file: %v %v", c.RolePasswords, err)
	}
}

// What a secret file may get wrong gets an error that names the file and
// never quotes what is in it.
func TestSecretFileErrors(t *testing.T) {
	big := secretFile(t, strings.Repeat("x", maxSecretFileBytes+1))
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing", []string{"--secret-file", "/nonexistent/secret"}, nil, "/nonexistent/secret"},
		{"empty", []string{"--secret-file", secretFile(t, "\n")}, nil, "is empty"},
		{"huge", []string{"--secret-file", big}, nil, "not a secret"},
		{"both flags", []string{"--secret", "a", "--secret-file", secretFile(t, "hunter2")}, nil, "give one"},
		{"both variables", nil, map[string]string{"TAGSTREAM_SECRET": "a", "TAGSTREAM_SECRET_FILE": secretFile(t, "hunter2")}, "set one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg := Defaults()
			err := Parse(FlagSet("api", &cfg, "secret"), c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("%v, want an error saying %q and quoting nothing of the file", err, c.want)
			}
		})
	}
}

// A secret's bad value from the environment is refused without quoting
// it: the error may be logged.
func TestBadSecretFromEnvIsNotQuoted(t *testing.T) {
	t.Setenv("TAGSTREAM_IMAGE_KEYS", "hunter2")
	c := Defaults()
	fs := FlagSet("api", &c, "image-keys", "http")
	fs.Lookup("image-keys").Value = failing{}
	if err := Parse(fs, nil); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "not shown") {
		t.Errorf("%v: want a refusal that does not show the value", err)
	}
}

// failing is a flag value that refuses everything.
type failing struct{}

func (failing) String() string     { return "" }
func (failing) Set(v string) error { return errors.New("refused") }

// The Cassandra driver's data centre and consistency are flags of every
// command that talks to Cassandra, the levels limited to those that mean
// something with data centres.
func TestCassandraDriverFlags(t *testing.T) {
	c := Defaults()
	if err := Parse(FlagSet("snapshot", &c, "cassandra"), []string{"--cassandra-local-dc", "eu-west", "--cassandra-consistency", "local_one"}); err != nil {
		t.Fatal(err)
	}
	if c.Snapshot.LocalDC != "eu-west" || c.Snapshot.Consistency != gocql.LocalOne {
		t.Errorf("--cassandra-local-dc eu-west --cassandra-consistency local_one: %q %v", c.Snapshot.LocalDC, c.Snapshot.Consistency)
	}
	for _, bad := range []string{"ANY", "TWO", "THREE", "SERIAL-ish", ""} {
		c := Defaults()
		if err := Parse(FlagSet("snapshot", &c, "cassandra"), []string{"--cassandra-consistency", bad}); err == nil {
			t.Errorf("--cassandra-consistency %q accepted", bad)
		}
	}
}
