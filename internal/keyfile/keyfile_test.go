package keyfile

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/fault"
)

func TestParse(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, _ := x509.MarshalECPrivateKey(p256)
	secret := []byte("secret-bytes-0123456789")

	for _, tc := range []struct {
		name string
		pem  []byte
		want any // the public key, or the error's text
	}{
		{"PKCS #8 P-256", pkcs8(p256), &p256.PublicKey},
		{"PKCS #8 Ed25519", pkcs8(ed), ed.Public()},
		{"PKCS #8 RSA", pkcs8(rsaKey), &rsaKey.PublicKey},
		{"SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), &p256.PublicKey},
		{"PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), &rsaKey.PublicKey},
		{"trailing newlines", append(pkcs8(p256), "\n\n"...), &p256.PublicKey},

		{"not PEM", secret, "signing key: not a PEM private key"},
		{"two blocks", append(pkcs8(p256), pkcs8(ed)...), `found more after "PRIVATE KEY"`},
		{"trailing text", append(pkcs8(p256), secret...), `found more after "PRIVATE KEY"`},
		{"encrypted PKCS #8", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: secret}), "ENCRYPTED PRIVATE KEY is encrypted"},
		{"encrypted PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: secret}), "RSA PRIVATE KEY is encrypted"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: secret}), `"PUBLIC KEY" is not a private key`},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: secret}), `"PRIVATE KEY" does not parse as a private key`},
		{"SEC 1 in PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: sec1}), `"RSA PRIVATE KEY" does not parse`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, blk, err := Parse(tc.pem)
			if want, ok := tc.want.(string); ok {
				if err == nil || key != nil || blk != nil {
					t.Fatalf("accepted: %T", key)
				}
				if fault.KindOf(err) != fault.KindConfig || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q (kind %v), expected a config error with %q", err, fault.KindOf(err), want)
				}
				if strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), "BEGIN") {
					t.Fatalf("the error quotes the input: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(key.Public(), tc.want) {
				t.Fatalf("public key %T differs", key.Public())
			}
			if got := pem.EncodeToMemory(blk); !strings.HasPrefix(string(tc.pem), string(got)) {
				t.Fatalf("block is not the input's")
			}
		})
	}
}
