# keyline's container image: the static binary and nothing else.
#
# Build it with `make image` (IMAGE=name:tag to choose the tag), not with a
# bare `docker build .`: the Makefile first builds the binary on the host
# (CGO_ENABLED=0, -trimpath) and assembles a small build context holding
#   keyline                 the binary
#   ca-certificates.crt     the host's CA bundle, for TLS to PostgreSQL,
#                           Redis, ClickHouse and the heartbeat URL
#   config.json             deploy/container.json, the default config
#   var-lib-keyline/, tmp/  empty directories
# Nothing is compiled or downloaded in here: there is no base image to pull
# and a container cannot reach the module proxy (docs/OPERATIONS.md).
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="keyline" \
      org.opencontainers.image.description="Self-hosted API-key and rate-limit server (Unkey v2 compatible)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# SQLite and Go want a temporary directory; scratch has none. The legacy
# builder cannot set 1777, so it belongs to the image's user.
COPY --chown=65532:65532 tmp /tmp
COPY keyline /keyline
COPY config.json /etc/keyline/config.json
# The data directory belongs to the image's user, so that the default config
# (SQLite at /var/lib/keyline/keyline.db) works on a fresh volume.
COPY --chown=65532:65532 var-lib-keyline /var/lib/keyline

# No /etc/passwd: a numeric user needs none. 65532 is the customary
# "nonroot" of distroless images.
USER 65532:65532
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME ["/var/lib/keyline"]
WORKDIR /var/lib/keyline

# 7070 API (httpPort), 7071 cluster RPC (cluster.rpcPort), 7072 gossip
# (cluster.gossipPort, TCP and UDP), 2112 Prometheus metrics.
EXPOSE 7070/tcp 7071/tcp 7072/tcp 7072/udp 2112/tcp

# Liveness, not readiness: a node that is up but waiting for its database
# must not be restarted by the orchestrator.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/keyline", "health", "--config", "/etc/keyline/config.json"]

ENTRYPOINT ["/keyline"]
CMD ["run", "--config", "/etc/keyline/config.json"]
