// Package docker holds tagstream's container build and its production-shaped
// deployment: Dockerfile, compose.yaml and README.md in this directory. It has
// no Go code of its own; compose_test.go validates the compose file and the
// Dockerfile, and healthprobe/ is the image's HTTP health check.
package docker
