package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// acls prints every role's grants, or, given role=user pairs, creates the
// ACLs that allow each user its role's grants (as --kafka-user, which must
// be allowed to alter ACLs: a superuser). With passwords (role to
// password, --create-users) it first gives each user SCRAM credentials.
func acls(ctx context.Context, c kafka.Cluster, ns topology.Namespace, pairs []string, passwords map[string]string, out io.Writer) error {
	roles := topology.Roles()
	if len(pairs) == 0 {
		for _, r := range roles {
			fmt.Fprintf(out, "%s:\n", r)
			for _, g := range ns.Grants(r) {
				fmt.Fprintf(out, "  %s\n", g)
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, p := range pairs {
		role, user, ok := strings.Cut(p, "=")
		if !ok || user == "" || !slices.Contains(roles, topology.Role(role)) {
			return fmt.Errorf("acls: %q: want role=user with a role among %v", p, roles)
		}
		if passwords != nil {
			if len(passwords[role]) < 12 {
				return fmt.Errorf("acls: --create-users needs --%s-password of at least 12 characters", role)
			}
			if err := c.SetSCRAM(ctx, user, passwords[role]); err != nil {
				return err
			}
		}
		if err := c.Allow(ctx, user, ns.Grants(topology.Role(role))); err != nil {
			return err
		}
		fmt.Fprintf(out, "allowed User:%s the grants of %s\n", user, role)
	}
	return nil
}
