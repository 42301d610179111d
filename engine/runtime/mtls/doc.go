// Package mtls is raftbench's cluster PKI: it generates a development CA
// and the node and client certificates it signs (standard library crypto,
// ECDSA P-256), loads them from PEM files, reloads them without a
// restart (on demand, e.g. on SIGHUP, or by watching the files), and
// builds the tls.Config of each side of a mutually authenticated
// connection.
//
// # Identities
//
// A certificate's identity is a URI subject alternative name:
//
//	raftbench://node/<id>       a Raft node (server and client auth)
//	raftbench://client/<name>   an API client (client auth only)
//
// A node's certificate must name the node ID it claims on the wire:
// the dialler checks the peer it meant to reach, the acceptor checks the
// ID the handshake frame claims (VerifyNode). Host names are not
// checked: the CA and the URI identity are what authenticate a peer.
//
// It must never accept a certificate that does not chain to the loaded
// CA, is outside its validity period, or names another identity; and it
// never logs key material.
package mtls
