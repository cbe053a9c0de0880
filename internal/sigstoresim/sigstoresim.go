// Package sigstoresim is a Sigstore that runs in-process: a Fulcio that
// issues short-lived certificates for tokens of one OIDC issuer, and an
// RFC 3161 timestamp authority, both on a loopback port, with injectable
// faults and the trusted root that verifies what they issue.
//
// Trust boundary: none. Its CA keys are generated at start and live in
// memory; nothing it issues may be trusted outside a test or `airlock demo`.
// It speaks the same HTTP APIs as Fulcio (/api/v2/signingCert) and
// timestamp-authority (/api/v1/timestamp), so airlock's signer talks to it
// exactly as to the real services, which the end-to-end tests use instead.
package sigstoresim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"

	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Services the simulator runs, the keys of InjectFault.
const (
	Fulcio = "fulcio"
	TSA    = "tsa"
)

// SANBase is what Fulcio's github-workflow issuer type puts before the
// token's job_workflow_ref in the certificate's URI SAN.
const SANBase = "https://github.com/"

// Fault changes how one service answers, for Times requests (0: every one).
type Fault struct {
	Status     int
	Delay      time.Duration
	RetryAfter string
	Message    string
	Times      int
}

// Config configures New.
type Config struct {
	// Issuer is the OIDC issuer whose tokens Fulcio accepts, with audience
	// ClientID (default "sigstore").
	Issuer   string
	ClientID string
	// HTTPClient fetches the issuer's discovery document and keys.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Server is a running simulator.
type Server struct {
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	url  string
	root *x509.Certificate
	// Fulcio CA
	caRoot, caInter *x509.Certificate
	caKey           *ecdsa.PrivateKey
	// TSA
	tsaRoot, tsaLeaf *x509.Certificate
	tsaKey           *ecdsa.PrivateKey

	verifierOnce sync.Once
	verifier     *oidc.IDTokenVerifier
	verifierErr  error

	mu     sync.Mutex
	faults map[string][]*Fault
	counts map[string]int
	serial int64
}

// New starts the simulator on 127.0.0.1.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" || cfg.HTTPClient == nil {
		return nil, errors.New("sigstoresim: Issuer and HTTPClient are required")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "sigstore"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, faults: map[string][]*Fault{}, counts: map[string]int{}, serial: 1}
	if err := s.makeCAs(); err != nil {
		return nil, fmt.Errorf("sigstoresim: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/signingCert", s.faulty(Fulcio, s.signingCert))
	mux.HandleFunc("GET /api/v2/trustBundle", s.trustBundle)
	mux.HandleFunc("POST /api/v1/timestamp", s.faulty(TSA, s.timestamp))
	mux.HandleFunc("GET /api/v1/timestamp/certchain", s.certChain)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sigstoresim: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// FulcioURL is the Fulcio base URL.
func (s *Server) FulcioURL() string { return s.url }

// TSAURL is the timestamp endpoint.
func (s *Server) TSAURL() string { return s.url + "/api/v1/timestamp" }

// InjectFault queues f for service (Fulcio or TSA).
func (s *Server) InjectFault(service string, f Fault) {
	if service != Fulcio && service != TSA {
		panic("sigstoresim: unknown service " + service)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[service] = append(s.faults[service], &f)
}

// Requests counts the requests service received (faulted ones included).
func (s *Server) Requests(service string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[service]
}

func (s *Server) takeFault(service string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[service]++
	q := s.faults[service]
	if len(q) == 0 {
		return nil
	}
	f := *q[0]
	if q[0].Times > 0 {
		q[0].Times--
		if q[0].Times == 0 {
			s.faults[service] = q[1:]
		}
	}
	return &f
}

func (s *Server) faulty(service string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := s.takeFault(service)
		if f != nil {
			if f.Delay > 0 {
				t := time.NewTimer(f.Delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if f.Status != 0 {
				if f.RetryAfter != "" {
					w.Header().Set("Retry-After", f.RetryAfter)
				}
				msg := f.Message
				if msg == "" {
					msg = http.StatusText(f.Status)
				}
				writeJSON(w, f.Status, map[string]any{"code": f.Status, "message": msg})
				return
			}
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) nextSerial() *big.Int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serial++
	return big.NewInt(s.serial)
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func (s *Server) makeCAs() error {
	now := s.cfg.Now().Add(-time.Hour)
	rootKey, err := newKey()
	if err != nil {
		return err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigstoresim root", Organization: []string{"airlock test"}},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	if s.caRoot, err = create(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey); err != nil {
		return err
	}
	if s.caKey, err = newKey(); err != nil {
		return err
	}
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sigstoresim fulcio intermediate", Organization: []string{"airlock test"}},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if s.caInter, err = create(interTmpl, s.caRoot, &s.caKey.PublicKey, rootKey); err != nil {
		return err
	}

	tsaRootKey, err := newKey()
	if err != nil {
		return err
	}
	tsaRootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "sigstoresim tsa root", Organization: []string{"airlock test"}},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	if s.tsaRoot, err = create(tsaRootTmpl, tsaRootTmpl, &tsaRootKey.PublicKey, tsaRootKey); err != nil {
		return err
	}
	if s.tsaKey, err = newKey(); err != nil {
		return err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "sigstoresim tsa", Organization: []string{"airlock test"}},
		NotBefore: now, NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	s.tsaLeaf, err = create(leafTmpl, s.tsaRoot, &s.tsaKey.PublicKey, tsaRootKey)
	return err
}

func create(tmpl, parent *x509.Certificate, pub any, priv crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// TrustedRootJSON is a trusted_root.json holding this simulator's Fulcio CA
// and timestamp authority (no transparency logs).
func (s *Server) TrustedRootJSON() ([]byte, error) { return s.trustedRoot(nil) }

// TrustedRootWithRekorJSON also lists a Rekor log at rekorURL with a key of
// its own. The simulator runs no Rekor: this root lets tests reach a signer's
// Rekor client (and its failures), not verify Rekor entries.
func (s *Server) TrustedRootWithRekorJSON(rekorURL string) ([]byte, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(der)
	return s.trustedRoot(map[string]*root.TransparencyLog{hex.EncodeToString(id[:]): {
		BaseURL: rekorURL, ID: id[:], ValidityPeriodStart: s.caRoot.NotBefore, HashFunc: crypto.SHA256,
		PublicKey: &key.PublicKey, SignatureHashFunc: crypto.SHA256,
	}})
}

func (s *Server) trustedRoot(tlogs map[string]*root.TransparencyLog) ([]byte, error) {
	if tlogs == nil {
		tlogs = map[string]*root.TransparencyLog{}
	}
	start := s.caRoot.NotBefore
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root: s.caRoot, Intermediates: []*x509.Certificate{s.caInter}, ValidityPeriodStart: start, URI: s.FulcioURL(),
		}},
		map[string]*root.TransparencyLog{},
		[]root.TimestampingAuthority{&root.SigstoreTimestampingAuthority{
			Root: s.tsaRoot, Leaf: s.tsaLeaf, ValidityPeriodStart: start, URI: s.TSAURL(),
		}},
		tlogs,
	)
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

func (s *Server) oidcVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	s.verifierOnce.Do(func() {
		ctx := oidc.ClientContext(context.WithoutCancel(ctx), s.cfg.HTTPClient)
		p, err := oidc.NewProvider(ctx, s.cfg.Issuer)
		if err != nil {
			s.verifierErr = err
			return
		}
		s.verifier = p.VerifierContext(ctx, &oidc.Config{ClientID: s.cfg.ClientID, Now: s.cfg.Now})
	})
	return s.verifier, s.verifierErr
}

// Fulcio OIDs (docs/oid-info.md in sigstore/fulcio).
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	// GitHub workflow extensions Fulcio copies from the token, DER UTF8
	// strings: Build Signer URI, Runner Environment, Source Repository URI
	// and Ref. Verifiers match --signer-workflow and --repo against them.
	oidBuildSignerURI    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 9}
	oidRunnerEnvironment = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 11}
	oidSourceRepoURI     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}
	oidSourceRepoRef     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 14}
)

