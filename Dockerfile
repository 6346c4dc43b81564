# One image holding every fjord binary: `fjord` (control plane), `fjord-operator` and
# `fjord-broker`. The Helm chart runs all three from it (command: fjord serve /
# fjord-operator run / fjord-broker).
#
#   docker build -t ghcr.io/fjord-dev/fjord:0.1.0 .
#
# Build stage: the workspace's Rust (rust-version 1.89), release profile. Only the three
# binaries are built; the test crate (librdkafka) is not.
FROM docker.io/library/rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY broker broker
COPY api api
COPY operator operator
COPY tests tests
COPY openapi openapi
COPY charts charts
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p fjord-api --bin fjord \
        -p fjord-operator --bin fjord-operator \
        -p fjord-broker --bin fjord-broker \
    && mkdir -p /out \
    && cp target/release/fjord target/release/fjord-operator target/release/fjord-broker /out/

# Runtime: Debian slim with CA certificates, a non-root user 10001 (the uid the chart and the
# operator's pods run as) and nothing else. rustls does all TLS: no OpenSSL needed.
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 fjord \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin fjord \
    && mkdir -p /var/lib/fjord \
    && chown 10001:10001 /var/lib/fjord
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/fjord
# Kafka (client, CONTROL), broker HTTP (metrics, health), API.
EXPOSE 9093 9094 9644 8080
ENTRYPOINT []
CMD ["fjord", "--help"]
