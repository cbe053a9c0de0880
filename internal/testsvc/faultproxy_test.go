package testsvc

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// A refused proxy's port is refused and stays taken: a listener asking for
// that port does not get it (a parallel test's server once did, and the
// refused requests reached it).
func TestRefuseHoldsThePort(t *testing.T) {
	p := StartFaultProxy(t, "")
	p.Refuse()
	addr := strings.TrimPrefix(p.URL, "http://")
	_, err := http.Get(p.URL + "/x")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("GET after Refuse: %v, expected connection refused", err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("listen on %s after Refuse: the port was free", addr)
	}
	p.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s after Close: %v", addr, err)
	}
	l.Close()
}
