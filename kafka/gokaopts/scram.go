package gokaopts

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tagstream/tagstream/kafka"
)

// setSASL sets s on a sarama configuration (goka's processors, views and
// emitters). sarama leaves SCRAM's exchange to the caller; franz-go's
// implementation does it, so both clients speak the same SCRAM.
func setSASL(cfg *sarama.Config, s kafka.SASL) error {
	m, err := s.MechanismName()
	if err != nil {
		return err
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User, cfg.Net.SASL.Password = s.User, s.Password
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(m)
	switch m {
	case kafka.ScramSHA512:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{sha512: true} }
	case kafka.ScramSHA256:
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
