#!/usr/bin/env bash
# scripts/tool.sh TOOL — build a heavy third-party test tool once and print
# the path of its binary.
#
# Tools are real servers the tests start on loopback (Hydra, later Fulcio,
# timestamp-server, cosign). Each one lives in its own module under tools/
# because their dependency graphs cannot share airlock's go.mod. Binaries are
# cached in ${AIRLOCK_TOOLS:-${XDG_CACHE_HOME:-~/.cache}/airlock/tools}/<tool>-<version>/<tool>,
# per user rather than per clone and keyed by version, so a cold machine builds each tool once and a warm one not at all.
#
# Only the binary path goes to stdout; build output goes to stderr, so callers
# can do: HYDRA=$(scripts/tool.sh hydra).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${AIRLOCK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock/tools}

usage() {
	echo "usage: scripts/tool.sh TOOL   (tools: hydra fulcio timestamp-server cosign opa zitadelop ko chromium)" >&2
	exit 2
}

# build_go_tool NAME VERSION MODULE_DIR PACKAGE CGO TAGS [LDFLAGS]
# Builds PACKAGE with the go.mod in MODULE_DIR into the versioned cache path,
# unless the binary is already there. The build writes to a temporary file
# and renames it, so an interrupted or concurrent build never leaves a
# half-written binary at the cached path.
build_go_tool() {
	local name=$1 version=$2 moddir=$3 pkg=$4 cgo=$5 tags=$6 ldflags=${7:-}
	local dir="$TOOLS/$name-$version"
	local bin="$dir/$name"
	if [[ -x $bin ]]; then
		echo "$bin"
		return 0
	fi
	mkdir -p "$dir"
	local tmp
	tmp=$(mktemp "$dir/.$name.XXXXXX")
	trap 'rm -f "$tmp"' EXIT
	echo "building $name $version into $bin (once; takes a minute or two cold)" >&2
	(
		cd "$REPO/$moddir"
		CGO_ENABLED=$cgo go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp" "$pkg"
	) >&2
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin"
	trap - EXIT
	echo "$bin"
}

[[ $# -eq 1 ]] || usage

case $1 in
hydra)
	# Version must match tools/hydra/go.mod; the sqlite tags give Hydra its
	# in-memory database (DSN=memory), which needs CGO and gcc.
	build_go_tool hydra v2.3.0 tools/hydra github.com/ory/hydra/v2 1 sqlite,sqlite_omit_load_extension \
		"-X github.com/ory/hydra/v2/driver/config.Version=v2.3.0"
	;;
fulcio)
	# Keyless signing end to end: Fulcio issues the certificate for the
	# OIDC token; versions must match tools/fulcio/go.mod and internal/testsvc.
	build_go_tool fulcio v1.8.8 tools/fulcio github.com/sigstore/fulcio 0 ""
	;;
timestamp-server)
	# RFC 3161 timestamps; v2.1.3 is the newest that builds on Go 1.26.
	build_go_tool timestamp-server v2.1.3 tools/timestamp-server \
		github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server 0 ""
	;;
cosign)
	# The independent verifier of airlock's bundles.
	build_go_tool cosign v3.1.3 tools/cosign github.com/sigstore/cosign/v3/cmd/cosign 0 "" "-s -w"
	;;
opa)
	# The runtime policy point that enforces exported grants per tool call;
	# the version must match the OPA library in airlock's go.mod and
	# tools/opa/go.mod.
	build_go_tool opa v1.22.3 tools/opa github.com/open-policy-agent/opa 0 "" "-s -w"
	;;
zitadelop)
	# RFC 8693 token exchange at a real OpenID provider: zitadel/oidc's op
	# with our trust policy (tools/zitadelop/main.go). Keyed by the library's
	# version and a hash of the wrapper, as internal/testsvc computes it.
	hash=$(cat "$REPO/tools/zitadelop/main.go" "$REPO/tools/zitadelop/go.sum" | sha256sum | cut -c1-12)
	build_go_tool zitadelop "v3.52.0-$hash" tools/zitadelop . 0 "" "-s -w"
	;;
ko)
	# The image builder of the release and of `make image` (scripts/ko-build.sh);
	# the version must match tools/ko/go.mod and internal/testsvc.
	build_go_tool ko v0.18.1 tools/ko github.com/google/ko 0 "" "-s -w"
	;;
chromium)
	# The auditor's HTML page is rendered by a real browser in the tests:
	# Debian's Chromium, installed once from the distribution's packages.
	if bin=$(command -v chromium); then
		echo "$bin"
		exit 0
	fi
	echo "installing Debian's chromium (once)" >&2
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo="sudo"
	$sudo apt-get install -y --no-install-recommends chromium >&2 ||
		{ $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends chromium >&2; }
	command -v chromium
	;;
*)
	echo "scripts/tool.sh: unknown tool \"$1\"" >&2
	usage
	;;
esac
