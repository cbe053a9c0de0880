package gate

import (
	"testing"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/tufroot"
)

// The trusted root's TUF repository follows the default Fulcio: a public
// repository signs with public-good, the others with GitHub's instance.
func TestTUFRepositoryFollowsVisibility(t *testing.T) {
	custom := TUFConfig{URL: "https://tuf.example", Root: []byte("{}")}
	for _, tc := range []struct {
		cfg        TUFConfig
		visibility string
		want       string
	}{
		{TUFConfig{}, "public", tufroot.PublicGoodURL},
		{TUFConfig{}, "private", tufroot.GitHubURL},
		{TUFConfig{}, "internal", tufroot.GitHubURL},
		{TUFConfig{}, "", tufroot.GitHubURL},
		{custom, "public", "https://tuf.example"},
	} {
		if got := tc.cfg.Repository(tc.visibility).URL; got != tc.want {
			t.Errorf("%q: expected %q, got %q", tc.visibility, tc.want, got)
		}
	}
}

func TestValidateTrust(t *testing.T) {
	// The smallest trusted root that parses: a file is read before any
	// request, so a malformed one is a config error of its own (below).
	trusted := []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)
	base := AttestConfig{Signer: SignerSigstore, MaxTTL: 1, OutDir: t.TempDir(), TUF: TUFConfig{CacheDir: t.TempDir()}}
	for _, tc := range []struct {
		name string
		edit func(a *AttestConfig)
		ok   bool
	}{
		{"default TUF", func(a *AttestConfig) {}, true},
		{"file", func(a *AttestConfig) { a.TrustedRootJSON = trusted }, true},
		{"malformed file", func(a *AttestConfig) { a.TrustedRootJSON = []byte("{}") }, false},
		{"custom TUF", func(a *AttestConfig) { a.TUF.URL, a.TUF.Root = "https://tuf.example", []byte("{}") }, true},
		{"file and TUF", func(a *AttestConfig) {
			a.TrustedRootJSON, a.TUF.URL, a.TUF.Root = trusted, "https://tuf.example", []byte("{}")
		}, false},
		{"URL without root", func(a *AttestConfig) { a.TUF.URL = "https://tuf.example" }, false},
		{"root without URL", func(a *AttestConfig) { a.TUF.Root = []byte("{}") }, false},
		{"plain http TUF", func(a *AttestConfig) { a.TUF.URL, a.TUF.Root = "http://tuf.example", []byte("{}") }, false},
		{"custom Fulcio, default TUF", func(a *AttestConfig) { a.Services = attest.Services{FulcioURL: "https://fulcio.example"} }, false},
		{"no cache", func(a *AttestConfig) { a.TUF.CacheDir = "" }, false},
	} {
		a := base
		tc.edit(&a)
		err := a.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: expected ok=%v, got %v", tc.name, tc.ok, err)
		}
		if err != nil && fault.KindOf(err) != fault.KindConfig {
			t.Errorf("%s: expected a config error, got %v", tc.name, err)
		}
	}
}
