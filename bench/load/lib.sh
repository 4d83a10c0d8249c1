# Shared by bench/load/run and bench/load/callgrind-gate (sourced, not run): the processes of a
# load benchmark on loopback, each started by these functions and stopped by StopAll.
#   the fast upstream   nginx answering fixed JSON or a short SSE reply on /mcp, HTTP and HTTPS
#                       (a certificate made per run by openssl)
#   the nginx proxy     a plain keep-alive reverse proxy (proxy_pass) to that upstream
#   the gateway         build/mcp-oauth-gateway, memory store, from a generated gateway.yaml, in
#                       front of the same upstream, with the GitHub-like fake as its upstream
#                       authorization server for the login
# Every file lives in $BENCH_DIR (a temporary directory); nothing is written elsewhere.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build}
LOAD_TOOL=$BUILD_DIR/bench_load_tool
STARTED_PIDS=()

# The JSON-RPC request every client sends, and the replies of the fast upstream.
REQUEST_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
REPLY_JSON='{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}'

Die() {
  echo "bench: $*" >&2
  exit 1
}

StopAll() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

# Stops one process started here (SIGTERM) and waits for it; sets STOP_STATUS to its exit status.
Stop() {
  local pid=$1 kept=() p
  kill "$pid" 2>/dev/null || true
  STOP_STATUS=0
  wait "$pid" 2>/dev/null || STOP_STATUS=$?
  for p in "${STARTED_PIDS[@]}"; do
    [ "$p" = "$pid" ] || kept+=("$p")
  done
  STARTED_PIDS=("${kept[@]}")
}

FreePort() {
  "$LOAD_TOOL" free-port
}

# Waits until `url` answers (any HTTP status), for up to 60 s (a start under valgrind is slow).
WaitForHttp() {
  local url=$1 i
  for i in $(seq 600); do
    if curl -s -o /dev/null -k --max-time 1 "$url"; then
      return 0
    fi
    sleep 0.1
  done
  Die "nothing answers at $url"
}

# A self-signed certificate for 127.0.0.1 and localhost, made for this run.
MakeCertificate() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$BENCH_DIR/key.pem" -out "$BENCH_DIR/cert.pem" 2>/dev/null ||
    Die "openssl could not make a certificate"
}

# nginx's settings shared by the upstream and the proxy: no root paths, everything in `dir`.
NginxCommon() {
  local dir=$1
  cat <<EOF
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
EOF
}

NginxHttpCommon() {
  local dir=$1
  cat <<EOF
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
EOF
}

# Starts nginx with `dir`/nginx.conf (`cpus`: a taskset list, or empty). Sets NGINX_PID.
StartNginx() {
  local dir=$1 cpus=$2 valgrind_log=${3:-}
  local command=(nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf")
  if [ -n "$valgrind_log" ]; then
    command=(valgrind --tool=callgrind --callgrind-out-file="$valgrind_log" "${command[@]}")
  fi
  if [ -n "$cpus" ]; then
    command=(taskset -c "$cpus" "${command[@]}")
  fi
  "${command[@]}" >>"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  STARTED_PIDS+=("$NGINX_PID")
}

# The fast upstream on `port` (HTTP) and `tls_port` (HTTPS): /mcp answers REPLY_JSON, or, to
# Accept: text/event-stream, the same message as one SSE event; /stub_status counts the
# connections it accepted. One process (master_process off).
StartUpstream() {
  local port=$1 tls_port=$2 cpus=$3 dir=$BENCH_DIR/upstream
  mkdir -p "$dir"
  {
    NginxCommon "$dir"
    echo "master_process off;"
    echo "http {"
    NginxHttpCommon "$dir"
    cat <<EOF
  server {
    listen 127.0.0.1:$port;
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $BENCH_DIR/cert.pem;
    ssl_certificate_key $BENCH_DIR/key.pem;
    location = /mcp {
      if (\$http_accept = "text/event-stream") { rewrite ^ /sse last; }
      default_type application/json;
      return 200 '$REPLY_JSON';
    }
    location = /sse {
      internal;
      default_type text/event-stream;
      return 200 'event: message\ndata: $REPLY_JSON\n\n';
    }
    location = /stub_status { stub_status; }
    location / { return 404; }
  }
}
EOF
  } >"$dir/nginx.conf"
  StartNginx "$dir" "$cpus"
  UPSTREAM_PID=$NGINX_PID
  UPSTREAM_STATUS_URL=http://127.0.0.1:$port/stub_status
  WaitForHttp "http://127.0.0.1:$port/mcp"
}

# How many connections the upstream has accepted so far (this question's own included).
UpstreamAccepts() {
  curl -s "$UPSTREAM_STATUS_URL" | awk 'NR == 3 { print $1 }'
}

