#!/usr/bin/env bash
# Start N bertviz-lite app processes behind nginx with sticky sessions, sharing one run cache.
#   deploy/class-server.sh [N=2] [PORT=8080]
# App processes listen on 127.0.0.1:8601..860N; nginx on 127.0.0.1:PORT (put your TLS proxy
# or a public listen in front of it). Stop with: kill $(cat "$RUN_DIR"/*.pid)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-2}"; PORT="${2:-8080}"
RUN_DIR="${BERTVIZ_RUN_DIR:-$ROOT/.class-server}"
export BERTVIZ_CACHE_DIR="${BERTVIZ_CACHE_DIR:-$RUN_DIR/cache}"   # shared by all processes
. "$ROOT/scripts/setup.sh"
(cd "$ROOT" && python -m bertviz_lite.serve.settings)  # refuse unusable settings first
mkdir -p "$RUN_DIR"
upstreams=""
for i in $(seq 1 "$N"); do
  app_port=$((8600 + i))
  (cd "$ROOT" && nohup python -m bertviz_lite.app.run app.py --server.port "$app_port" \
     --server.address 127.0.0.1 > "$RUN_DIR/app$i.log" 2>&1 & echo $! > "$RUN_DIR/app$i.pid")
  upstreams+="        server 127.0.0.1:${app_port};"$'\n'
done
export LISTEN_PORT="$PORT" PREFIX="$RUN_DIR" UPSTREAMS="$upstreams"
envsubst '${LISTEN_PORT} ${PREFIX} ${UPSTREAMS}' < "$ROOT/deploy/nginx.conf.template" \
  > "$RUN_DIR/nginx.conf"
nginx -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" -e "$RUN_DIR/error.log"
echo "bertviz-lite for a class: http://127.0.0.1:$PORT ($N app processes, cache $BERTVIZ_CACHE_DIR)"
