package main

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

func q(s string) string { return strconv.Quote(s) }

func write(dir, name string, vals ...string) {
	os.MkdirAll(dir, 0o755)
	s := "go test fuzz v1\n"
	for _, v := range vals {
		s += v + "\n"
	}
	os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644)
}

func main() {
	root := os.Args[1]
	h := filepath.Join(root, "engine/embed/httpapi/testdata/fuzz/FuzzHandler")
	wt := "write-token-0123456789"
	cases := [][5]string{
		{"PUT", "/kv/a", "Bearer " + wt, "1:1", "v"},
		{"PUT", "/kv/" + string(make([]byte, 0)) + "%2e%2e/x", "Bearer " + wt, "", "v"},
		{"POST", "/kv/a/cas", "Bearer " + wt, "", `{"from":"v","to":"w","create_if_missing":true}`},
		{"POST", "/kv/a/cas", "Bearer " + wt, "", `{"from":1,"extra":2}`},
		{"PUT", "/kv/a", "Bearer " + wt, "18446744073709551616:1", "v"},
		{"GET", "/kv/a?x=1", "", "", ""},
		{"GET", "/status", "Basic abc", "", ""},
		{"GET", "/metrics", "Bearer", "", ""},
		{"POST", "/admin/peers", "Bearer admin-token-0123456789", "", `{"id":4}`},
		{"DELETE", "/ui/../kv/a", "bearer  " + wt, "", ""},
		{"PATCH", "/security", "", "", "{"},
	}
	for i, c := range cases {
		write(h, fmt.Sprintf("seed-%02d", i), "string("+q(c[0])+")", "string("+q(c[1])+")", "string("+q(c[2])+")", "string("+q(c[3])+")", "[]byte("+q(c[4])+")")
	}
	tk := filepath.Join(root, "engine/embed/httpapi/testdata/fuzz/FuzzParseTokens")
	for i, s := range []string{"write app 0123456789abcdefXYZ\n", "# c\n\nadmin ops 0123456789abcdefQQQ\nread d 0123456789abcdefRRR", "read x short\n", "owner a 0123456789abcdef0000\n", "write a 0123456789abcdef0000\nwrite b 0123456789abcdef0000\n", "write\ta\t0123456789abcdef\r\n"} {
		write(tk, fmt.Sprintf("seed-%02d", i), "string("+q(s)+")")
	}
	ml := filepath.Join(root, "maelstrom/testdata/fuzz/FuzzLines")
	lines := []string{
		`{"src":"c1","dest":"n1","body":{"type":"write","msg_id":2,"key":1,"value":2}}` + "\n" + `{"src":"c1","dest":"n1","body":{"type":"read","msg_id":3,"key":1}}`,
		`{"src":"c1","dest":"n1","body":{"type":"cas","msg_id":4,"key":1,"from":2,"to":3}}`,
		`{"src":"n2","dest":"n1","body":{"type":"raft","m":"AAAA"}}`,
		`{"src":"c1","dest":"n1","body":{"type":"init","msg_id":5,"node_id":"n1","node_ids":["n1","n2"]}}`,
		`{"src":"c1","dest":"n1","body":{"type":"raftbench_fault","fault":"disk","mode":"eio"}}`,
		`{"src":"c1","body":{"in_reply_to":1}}`,
		"not json\n{\"src\":\"c1\"",
		`{"src":"c1","dest":"n1","body":{"type":"write","msg_id":1e400,"key":"\u0000","value":[1,2]}}`,
	}
	for i, l := range lines {
		write(ml, fmt.Sprintf("seed-%02d-before-init", i), "[]byte("+q(l)+")", "bool(false)")
		write(ml, fmt.Sprintf("seed-%02d-after-init", i), "[]byte("+q(l)+")", "bool(true)")
	}
	id := filepath.Join(root, "engine/runtime/mtls/testdata/fuzz/FuzzIdentityOf")
	ca, _ := mtls.NewCA("fuzz", time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
	for i, ident := range []mtls.Identity{{Node: 1}, {Node: 3}, {Client: "app"}} {
		c, _, err := ca.Issue(ident, []string{"127.0.0.1", "localhost"}, time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
		if err != nil {
			panic(err)
		}
		b, _ := pem.Decode(c)
		write(id, fmt.Sprintf("seed-%02d", i), "[]byte("+q(string(b.Bytes))+")")
	}
	b, _ := pem.Decode(ca.CertPEM)
	write(id, "seed-ca", "[]byte("+q(string(b.Bytes))+")")
}
