// Command zitadelop is the production issuer the mint tests exchange tokens
// at: zitadel/oidc's OpenID provider (pkg/op, with the library's in-memory
// example storage), which implements RFC 8693 token exchange, RFC 7662
// introspection and RFC 7009 revocation. The only code here is the issuer's
// trust policy, as a production issuer would hold it:
//
//   - the subject token must be a JWT that verifies against the trusted
//     OIDC issuer's keys (the test's GitHub simulator) for the expected
//     audience, and name the one workload allowed to exchange;
//   - that workload becomes one production principal; no delegation (actor
//     tokens are refused); an access token is issued;
//   - only allowed scopes are issued (-extra-scope adds one the caller did
//     not ask for, so tests can see airlock refuse it);
//   - the token's audience holds the client it was issued to, so the
//     client may introspect it, and introspection names the principal.
//
// It listens on -addr and writes its issuer URL to -url-file once serving.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

type policy struct {
	subject, principal string
	scopes             []string
	extraScope         string
	verifier           *oidc.IDTokenVerifier
}

// issuer is the example storage with the trust policy over it.
type issuer struct {
	*storage.Storage
	p policy
}

var _ op.TokenExchangeTokensVerifierStorage = (*issuer)(nil)

func (s *issuer) VerifyExchangeSubjectToken(ctx context.Context, token string, tokenType zoidc.TokenType) (string, string, map[string]any, error) {
	if tokenType != zoidc.JWTTokenType {
		return "", "", nil, fmt.Errorf("subject_token_type %s: only JWTs are trusted", tokenType)
	}
	idt, err := s.p.verifier.Verify(ctx, token)
	if err != nil {
		return "", "", nil, err
	}
	if idt.Subject != s.p.subject {
		return "", "", nil, fmt.Errorf("workload %q may not exchange", idt.Subject)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return "", "", nil, err
	}
	return token, idt.Subject, claims, nil
}

func (s *issuer) VerifyExchangeActorToken(context.Context, string, zoidc.TokenType) (string, string, map[string]any, error) {
	return "", "", nil, errors.New("delegation is not allowed")
}

// ValidateTokenExchangeRequest replaces the example's, which looks the
// subject up as a user (a workload is none).
func (s *issuer) ValidateTokenExchangeRequest(_ context.Context, req op.TokenExchangeRequest) error {
	if req.GetExchangeActor() != "" {
		return zoidc.ErrInvalidRequest().WithDescription("delegation is not allowed")
	}
	if req.GetRequestedTokenType() == "" {
		req.SetRequestedTokenType(zoidc.AccessTokenType)
	}
	if req.GetRequestedTokenType() != zoidc.AccessTokenType {
		return zoidc.ErrInvalidRequest().WithDescription("only access tokens are issued")
	}
	var granted []string
	for _, sc := range req.GetScopes() {
		if !slices.Contains(s.p.scopes, sc) {
			return zoidc.ErrInvalidScope().WithDescription("scope %s is not allowed", sc)
		}
		granted = append(granted, sc)
	}
	if len(granted) == 0 {
		return zoidc.ErrInvalidScope().WithDescription("no scope requested")
	}
	if s.p.extraScope != "" {
		granted = append(granted, s.p.extraScope)
	}
	req.SetSubject(s.p.principal)
	req.SetCurrentScopes(granted)
	return nil
}

// audienced adds the client to the token's audience: the example storage
// lets only a client in the audience introspect a token.
type audienced struct{ op.TokenExchangeRequest }

func (a audienced) GetAudience() []string {
	return append(slices.Clone(a.TokenExchangeRequest.GetAudience()), a.GetClientID())
}

func (s *issuer) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	if te, ok := req.(op.TokenExchangeRequest); ok {
		req = audienced{te}
	}
	return s.Storage.CreateAccessToken(ctx, req)
}

// SetIntrospectionFromToken names the token's subject even when the token
// has no openid scope (the example sets sub from scopes).
func (s *issuer) SetIntrospectionFromToken(ctx context.Context, in *zoidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if err := s.Storage.SetIntrospectionFromToken(ctx, in, tokenID, subject, clientID); err != nil {
		return err
	}
	if in.Subject == "" {
		in.Subject = subject
	}
	return nil
}

// users knows the production principal only.
type users struct{ principal string }

func (u users) GetUserByID(id string) *storage.User {
	if id != u.principal {
		return nil
	}
	return &storage.User{ID: id, Username: id}
}
func (u users) GetUserByUsername(name string) *storage.User { return u.GetUserByID(name) }
func (u users) ExampleClientID() string                     { return "service" }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "zitadelop:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	urlFile := flag.String("url-file", "", "write the issuer URL here once serving")
	trustIssuer := flag.String("trust-issuer", "", "the OIDC issuer whose tokens may be exchanged")
	trustJWKS := flag.String("trust-jwks", "", "its JWKS URL")
	trustAudience := flag.String("trust-audience", "", "the audience a subject token must carry")
	subject := flag.String("subject", "", "the workload (sub) allowed to exchange")
	principal := flag.String("principal", "", "the production principal it becomes")
	clientID := flag.String("client-id", "", "the exchanging client")
	secret := flag.String("client-secret", "", "its secret (basic auth)")
	scopes := flag.String("scopes", "", "comma-separated scopes that may be issued")
	extra := flag.String("extra-scope", "", "also issue this scope (tests)")
	flag.Parse()
	for name, v := range map[string]string{"trust-issuer": *trustIssuer, "trust-jwks": *trustJWKS, "trust-audience": *trustAudience,
		"subject": *subject, "principal": *principal, "client-id": *clientID, "client-secret": *secret, "scopes": *scopes} {
		if v == "" {
			return fmt.Errorf("-%s is required", name)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	issuerURL := "http://" + ln.Addr().String() + "/"
	hc := &http.Client{Timeout: 10 * time.Second}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), hc), *trustJWKS)
	p := policy{
		subject: *subject, principal: *principal, scopes: strings.Split(*scopes, ","), extraScope: *extra,
		verifier: oidc.NewVerifier(*trustIssuer, keys, &oidc.Config{ClientID: *trustAudience}),
	}
	storage.RegisterClients(storage.WebClient(*clientID, *secret))
	st := &issuer{Storage: storage.NewStorage(users{*principal}), p: p}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuerURL, st, logger, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile+".tmp", []byte(issuerURL), 0o600); err != nil {
			return err
		}
		if err := os.Rename(*urlFile+".tmp", *urlFile); err != nil {
			return err
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case err := <-errc:
		return err
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}
}
