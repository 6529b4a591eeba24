package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
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
// its ACLs are written for (topology.md, Principals). The zero value
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

func (s SASL) mechanism() (string, error) {
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
	m, err := s.mechanism()
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

// sarama sets s on a sarama configuration (goka's processors, views and
// emitters). sarama leaves SCRAM's exchange to the caller; franz-go's
// implementation does it, so both clients speak the same SCRAM.
func (s SASL) sarama(cfg *sarama.Config) error {
	m, err := s.mechanism()
	if err != nil {
		return err
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User, cfg.Net.SASL.Password = s.User, s.Password
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(m)
	switch m {
	case ScramSHA512:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{sha512: true} }
	case ScramSHA256:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{} }
	}
	return nil
}

// scramClient adapts franz-go's SCRAM session to sarama's SCRAMClient.
type scramClient struct {
	sha512 bool
	sess   sasl.Session
	first  []byte
	done   bool
}

func (c *scramClient) Begin(user, password, authzID string) error {
	a := scram.Auth{User: user, Pass: password, Zid: authzID}
	mech := a.AsSha256Mechanism()
	if c.sha512 {
		mech = a.AsSha512Mechanism()
	}
	sess, first, err := mech.Authenticate(context.Background(), "")
	if err != nil {
		return fmt.Errorf("kafka: SCRAM: %w", err)
	}
	c.sess, c.first = sess, first
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.sess == nil {
		return "", errors.New("kafka: SCRAM: Step before Begin")
	}
	if challenge == "" && c.first != nil {
		first := c.first
		c.first = nil
		return string(first), nil
	}
	done, resp, err := c.sess.Challenge([]byte(challenge))
	if err != nil {
		return "", fmt.Errorf("kafka: SCRAM: %w", err)
	}
	c.done = done
	return string(resp), nil
}

func (c *scramClient) Done() bool { return c.done }
