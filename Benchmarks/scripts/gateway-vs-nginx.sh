#!/usr/bin/env bash
# tau's HTTP gateway against nginx on loopback, in one run, with wrk (keep-alive):
#
#   1. 4 KiB files of a website: 1000 files requested round-robin,
#      `wrk -t2 -c64` (nginx: sendfile from the page cache; tau: a site over a
#      MemoryBlockStore, answered from ready responses in its content cache).
#   2. One 64 MiB file, `wrk -t2 -c8` (tau: written from the file's cached segments).
#   3. Latency at half of nginx's peak rate on (1). wrk2 is not packaged, so
#      this is wrk with a Lua `delay()`: each of C connections waits DELAY ms
#      after every response before its next request, C chosen so that C/DELAY
#      is half nginx's median req/s (calibrated once on nginx, since each
#      cycle also holds the response time). A closed loop, so wrk's
#      coordinated omission applies: compare the two servers' p99 with each
#      other, not with an open-loop tool's. Both get the same C and pause.
#   4. Resident memory of both after the runs (tau: current and peak; its
#      cache budget is CACHE_MIB, the store holds the files in memory too).
#   5. CPU time per request in (1), user and kernel, of the server's
#      processes (/proc/PID/stat): steadier across machines and background
#      load than req/s, and it says where a gap is (user space is ours).
#
# Rounds alternate the servers and the medians are reported: figures drift
# 10-15 % between runs on these 2-core machines (wrk shares the cores).
#
# Usage: Benchmarks/scripts/gateway-vs-nginx.sh [SECONDS=10] [ROUNDS=3] [CACHE_MIB=256]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"
rounds="${2:-3}"
cache_mib="${3:-256}"
nginx_port="${NGINX_PORT:-18481}"
tau_port="${TAU_PORT:-18480}"
delay_ms=2

.ci/setup
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

swift build --package-path Benchmarks --scratch-path Benchmarks/.build-gateway -c release \
  --product tau-bench-gateway >/dev/null
gateway_bin="$PWD/Benchmarks/.build-gateway/release/tau-bench-gateway"

work=$(mktemp -d)
gateway_pid=""
nginx_pid=""
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The same files for both: 1000 × 4 KiB pages and one 64 MiB file,
# deterministic (AES-CTR keystream), incompressible.
mkdir -p "$work/site"
# openssl dies of SIGPIPE when head has enough: not a failure.
keystream() { (openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv "$1" </dev/zero 2>/dev/null || true) | head -c "$2"; }
keystream 00000000000000000000000000000001 $((1000 * 4096)) | split -b 4096 -a 3 -d - "$work/site/f"
for f in "$work"/site/f*; do mv "$f" "$f.html"; done
keystream 00000000000000000000000000000002 $((64 << 20)) >"$work/site/big.bin"
# nginx's workers run as an unprivileged user: let them read the files.
chmod 755 "$work"
chmod -R a+rX "$work/site"

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  open_file_cache max=2000 inactive=60s;
  types { text/html html; application/octet-stream bin; }
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/site;
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g "daemon off;" >"$work/nginx/out" 2>&1 &
nginx_pid=$!

"$gateway_bin" "$tau_port" "$work/site" "$cache_mib" >"$work/gateway.out" 2>"$work/gateway.err" &
gateway_pid=$!
for _ in $(seq 1 300); do
  grep -q '^ready' "$work/gateway.out" 2>/dev/null && curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/f000.html" && break
  sleep 0.1
done
grep -q '^ready' "$work/gateway.out" || { echo "the gateway did not start:" >&2; cat "$work/gateway.err" >&2; exit 1; }
for port in "$nginx_port" "$tau_port"; do
  for file in f123.html big.bin; do
    cmp -s <(curl -sf "http://127.0.0.1:$port/$file") "$work/site/$file" || { echo "port $port does not serve $file" >&2; exit 1; }
  done
done

