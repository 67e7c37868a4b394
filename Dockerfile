# syntax=docker/dockerfile:1
# SIP session border controller image.
#   docker build -t sbc:0.1.0 .      (or: podman build / buildah bud; CI: scripts/image-check.sh)
# The runtime image runs as uid 10001 and works with readOnlyRootFilesystem and only the
# NET_BIND_SERVICE capability (see helm/sbc). Configuration: /etc/sbc/sbc.yaml (mounted).

FROM debian:bookworm AS build
WORKDIR /src
# The toolchain and the libraries only (no test peers): a layer that changes with that list alone.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
# The sbc binary only: no tests or benchmarks (their libraries are not installed above).
RUN cmake --preset release -DSBC_BUILD_TESTS=OFF -DSBC_BUILD_BENCH=OFF \
 && cmake --build --preset release --target sbc -j"$(nproc)" \
 && install -D -m 0755 build/release/sbc/app/sbc /out/sbc

FROM debian:bookworm-slim
# Runtime libraries only: yaml-cpp, BoringSSL (libssl/libcrypto under
# /usr/lib/x86_64-linux-gnu/android, found through the binary's RPATH), prometheus-cpp's core
# (the metrics endpoint), libpcap (capture files, `sbc replay`), c-ares (cores by DNS name) and
# libstdc++.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-cpp0.7 android-libboringssl libprometheus-cpp-core1.0 libpcap0.8 libc-ares2 libhiredis0.14 libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sbc \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sbc \
 && mkdir -p /etc/sbc/tls /run/sbc && chown 10001:10001 /run/sbc
COPY --from=build /out/sbc /usr/local/bin/sbc
COPY sbc/app/default_config.yaml /etc/sbc/sbc.yaml
# SIP over UDP and TCP, SIP over TLS, metrics and health (/metrics, /healthz, /readyz)
EXPOSE 5060/udp 5060/tcp 5061/tcp 9460/tcp
USER 10001:10001
# SIGTERM drains (transport.shutdown_grace_ms); SIGHUP reloads the TLS certificates.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sbc", "run"]
CMD ["--config", "/etc/sbc/sbc.yaml"]
