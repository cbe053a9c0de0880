// Package keyfile reads the PEM private keys airlock signs with: the gate's
// key signer (internal/attest) and the grants bundle signer
// (internal/grants/opa). One reader, so both accept the same files and both
// keep key material out of their errors.
package keyfile

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Parse reads exactly one unencrypted PEM private key: PKCS #8
// ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
// It returns the key and its PEM block. Anything else (no PEM, a second
// block, an encrypted key, a public key, DER that does not parse, a key that
// cannot sign) is a configuration error prefixed "signing key: " that names
// the PEM type at most: never key bytes, and never the parser's own message,
// which may quote bytes of the structure it failed on.
func Parse(pemBytes []byte) (crypto.Signer, *pem.Block, error) {
	blk, rest := pem.Decode(pemBytes)
	if blk == nil {
		return nil, nil, fault.Configf("signing key: not a PEM private key")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, nil, fault.Configf("signing key: expected one PEM block, found more after %q", blk.Type)
	}
	if strings.Contains(blk.Type, "ENCRYPTED") || blk.Headers["Proc-Type"] != "" {
		return nil, nil, fault.Configf("signing key: %s is encrypted; give airlock an unencrypted PKCS #8 key through a secret", blk.Type)
	}
	var key any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, nil, fault.Configf("signing key: PEM block %q is not a private key (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", blk.Type)
	}
	if err != nil {
		return nil, nil, fault.Configf("signing key: PEM block %q does not parse as a private key", blk.Type)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fault.Configf("signing key: %T cannot sign", key)
	}
	return signer, blk, nil
}
