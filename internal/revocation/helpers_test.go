package revocation

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

func sprint(format string, v any) string { return fmt.Sprintf(format, v) }

// resolve parses one YAML credential list and resolves it from env.
func resolve(t *testing.T, yamlText string, env map[string]string) Declaration {
	t.Helper()
	d, err := ParseCredentials("qa-credentials", []byte(yamlText))
	if err != nil {
		t.Fatal(err)
	}
	d, err = d.Resolve(func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func one(t *testing.T, yamlText string, env map[string]string) Credential {
	t.Helper()
	d := resolve(t, yamlText, env)
	if len(d.Credentials) != 1 {
		t.Fatalf("expected one credential, got %d", len(d.Credentials))
	}
	return d.Credentials[0]
}

// checkers returns checkers with a short per-attempt timeout and backoff,
// so fault tests stay fast.
func checkers(t *testing.T, timeout time.Duration, mod ...func(*Options)) Checkers {
	t.Helper()
	o := Options{Client: &http.Client{Timeout: timeout}, Backoff: 5 * time.Millisecond}
	for _, m := range mod {
		m(&o)
	}
	cs, err := NewCheckers(o)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// refusedURL returns a loopback URL nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