cat >"$work/files.lua" <<'EOF'
-- Round-robin over the 1000 pages; with WRK_PAUSE_MS set, each connection
-- waits that long after a response before its next request.
local requests = {}
local index = 0
init = function(args)
  for i = 0, 999 do requests[#requests + 1] = wrk.format("GET", string.format("/f%03d.html", i)) end
end
request = function()
  index = index % #requests + 1
  return requests[index]
end
local pause = tonumber(os.getenv("WRK_PAUSE_MS") or "0")
if pause > 0 then
  delay = function() return pause end
end
EOF

# wrk_run PORT ARGS…: prints "req/s p99_ms"; fails on socket errors or non-2xx.
wrk_run() {
  local port=$1
  shift
  local out
  out=$(wrk "$@" --latency "http://127.0.0.1:$port${WRK_PATH:-/}" 2>&1)
  if grep -qE "Non-2xx|Socket errors" <<<"$out"; then echo "wrk reported errors:" >&2; echo "$out" >&2; exit 1; fi
  local rate p99
  rate=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  echo "$rate $p99"
}
# cpu_ticks PID…: "user system" clock ticks of these processes so far.
cpu_ticks() {
  for pid in "$@"; do awk '{print $14, $15}' "/proc/$pid/stat"; done | awk '{u += $1; s += $2} END {print u + 0, s + 0}'
}
server_pids() {
  if [ "$1" = nginx ]; then echo "$nginx_pid" $(pgrep -P "$nginx_pid"); else echo "$gateway_pid"; fi
}
ticks_per_second=$(getconf CLK_TCK)
# per_request_us TICKS REQ_PER_S: microseconds of CPU per request over one run.
per_request_us() { awk -v t="$1" -v r="$2" -v s="$seconds" -v hz="$ticks_per_second" 'BEGIN {printf "%.2f", (r > 0 ? t / hz / (r * s) * 1e6 : 0)}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

# Warm both: every file read once, caches and page cache filled.
for port in "$nginx_port" "$tau_port"; do
  wrk -t2 -c16 -d3s -s "$work/files.lua" "http://127.0.0.1:$port/" >/dev/null
  wrk -t2 -c4 -d3s "http://127.0.0.1:$port/big.bin" >/dev/null
done

declare -A small big user_us system_us
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="nginx tau"; else order="tau nginx"; fi
  for server in $order; do
    if [ "$server" = nginx ]; then port=$nginx_port; else port=$tau_port; fi
    read -r user0 system0 < <(cpu_ticks $(server_pids "$server"))
    rate=$(wrk_run "$port" -t2 -c64 -d"${seconds}s" -s "$work/files.lua" | cut -d' ' -f1)
    read -r user1 system1 < <(cpu_ticks $(server_pids "$server"))
    small[$server]+="$rate "
    user_us[$server]+="$(per_request_us $((user1 - user0)) "$rate") "
    system_us[$server]+="$(per_request_us $((system1 - system0)) "$rate") "
    big[$server]+="$(WRK_PATH=/big.bin wrk_run "$port" -t2 -c8 -d"${seconds}s" --timeout 30s | cut -d' ' -f1) "
  done
done
for server in nginx tau; do
  small[$server]=$(tr ' ' '\n' <<<"${small[$server]}" | grep . | median)
  big[$server]=$(tr ' ' '\n' <<<"${big[$server]}" | grep . | median)
  user_us[$server]=$(tr ' ' '\n' <<<"${user_us[$server]}" | grep . | median)
  system_us[$server]=$(tr ' ' '\n' <<<"${system_us[$server]}" | grep . | median)
done

# Latency at half of nginx's peak rate, same connections and pacing for both.
target=$(awk -v r="${small[nginx]}" 'BEGIN {printf "%d", r / 2}')
connections=$(awk -v t="$target" -v d="$delay_ms" 'BEGIN {c = int(t * d / 1000 + 0.5); print (c < 2 ? 2 : c)}')
# Each cycle is the pause plus the response time: one short calibration run
# on nginx scales the connection count so that the achieved rate is near the target.
read -r calibrated _ < <(WRK_PAUSE_MS=$delay_ms wrk_run "$nginx_port" -t2 -c"$connections" -d3s -s "$work/files.lua")
connections=$(awk -v c="$connections" -v t="$target" -v r="$calibrated" 'BEGIN {n = int(c * t / r + 0.5); print (n < 2 ? 2 : n)}')
declare -A paced_rate paced_p99
for server in nginx tau; do
  if [ "$server" = nginx ]; then port=$nginx_port; else port=$tau_port; fi
  rates="" p99s=""
  for _ in $(seq 1 "$rounds"); do
    read -r rate p99 < <(WRK_PAUSE_MS=$delay_ms wrk_run "$port" -t2 -c"$connections" -d"${seconds}s" -s "$work/files.lua")
    rates+="$rate "
    p99s+="$p99 "
  done
  paced_rate[$server]=$(tr ' ' '\n' <<<"$rates" | grep . | median)
  paced_p99[$server]=$(tr ' ' '\n' <<<"$p99s" | grep . | median)
done

rss_kib() { awk '/^VmRSS/{s += $2} END {print s}' "$@"; }
tau_rss=$(rss_kib /proc/"$gateway_pid"/status)
tau_peak=$(awk '/^VmHWM/{print $2}' /proc/"$gateway_pid"/status)
nginx_rss=$(rss_kib /proc/"$nginx_pid"/status $(pgrep -P "$nginx_pid" | sed 's|.*|/proc/&/status|'))

gib() { awk -v r="$1" 'BEGIN {printf "%.2f", r * 64 / 1024}'; }
echo
echo "gateway vs nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||'), $(nproc) cores, ${seconds} s runs, median of $rounds (alternating)"
echo
echo "| measure | nginx | tau | tau / nginx |"
echo "|---|---|---|---|"
echo "| 4 KiB files, wrk -t2 -c64: req/s | ${small[nginx]} | ${small[tau]} | $(ratio "${small[tau]}" "${small[nginx]}") |"
echo "| 4 KiB files: user CPU per request, µs | ${user_us[nginx]} | ${user_us[tau]} | $(ratio "${user_us[tau]}" "${user_us[nginx]}") |"
echo "| 4 KiB files: kernel CPU per request, µs | ${system_us[nginx]} | ${system_us[tau]} | $(ratio "${system_us[tau]}" "${system_us[nginx]}") |"
echo "| 64 MiB file, wrk -t2 -c8: GiB/s | $(gib "${big[nginx]}") | $(gib "${big[tau]}") | $(ratio "${big[tau]}" "${big[nginx]}") |"
echo "| paced at ~${target} req/s ($connections conns, ${delay_ms} ms pause): req/s | ${paced_rate[nginx]} | ${paced_rate[tau]} | $(ratio "${paced_rate[tau]}" "${paced_rate[nginx]}") |"
echo "| paced: p99 latency, ms | ${paced_p99[nginx]} | ${paced_p99[tau]} | $(ratio "${paced_p99[tau]}" "${paced_p99[nginx]}") |"
echo "| RSS after the runs, MiB | $((nginx_rss / 1024)) | $((tau_rss / 1024)) (peak $((tau_peak / 1024)); cache budget ${cache_mib}) | |"
