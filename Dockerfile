# syntax=docker/dockerfile:1
# Build the static binary that links the policy engine (airlock-rego: the
# image runs the action, whose gate evaluates Rego), ship it alone.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/airlock-dev/airlock/internal/cli.Version=${VERSION}" \
    -o /out/airlock-rego ./cmd/airlock-rego

# distroless static: CA certificates, no shell, no package manager.
# Not the :nonroot variant on purpose: GitHub runs container actions as the
# image's user and mounts GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and RUNNER_TEMP
# owned by the runner, so a non-root user cannot write the step's outputs
# (GitHub's docs: "Docker actions must be run by the default Docker user (root)").
# The same digest as .ko.yaml's defaultBaseImage (a test holds them equal):
# Dependabot moves this one, and its pull request moves .ko.yaml's with it.
FROM gcr.io/distroless/static-debian12@sha256:4b2a093ef4649bccd586625090a3c668b254cfe180dee54f4c94f3e9bd7e381e
# The same path, user and entrypoint as the released image and `make image`,
# which ko builds (.ko.yaml, scripts/ko-build.sh, internal/image).
COPY --from=build /out/airlock-rego /ko-app/airlock-rego
USER 0:0
ENTRYPOINT ["/ko-app/airlock-rego"]
