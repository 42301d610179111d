package mtls

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

// FuzzIdentityOf: any bytes a peer presents as a certificate either fail
// to parse or yield at most one identity; never a panic, never a node 0.
func FuzzIdentityOf(f *testing.F) {
	ca, err := NewCA("fuzz", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	for _, id := range []Identity{{Node: 1}, {Node: 1 << 62}, {Client: "app"}} {
		c, _, err := ca.Issue(id, []string{"127.0.0.1", "localhost"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			f.Fatal(err)
		}
		b, _ := pem.Decode(c)
		f.Add(b.Bytes)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		id, err := IdentityOf(c)
		if err != nil {
			return
		}
		if (id.Node == 0) == (id.Client == "") {
			t.Fatalf("identity %+v is neither or both", id)
		}
	})
}
