#!/usr/bin/env bash
# scripts/ko-build.sh [KO BUILD FLAGS…] — the one ko invocation that builds
# airlock's image. The release pushes with it (--platform, --tags, --sbom);
# `make image` writes an OCI layout with it (--push=false --oci-layout-path,
# the base replaced by KO_DEFAULTBASEIMAGE). The build itself (flags, ldflags,
# release base) is .ko.yaml; the image's user and repository are set here, once.
#
# Prints the image reference with its digest on stdout (ko's output).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
KO=${KO:-$(scripts/tool.sh ko)}
export KO_DOCKER_REPO=${KO_DOCKER_REPO:-ghcr.io/airlock-dev/airlock}
export AIRLOCK_VERSION=${AIRLOCK_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
# Reproducible: image and layer times are the commit's, not the clock's.
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
export KO_DATA_DATE_EPOCH=${KO_DATA_DATE_EPOCH:-$SOURCE_DATE_EPOCH}
exec "$KO" build --bare --image-user=0:0 "$@" ./cmd/airlock-rego
