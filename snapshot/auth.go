package snapshot

// allowedAuthenticators are the node authenticators a login answers:
// Cassandra's password authenticator and 5.0's mutual TLS one with a
// password fallback.
var allowedAuthenticators = []string{
	"org.apache.cassandra.auth.PasswordAuthenticator",
	"org.apache.cassandra.auth.MutualTlsWithPasswordFallbackAuthenticator",
}
