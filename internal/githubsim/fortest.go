package githubsim

// TB is the part of testing.TB that NewForTest needs; taking it as an
// interface keeps package testing out of binaries that use the simulator
// (`airlock demo`).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewForTest starts a simulator that is closed when the test ends.
func NewForTest(t TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("start githubsim: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