type certRequest struct {
	PublicKeyRequest struct {
		PublicKey struct {
			Algorithm string `json:"algorithm"`
			Content   string `json:"content"`
		} `json:"publicKey"`
		ProofOfPossession string `json:"proofOfPossession"`
	} `json:"publicKeyRequest"`
}

func (s *Server) signingCert(w http.ResponseWriter, r *http.Request) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || raw == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 16, "message": "missing bearer token"})
		return
	}
	v, err := s.oidcVerifier(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 13, "message": "issuer discovery failed"})
		return
	}
	tok, err := v.Verify(r.Context(), raw)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 16, "message": "There was an error processing the identity token"})
		return
	}
	var claims struct {
		JobWorkflowRef    string `json:"job_workflow_ref"`
		Repository        string `json:"repository"`
		Ref               string `json:"ref"`
		RunnerEnvironment string `json:"runner_environment"`
	}
	if err := tok.Claims(&claims); err != nil || claims.JobWorkflowRef == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "missing job_workflow_ref claim in ID token"})
		return
	}
	var req certRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "malformed request"})
		return
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(req.PublicKeyRequest.PublicKey.Content))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "malformed public key"})
		return
	}
	pop, err := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	if err != nil || !proofOK(pub, tok.Subject, pop) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "The signature supplied in the request could not be verified"})
		return
	}
	san, err := url.Parse(SANBase + claims.JobWorkflowRef)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "job_workflow_ref is not a URL path"})
		return
	}
	issV2, _ := asn1.Marshal(tok.Issuer)
	exts := []pkix.Extension{{Id: oidIssuerV1, Value: []byte(tok.Issuer)}, {Id: oidIssuerV2, Value: issV2}}
	for _, e := range []struct {
		id asn1.ObjectIdentifier
		v  string
	}{
		{oidBuildSignerURI, san.String()}, {oidRunnerEnvironment, claims.RunnerEnvironment},
		{oidSourceRepoURI, SANBase + claims.Repository}, {oidSourceRepoRef, claims.Ref},
	} {
		if e.v == "" || e.v == SANBase {
			continue
		}
		b, err := asn1.MarshalWithParams(e.v, "utf8")
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "claim is not a string"})
			return
		}
		exts = append(exts, pkix.Extension{Id: e.id, Value: b})
	}
	now := s.cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber: s.nextSerial(), NotBefore: now.Add(-time.Second), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs:            []*url.URL{san},
		ExtraExtensions: exts,
	}
	leaf, err := create(tmpl, s.caInter, pub, s.caKey)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 13, "message": "issue certificate"})
		return
	}
	chain := []string{pemCert(leaf), pemCert(s.caInter), pemCert(s.caRoot)}
	writeJSON(w, http.StatusOK, map[string]any{
		"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}},
	})
}

func proofOK(pub crypto.PublicKey, subject string, sig []byte) bool {
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return false
	}
	return v.VerifySignature(strings.NewReader(string(sig)), strings.NewReader(subject)) == nil
}

func pemCert(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func (s *Server) trustBundle(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"chains": []any{map[string]any{"certificates": []string{pemCert(s.caInter), pemCert(s.caRoot)}}}})
}

func (s *Server) certChain(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	_, _ = io.WriteString(w, pemCert(s.tsaLeaf)+pemCert(s.tsaRoot))
}

func (s *Server) timestamp(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, "read request", http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, "malformed timestamp request", http.StatusBadRequest)
		return
	}
	ts := timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: s.cfg.Now(),
		Nonce: req.Nonce, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		SerialNumber: s.nextSerial(), AddTSACertificate: req.Certificates,
		ExtraExtensions: req.Extensions,
	}
	resp, err := ts.CreateResponseWithOpts(s.tsaLeaf, s.tsaKey, crypto.SHA256)
	if err != nil {
		http.Error(w, "create timestamp: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(resp)
}
