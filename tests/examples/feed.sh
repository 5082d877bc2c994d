#!/bin/sh
# examples/feed, the ticker on topic streams (docs/resume.md), through
# wsio-cat: ids are consecutive; a client that comes back with
# topic=NAME:ID gets exactly the messages after ID; one whose ID has left
# the window is told ("NAME gap N") before it gets the window; an unknown
# topic is refused (1008); and wsio-cat --resume, whose connection a
# proxy cuts once, ends with every id once, in order.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/lib.sh
tmp=$(mktemp -d)
proxy=""
trap 'cleanup_servers; [ -n "$proxy" ] && kill "$proxy" 2>/dev/null; rm -rf "$tmp"' EXIT
cat="$BUILD/wsio-cat"
failed=0
fail() { echo "FAIL feed: $*"; failed=1; }

# ids (second field) of lines "btc ID price": one run, each once.
consecutive() { # file
    awk '$1 != "btc" || $2 !~ /^[0-9]+$/ { bad = 1 }
         NR > 1 && $2 != prev + 1 { bad = 1 }
         { prev = $2 } END { exit bad }' "$1"
}

start_server "$tmp/feed" "$BUILD/examples/feed" --rate 200 --window 150 \
    --topics btc,eth
url=$SERVER_URL

timeout 10 "$cat" -n 20 "${url}?topic=btc" </dev/null >"$tmp/a" 2>/dev/null ||
    fail "first client"
consecutive "$tmp/a" || fail "live ids are not consecutive: $(head -3 "$tmp/a")"
last=$(tail -1 "$tmp/a" | cut -d' ' -f2)

timeout 10 "$cat" -n 10 "${url}?topic=btc:$last" </dev/null >"$tmp/b" \
    2>/dev/null || fail "resuming client"
first=$(head -1 "$tmp/b" | cut -d' ' -f2)
[ "$first" = $((last + 1)) ] || fail "resumed after $last at $first"
consecutive "$tmp/b" || fail "resumed ids are not consecutive"

sleep 1 # 200 more: id 1 has left the 150-message window
timeout 10 "$cat" -n 5 "${url}?topic=btc:1" </dev/null >"$tmp/c" 2>/dev/null ||
    fail "client from id 1"
head -1 "$tmp/c" | grep -q '^btc gap [0-9][0-9]*$' ||
    fail "no gap notice: $(head -1 "$tmp/c")"

status=0
timeout 10 "$cat" -n 1 "${url}?topic=nope" </dev/null >/dev/null 2>&1 ||
    status=$?
[ "$status" = 4 ] || fail "unknown topic: exit $status, not 4 (1008)"

# wsio-cat --resume through a proxy that cuts the first connection.
port=${url##*:}
port=${port%/}
python3 tests/examples/drop_proxy.py "$port" 400 >"$tmp/proxy" &
proxy=$!
for _ in $(seq 1 50); do
    grep -q listening "$tmp/proxy" && break
    sleep 0.1
done
pport=$(sed -n 's/^listening on //p' "$tmp/proxy")
timeout 20 "$cat" --resume -n 300 "ws://127.0.0.1:$pport/?topic=btc" \
    </dev/null >"$tmp/d" 2>"$tmp/d.err" || fail "wsio-cat --resume"
grep -q 'resuming: .*topic=btc:[0-9]' "$tmp/d.err" ||
    fail "wsio-cat --resume did not ask for what it missed: $(cat "$tmp/d.err")"
[ "$(wc -l <"$tmp/d")" -ge 300 ] || fail "--resume: $(wc -l <"$tmp/d") lines"
consecutive "$tmp/d" || fail "--resume: a gap or a duplicate across the cut"

stop_server "$SERVER_PID" || fail "feed did not stop cleanly"
[ "$failed" = 0 ] && echo "feed: 6 checks passed"
exit "$failed"
