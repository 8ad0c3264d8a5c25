#!/usr/bin/env bash
# Bitswap between tau nodes on loopback, side by side with references, in one run:
#   1. One file (default 1 GiB) added on node 1 of a 2-node `tau dream` and
#      fetched by node 2: `curl` of node 2's gateway (Bitswap fetch, verify,
#      store, stream), against `curl` of the same file from nginx on loopback.
#      Each run uses a fresh cloud, so node 2 starts with nothing.
#   2. One seed, four leechers (a 5-node dream): the four gateways fetched at
#      once; aggregate throughput = 4 × size / wall time.
#   3. py-libp2p 0.8.1 to py-libp2p (Tests/BitswapTests/Peers/bitswap_peer.py,
#      MerkleDag.add_file / fetch_file), PY_MIB of data, for reference.
# Medians of RUNS runs. Prints a Markdown table.
#
# Usage: Benchmarks/scripts/bitswap-transfer.sh [SIZE_MIB=1024] [RUNS=3] [PY_MIB=32]
# (TAU_BIN=path uses that tau instead of building one.)
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-1024}"
runs="${2:-3}"
py_mib="${3:-32}"
bytes=$((size_mib * 1048576))

missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
python="${TAU_PYTHON:-$PWD/.venv/bin/python}"
[ -x "$python" ] || .ci/setup >&2

if [ -n "${TAU_BIN:-}" ]; then
  tau="$TAU_BIN"
else
  swift build -c release --product tau >/dev/null
  tau="$PWD/.build/release/tau"
fi
work=$(mktemp -d)
nginx_pid=""
cleanup() {
  "$tau" dream down --dir "$work/dream" --purge >/dev/null 2>&1 || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
base_port=$((30000 + RANDOM % 20000))

mkdir -p "$work/site"
head -c "$bytes" /dev/zero \
  | openssl enc -chacha20 -K "$(printf '%064x' 7)" -iv "$(printf '%032d' 0)" -nosalt > "$work/site/file.bin"
chmod 755 "$work"; chmod -R a+rX "$work/site"
sum=$(sha256sum "$work/site/file.bin" | cut -d' ' -f1)

nginx_port=$((base_port + 900))
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nginx_port; root $work/site; }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g "daemon off;" >"$work/nginx/out" 2>&1 &
nginx_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/file.bin" -r 0-0 && break; sleep 0.1; done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b / s / 1e6}'; }

# A fresh dream of N nodes with the file added on node 1; prints the root CID.
fresh_dream() {
  "$tau" dream down --dir "$work/dream" --purge >/dev/null 2>&1 || true
  "$tau" dream up --nodes "$1" --dir "$work/dream" --base-port "$base_port" >/dev/null
  for index in $(seq 2 "$1"); do
    for _ in $(seq 1 100); do
      [ "$("$tau" swarm peers --repo "$work/dream/node-$index" | wc -l)" -ge 1 ] && break
      sleep 0.1
    done
  done
  "$tau" add -Q --progress=false --repo "$work/dream/node-1" "$work/site/file.bin"
}
gateway_of() { echo "127.0.0.1:$((base_port + 10 * $1))"; }

