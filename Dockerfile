# syntax=docker/dockerfile:1
# Build a static binary, ship it alone.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/airlock-dev/airlock/internal/cli.Version=${VERSION}" \
    -o /out/airlock ./cmd/airlock

# distroless static: CA certificates, no shell, no package manager.
# Not the :nonroot variant on purpose: GitHub runs container actions as the
# image's user and mounts GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and RUNNER_TEMP
# owned by the runner, so a non-root user cannot write the step's outputs
# (GitHub's docs: "Docker actions must be run by the default Docker user (root)").
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/airlock /airlock
# The same user and entrypoint as `make image` (internal/image) and the
# release (.goreleaser.yaml).
USER 0:0
ENTRYPOINT ["/airlock"]
