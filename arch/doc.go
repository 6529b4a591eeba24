// Package arch holds no code: its test checks that every package of the
// module imports only packages of lower layers (ARCHITECTURE.md).
package arch
