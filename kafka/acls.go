package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Grant allows Ops on the resources named Name: exactly that name, or
// every name starting with it when Prefixed (Kafka's resource pattern
// types LITERAL and PREFIXED).
type Grant struct {
	Resource kmsg.ACLResourceType
	Name     string
	Prefixed bool
	Ops      []kmsg.ACLOperation
}

func (g Grant) String() string {
	kind := "literal"
	if g.Prefixed {
		kind = "prefixed"
	}
	ops := make([]string, len(g.Ops))
	for i, o := range g.Ops {
		ops[i] = strings.ToLower(o.String())
	}
	slices.Sort(ops)
	return fmt.Sprintf("%s %s %q: %s", strings.ToLower(g.Resource.String()), kind, g.Name, strings.Join(ops, ", "))
}

// Allow creates ACLs that allow user (principal User:<user>, any host)
// what grants say. Creating an ACL that exists is not an error, so it can
// run at every deployment.
func (c Cluster) Allow(ctx context.Context, user string, grants []Grant) error {
	return c.eachACL(ctx, user, grants, func(adm *kadm.Client, b *kadm.ACLBuilder) error {
		res, err := adm.CreateACLs(ctx, b)
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
		return err
	})
}

// Disallow deletes the ACLs Allow created for user and grants.
func (c Cluster) Disallow(ctx context.Context, user string, grants []Grant) error {
	return c.eachACL(ctx, user, grants, func(adm *kadm.Client, b *kadm.ACLBuilder) error {
		_, err := adm.DeleteACLs(ctx, b)
		return err
	})
}

// eachACL calls do with the ACL of each grant, as one admin client.
func (c Cluster) eachACL(ctx context.Context, user string, grants []Grant, do func(*kadm.Client, *kadm.ACLBuilder) error) error {
	cl, err := c.Client("acls")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, g := range grants {
		b, err := aclBuilder(user, g)
		if err == nil {
			err = do(adm, b)
		}
		if err != nil {
			return fmt.Errorf("kafka: ACLs of %s (%s): %w", user, g, err)
		}
	}
	return nil
}

// aclBuilder is the ACL of g for user, any host.
func aclBuilder(user string, g Grant) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs().Allow("User:" + user).AllowHosts("*").Operations(aclOps(g.Ops)...)
	switch g.Resource {
	case kmsg.ACLResourceTypeTopic:
		b = b.Topics(g.Name)
	case kmsg.ACLResourceTypeGroup:
		b = b.Groups(g.Name)
	case kmsg.ACLResourceTypeTransactionalId:
		b = b.TransactionalIDs(g.Name)
	case kmsg.ACLResourceTypeCluster:
		b = b.Clusters()
	default:
		return nil, fmt.Errorf("kafka: grant on %s: unsupported resource", g.Resource)
	}
	pattern := kadm.ACLPatternLiteral
	if g.Prefixed {
		pattern = kadm.ACLPatternPrefixed
	}
	return b.ResourcePatternType(pattern), nil
}

func aclOps(ops []kmsg.ACLOperation) []kadm.ACLOperation {
	out := make([]kadm.ACLOperation, len(ops))
	for i, o := range ops {
		out[i] = kadm.ACLOperation(o)
	}
	return out
}

// SetSCRAM creates or replaces user's SCRAM-SHA-512 credentials (Kafka's
// kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=…]'), for a
// deployment whose brokers were not formatted with its users.
func (c Cluster) SetSCRAM(ctx context.Context, user, password string) error {
	cl, err := c.Client("acls")
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: password,
	}})
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		return fmt.Errorf("kafka: SCRAM credentials of %s: %w", user, err)
	}
	return nil
}
