# syntax=docker/dockerfile:1
# One image, CPU only: the ganpaint binary (default model embedded) plus the ONNX
# Runtime shared library, which is fetched at build time and never committed.
# Base images are fully qualified so podman and buildah need no registry config.
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .` builds each
# architecture natively (under emulation when needed); the ONNX Runtime npm
# package ships both.

FROM docker.io/library/golang:1.26-bookworm AS build
ARG TARGETARCH
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends npm ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN ORT_ARCH="$(case "${TARGETARCH:-$(dpkg --print-architecture)}" in arm64) echo arm64;; *) echo x64;; esac)" \
    bash scripts/fetch-ort.sh && CGO_ENABLED=1 go build -trimpath -o /out/ganpaint ./cmd/ganpaint

FROM docker.io/library/debian:bookworm-slim
RUN groupadd --system --gid 10001 ganpaint && useradd --system --uid 10001 --gid 10001 --no-create-home ganpaint
COPY --from=build /out/ganpaint /usr/local/bin/ganpaint
COPY --from=build /src/.ort/libonnxruntime.so.1 /usr/local/lib/ganpaint/libonnxruntime.so.1
ENV ONNXRUNTIME_LIB=/usr/local/lib/ganpaint/libonnxruntime.so.1 \
    GANPAINT_ADDR=0.0.0.0:8080
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/ganpaint", "health"]
ENTRYPOINT ["/usr/local/bin/ganpaint"]
CMD ["serve"]
