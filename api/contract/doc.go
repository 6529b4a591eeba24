// Package contract holds the API's contract test: schemathesis (PyPI,
// installed by services/schemathesis.sh) generates requests from
// api/openapi.yaml, property-based and seeded, and sends them to
// `tagstream run --demo` running in this process with a bearer token; the
// test fails on any 5xx or any answer the document does not describe.
// TAGSTREAM_SCHEMATHESIS is the schemathesis binary,
// TAGSTREAM_CONTRACT_SEED (default 1) and TAGSTREAM_CONTRACT_EXAMPLES
// (default 50) the seed and the examples per operation.
package contract
