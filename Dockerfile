# syntax=docker/dockerfile:1
# One image, CPU only: the ganpaint binary (default model embedded) plus the ONNX
# Runtime shared library, which is fetched at build time and never committed.

FROM golang:1.26-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends npm ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN bash scripts/fetch-ort.sh && CGO_ENABLED=1 go build -trimpath -o /out/ganpaint ./cmd/ganpaint

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 ganpaint
COPY --from=build /out/ganpaint /usr/local/bin/ganpaint
COPY --from=build /src/.ort/libonnxruntime.so.1 /usr/local/lib/ganpaint/libonnxruntime.so.1
ENV ONNXRUNTIME_LIB=/usr/local/lib/ganpaint/libonnxruntime.so.1 \
    GANPAINT_ADDR=0.0.0.0:8080
USER ganpaint
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ganpaint"]
CMD ["serve"]
