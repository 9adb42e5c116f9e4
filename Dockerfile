# One image for every Gatehouse executable; docker-compose.yml and deploy/kubernetes pick the
# command (gatehouse-gateway, gatehouse-token-service, gatehouse-provisioning,
# gatehouse-tool-host, and the development gatehouse-dev-broker and gatehouse-dev-idp).

# --- build: release binaries with the Swift standard library linked in --------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Services Services
COPY Shared Shared
COPY Tests Tests
COPY Benchmarks Benchmarks
RUN swift build -c release --static-swift-stdlib \
    && mkdir /out \
    && for name in gatehouse-gateway gatehouse-token-service gatehouse-provisioning gatehouse-tool-host \
                   gatehouse-dev-broker gatehouse-dev-idp; do cp ".build/release/$name" /out/; done

# --- run: slim Debian with librdkafka and CA certificates, as a non-root user -----------------
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 libcurl4 libxml2 ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gatehouse
COPY --from=build /out/ /usr/local/bin/
USER gatehouse
ENV GATEHOUSE_HTTP_HOST=0.0.0.0 GATEHOUSE_LOG_FORMAT=json
# Each service sets GATEHOUSE_HTTP_PORT; the check asks the running service whether it is ready.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${GATEHOUSE_HTTP_PORT:-8081}/health/ready" >/dev/null || exit 1
CMD ["gatehouse-gateway"]
