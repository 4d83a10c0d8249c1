# The gateway as a container image: Debian 12, built in one stage, run from a second one that holds
# the binary, its runtime libraries and CA certificates only, as an unprivileged user.
#
#   docker build -t mcp-oauth-gateway .
#   docker run -p 8002:8002 -v gateway-state:/var/lib/mcp-oauth-gateway \
#     -e MCP_GATEWAY_UPSTREAM_CLIENT_ID=... -e MCP_GATEWAY_UPSTREAM_CLIENT_SECRET=... \
#     -e MCP_GATEWAY_PUBLIC_URL=https://gateway.example.com mcp-oauth-gateway
#
# The configuration is deploy/container/gateway.yaml (mount another over
# /etc/mcp-oauth-gateway/gateway.yaml to change it). test/deploy/check.sh checks that the runtime
# packages below are exactly what the binary links and that this build stage configures.

FROM debian:12 AS build
# The build packages of tools/install-deps, without the test and benchmark ones.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libevent-dev node-llhttp libssl-dev rapidjson-dev libyaml-cpp-dev libabsl-dev \
      libsqlite3-dev libhiredis-dev libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY source source
COPY extensions extensions
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DGATEWAY_BUILD_TESTS=OFF -DGATEWAY_BUILD_BENCH=OFF \
 && ninja -C /build mcp-oauth-gateway \
 && strip /build/mcp-oauth-gateway

FROM debian:12-slim
# runtime packages: what `ldd mcp-oauth-gateway` resolves to (libevent, Abseil and jemalloc are
# linked in statically), plus CA certificates for https upstreams.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libhiredis0.14 libsqlite3-0 libssl3 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/mcp-oauth-gateway \
      --create-home --shell /usr/sbin/nologin gateway
COPY --from=build /build/mcp-oauth-gateway /usr/local/bin/mcp-oauth-gateway
COPY deploy/container/gateway.yaml /etc/mcp-oauth-gateway/gateway.yaml
USER 10001:10001
WORKDIR /var/lib/mcp-oauth-gateway
VOLUME /var/lib/mcp-oauth-gateway
EXPOSE 8002
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/mcp-oauth-gateway", "--config=/etc/mcp-oauth-gateway/gateway.yaml"]