# The nginx proxy on `port` in front of `upstream_url` (http://127.0.0.1:P or https://...):
# keep-alive to the upstream (NGINX_KEEPALIVE idle connections kept, default 256), no response
# buffering (an MCP POST may answer with an SSE stream),
# the upstream's certificate verified as the gateway verifies it. `workers` 1 runs one process
# (master_process off); more runs a master and its workers.
StartNginxProxy() {
  local port=$1 upstream_url=$2 workers=$3 cpus=$4 valgrind_log=${5:-} dir=$BENCH_DIR/proxy
  local keepalive=${NGINX_KEEPALIVE:-256}
  rm -rf "$dir"
  mkdir -p "$dir"
  local hostport=${upstream_url#*://}
  local scheme=${upstream_url%%://*}
  {
    NginxCommon "$dir"
    if [ "$workers" = 1 ]; then
      echo "master_process off;"
    else
      echo "worker_processes $workers;"
    fi
    echo "http {"
    NginxHttpCommon "$dir"
    cat <<EOF
  upstream backend {
    server $hostport;
    keepalive $keepalive;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$port;
    location = /bench-ready { return 204; }
    location /mcp {
      proxy_pass $scheme://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $BENCH_DIR/cert.pem;
      proxy_ssl_name localhost;  # nginx 1.22 matches DNS names only, not IP SANs
      proxy_ssl_session_reuse on;
    }
  }
}
EOF
  } >"$dir/nginx.conf"
  StartNginx "$dir" "$cpus" "$valgrind_log"
  PROXY_PID=$NGINX_PID
  WaitForHttp "http://127.0.0.1:$port/bench-ready"
}

# The GitHub-like fake (the gateway's upstream authorization server for the login only).
StartAuthorizationServer() {
  local log=$BENCH_DIR/github_like.log
  node "$BENCH_ROOT/test/upstreams/github_like.mjs" --port 0 --client-id Iv1.gateway \
    --client-secret gh-secret >"$log" 2>&1 &
  STARTED_PIDS+=("$!")
  local i
  for i in $(seq 100); do
    AUTH_PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
    [ -n "$AUTH_PORT" ] && return 0
    sleep 0.1
  done
  Die "the GitHub-like fake did not start: $(cat "$log")"
}

# Starts the gateway on `port` in front of `rs`. Sets GATEWAY_PID.
#   format: sealed | plain; workers: listener.workers; cpus: taskset list or empty;
#   forward_config: upstream_forward's config (empty: the default chain);
#   valgrind_log: run it under callgrind, writing there
StartGateway() {
  local port=$1 rs=$2 format=$3 workers=$4 cpus=$5 forward_config=${6:-} valgrind_log=${7:-}
  local yaml=$BENCH_DIR/gateway.yaml
  cat >"$yaml" <<EOF
listener: {address: 127.0.0.1, port: $port, workers: $workers}
upstream:
  rs: $rs
  client_id: Iv1.gateway
  client_secret: gh-secret
  authorize_endpoint: http://127.0.0.1:$AUTH_PORT/login/oauth/authorize
  token_endpoint: http://127.0.0.1:$AUTH_PORT/login/oauth/access_token
  scopes: repo read:user
  ca_file: $BENCH_DIR/cert.pem
users: [{name: alice, password: wonderland}]
store: {type: memory}
tokens: {format: $format}
log: {level: warning}
# As nginx keeps its idle upstream connections (keepalive_timeout 60s): the rounds pause the
# gateway for longer than its default (4s), and each round would open them again.
limits: {upstream_idle_timeout: 60s}
EOF
  if [ -n "$forward_config" ]; then
    cat >>"$yaml" <<EOF
filters:
  - {name: health, match: {path: /healthz}}
  - {name: metadata, match: {prefix: /.well-known/}}
  - {name: dcr, match: {path: /register}}
  - {name: authorize, match: {path: /authorize}}
  - {name: login, match: {paths: [/login, /login/callback, /consent]}}
  - {name: upstream_callback, match: {path: /upstream/callback}}
  - {name: token_exchange, match: {path: /token}}
  - {name: revoke, match: {path: /revoke}}
  - {name: bearer_split, match: {prefix: /mcp}}
  - {name: upstream_forward, match: {prefix: /mcp}, config: $forward_config}
EOF
  fi
  local command=("$BUILD_DIR/mcp-oauth-gateway" "--config=$yaml")
  if [ -n "$valgrind_log" ]; then
    command=(valgrind --tool=callgrind --callgrind-out-file="$valgrind_log" "${command[@]}")
  fi
  if [ -n "$cpus" ]; then
    command=(taskset -c "$cpus" "${command[@]}")
  fi
  "${command[@]}" >"$BENCH_DIR/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  STARTED_PIDS+=("$GATEWAY_PID")
  WaitForHttp "http://127.0.0.1:$port/healthz"
}

# Walks the OAuth flow at the gateway on `port` (bench_login) and sets TOKEN_FILE.
Login() {
  local port=$1
  TOKEN_FILE=$BENCH_DIR/token
  rm -f "$TOKEN_FILE"
  BENCH_GATEWAY_PORT=$port BENCH_UPSTREAM_PORT=$AUTH_PORT BENCH_TOKEN_FILE=$TOKEN_FILE \
    "$BUILD_DIR/bench_login" >"$BENCH_DIR/login.log" 2>&1 ||
    Die "the OAuth flow failed: $(tail -30 "$BENCH_DIR/login.log")"
  [ -s "$TOKEN_FILE" ] || Die "the OAuth flow gave no token"
}

# CPU time in nanoseconds of `pid` and its children (nginx's master and workers), all threads
# counted: the scheduler's own sum (/proc/<pid>/task/<tid>/schedstat, exact), where utime + stime
# in /proc/<pid>/stat come in 10 ms ticks, about 1% of a round's CPU. A thread that ends between
# two readings takes its time with it: the proxies measured here keep theirs for the whole run.
# Without schedstat (a kernel without CONFIG_SCHED_INFO) the ticks stand in.
CpuNanos() {
  local pid total=0 nanos
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    if [ -r "/proc/$pid/schedstat" ]; then
      nanos=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
    else
      nanos=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f", ($12 + $13) * 1e9 / hz }' \
        "/proc/$pid/stat" 2>/dev/null || echo 0)
    fi
    total=$((total + ${nanos:-0}))
  done
  echo "$total"
}
