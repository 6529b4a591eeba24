package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms tagstream speaks.
const (
	ScramSHA512 = "SCRAM-SHA-512"
	ScramSHA256 = "SCRAM-SHA-256"
	Plain       = "PLAIN"
)

// SASL is the identity a process presents to the brokers: the principal
// its ACLs are written for (topology.md, Principals and ACLs). The zero value
// authenticates nothing, for a broker without SASL such as `tagstream run`'s.
type SASL struct {
	// Mechanism is ScramSHA512 (default when User is set), ScramSHA256
	// or Plain (Kafka's sasl.mechanism).
	Mechanism string
	// User and Password are the principal's credentials (Kafka's
	// sasl.jaas.config username and password).
	User, Password string
}

// Enabled reports whether credentials are set.
func (s SASL) Enabled() bool { return s.User != "" }

// MechanismName is Mechanism with its default, or an error for one
// tagstream does not speak.
func (s SASL) MechanismName() (string, error) {
	switch s.Mechanism {
	case "", ScramSHA512:
		return ScramSHA512, nil
	case ScramSHA256, Plain:
		return s.Mechanism, nil
	}
	return "", fmt.Errorf("kafka: SASL mechanism %q: want %s, %s or %s", s.Mechanism, ScramSHA512, ScramSHA256, Plain)
}

// kgo returns the franz-go option of s.
func (s SASL) kgo() (kgo.Opt, error) {
	m, err := s.MechanismName()
	if err != nil {
		return nil, err
	}
	var mech sasl.Mechanism
	switch m {
	case ScramSHA512:
		mech = scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()
	case ScramSHA256:
		mech = scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()
	case Plain:
		mech = plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()
	}
	return kgo.SASL(mech), nil
}
