// Package varnish holds the edge's end-to-end tests: a real varnishd
// (Debian's varnish with varnish-modules' vmod xkey, installed by
// services/varnish.sh) on loopback with docker/varnish/tagstream.vcl, in
// front of `tagstream run` in-process with --edge-purge pointing at it.
package varnish
