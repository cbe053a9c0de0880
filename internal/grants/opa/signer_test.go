package opa

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestNewSigner(t *testing.T) {
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, tc := range []struct {
		name string
		pem  []byte
		alg  string // "" for an error
		want string
	}{
		{"P-384", pkcs8(p384), "ES384", ""},
		{"P-256 SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "ES256", ""},
		{"Ed25519", pkcs8(ed), "EdDSA", ""},
		{"RSA 2048 PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}), "RS256", ""},
		{"RSA 1024", pkcs8(rsa1024), "", "at least 2048"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "", "not a private key"},
		{"not PEM", []byte("secret-bytes-0123456789"), "", "not a PEM private key"},
		{"garbage in PEM", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-bytes-0123456789")}), "", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.pem, "")
			if tc.alg != "" {
				if err != nil || s.Alg() != tc.alg || s.KeyID() != "default" {
					t.Fatalf("%v %+v", err, s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, expected %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-bytes") {
				t.Fatalf("error leaks key bytes: %v", err)
			}
		})
	}
}