# curl URL: the seconds curl took to receive the body (to /dev/null, so no
# checksum tool caps the rate); then the body is fetched again and checked.
timed_curl() {
  local seconds got
  seconds=$(curl -sf -o /dev/null -w '%{time_total}' "$1")
  got=$(curl -sf "$1" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$sum" ] || { echo "wrong bytes from $1" >&2; exit 1; }
  echo "$seconds"
}

: > "$work/nginx.times"; : > "$work/nginx-file.times"; : > "$work/tau.times"; : > "$work/swarm.times"; : > "$work/cat.times"
for _ in $(seq 1 "$runs"); do
  timed_curl "http://127.0.0.1:$nginx_port/file.bin" >> "$work/nginx.times"
  # Into a file (page cache, no sync): what the issue-12 target is set against.
  curl -sf -o "$work/out.bin" -w '%{time_total}\n' "http://127.0.0.1:$nginx_port/file.bin" >> "$work/nginx-file.times"
  rm -f "$work/out.bin"
  cid=$(fresh_dream 2)
  timed_curl "http://$(gateway_of 2)/ipfs/$cid" >> "$work/tau.times"
  # The issue's own measure: `tau cat` on the fetching node into a file.
  cid=$(fresh_dream 2)
  start=$(date +%s.%N)
  "$tau" cat --repo "$work/dream/node-2" "$cid" > "$work/cat.bin"
  end=$(date +%s.%N)
  [ "$(sha256sum "$work/cat.bin" | cut -d' ' -f1)" = "$sum" ] || { echo "wrong bytes from tau cat" >&2; exit 1; }
  rm -f "$work/cat.bin"
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >> "$work/cat.times"
done
for _ in $(seq 1 "$runs"); do
  cid=$(fresh_dream 5)
  start=$(date +%s.%N)
  pids=()
  for index in 2 3 4 5; do
    curl -sf -o /dev/null "http://$(gateway_of $index)/ipfs/$cid" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >> "$work/swarm.times"
  for index in 2 3 4 5; do
    got=$(curl -sf "http://$(gateway_of $index)/ipfs/$cid" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$sum" ] || { echo "wrong bytes from node $index" >&2; exit 1; }
  done
done
"$tau" dream down --dir "$work/dream" --purge >/dev/null

: > "$work/py.times"
for _ in $(seq 1 "$runs"); do
  coproc PROVIDER { "$python" Tests/BitswapTests/Peers/bitswap_peer.py provide $((py_mib * 1048576)) 5 2>/dev/null; }
  read -r ready address root pysum <&"${PROVIDER[0]}"
  [ "$ready" = "ready" ] || { echo "py-libp2p provider did not start" >&2; exit 1; }
  result=$("$python" Tests/BitswapTests/Peers/bitswap_peer.py fetch "$address" "$root" 300 2>/dev/null)
  echo quit >&"${PROVIDER[1]}"; wait "$PROVIDER_PID" 2>/dev/null || true
  set -- $result
  [ "$1" = "ok" ] && [ "$2" = "$pysum" ] || { echo "py-libp2p fetch failed: $result" >&2; exit 1; }
  echo "$4" >> "$work/py.times"
done

nginx_file_s=$(median < "$work/nginx-file.times"); nginx_file_mb=$(mbps "$bytes" "$nginx_file_s")
nginx_s=$(median < "$work/nginx.times"); tau_s=$(median < "$work/tau.times")
swarm_s=$(median < "$work/swarm.times"); py_s=$(median < "$work/py.times"); cat_s=$(median < "$work/cat.times")
cat_mb=$(mbps "$bytes" "$cat_s")
nginx_mb=$(mbps "$bytes" "$nginx_s"); tau_mb=$(mbps "$bytes" "$tau_s")
echo
echo "Bitswap on loopback, $(nproc) cores, $size_mib MiB, median of $runs runs"
echo
echo "| transfer | seconds | MB/s | ratio to curl → /dev/null | ratio to curl → file |"
echo "|---|---|---|---|---|"
echo "| curl from nginx into /dev/null (reference) | $nginx_s | $nginx_mb | 1.00 | – |"
echo "| curl from nginx into a file (reference) | $nginx_file_s | $nginx_file_mb | – | 1.00 |"
echo "| tau node 1 → node 2 (curl of node 2's gateway, fresh node) | $tau_s | $tau_mb | $(awk -v a="$tau_mb" -v b="$nginx_mb" 'BEGIN {printf "%.2f", a / b}') | $(awk -v a="$tau_mb" -v b="$nginx_file_mb" 'BEGIN {printf "%.2f", a / b}') |"
echo "| tau node 1 → node 2 (\`tau cat\` on node 2 into a file, fresh node) | $cat_s | $cat_mb | $(awk -v a="$cat_mb" -v b="$nginx_mb" 'BEGIN {printf "%.2f", a / b}') | $(awk -v a="$cat_mb" -v b="$nginx_file_mb" 'BEGIN {printf "%.2f", a / b}') |"
echo "| one seed, four leechers at once: aggregate | $swarm_s | $(mbps $((4 * bytes)) "$swarm_s") | – | – |"
echo "| py-libp2p → py-libp2p, $py_mib MiB (reference) | $py_s | $(mbps $((py_mib * 1048576)) "$py_s") | – | – |"
