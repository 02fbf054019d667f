//go:build tools

// Package tools pins etcd's server for build.sh; go.mod replaces etcd's
// sibling modules with the same release.
package tools

import _ "go.etcd.io/etcd/server/v3"
