#!/usr/bin/env bash
# scripts/img-bench.sh [N] [ROUNDS]
#
# The resizing origin (media.Origin, pure Go) against vipsthumbnail (libvips)
# on the same photo: a deterministic 4000x3000 JPEG (media/imgbench gen),
# resized to 360 px wide, N images per process, ROUNDS rounds alternating
# the two sides. Each side is one process per round under /usr/bin/time:
# images/s = all images / all elapsed time (process start included on both
# sides), peak RSS = the largest maximum resident set of its rounds.
#
# vipsthumbnail comes from Debian's libvips-tools without root: `apt-get
# download` of it and every dependency this machine lacks, unpacked with
# `dpkg -x` into .services/vips/root and run with LD_LIBRARY_PATH. An
# installed vipsthumbnail on PATH is used as it is. apt-get download needs
# the package lists (`apt-get update` once, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ -x /usr/bin/time ]] || { echo "missing: /usr/bin/time - Debian: apt-get install time (GNU time measures each side's peak RSS)" >&2; exit 1; }
command -v apt-get >/dev/null || command -v vipsthumbnail >/dev/null ||
  { echo "missing: vipsthumbnail, and apt-get to fetch it (Debian's libvips-tools)" >&2; exit 1; }

N=${1:-20}
ROUNDS=${2:-3}
WIDTH=360
QUALITY=80 # JPEG quality of both sides' output (media.OriginConfig default)
VIPS=$PWD/.services/vips
WORK=$VIPS/bench
mkdir -p "$WORK"

# vips_env: sets VIPSTHUMBNAIL (and LD_LIBRARY_PATH for a local unpack).
vips_env() {
  if command -v vipsthumbnail >/dev/null; then
    VIPSTHUMBNAIL=$(command -v vipsthumbnail)
    return
  fi
  local root=$VIPS/root
  if [[ ! -x $root/usr/bin/vipsthumbnail ]]; then
    echo "img-bench: fetching libvips-tools and its missing dependencies into $root" >&2
    local debs=$VIPS/debs missing=()
    mkdir -p "$debs"
    for p in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances libvips-tools | grep '^[a-z0-9]' | sort -u); do
      dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
    done
    (cd "$debs" && apt-get download "${missing[@]}") >&2 ||
      { echo "img-bench: apt-get download failed (run apt-get update once as root?)" >&2; exit 1; }
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
  fi
  VIPSTHUMBNAIL=$root/usr/bin/vipsthumbnail
  LD_LIBRARY_PATH=$(find "$root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LD_LIBRARY_PATH
}

vips_env
"$VIPSTHUMBNAIL" --vips-version >&2
go build -o "$WORK/imgbench" ./media/imgbench
[[ -f $WORK/photo.jpg ]] || "$WORK/imgbench" gen -o "$WORK/photo.jpg"
# vipsthumbnail gets N names (hard links), so libvips's operation cache
# cannot serve a repeat; the Go side caches nothing (CacheBytes -1).
inputs=()
for i in $(seq "$N"); do
  ln -f "$WORK/photo.jpg" "$WORK/in_$i.jpg"
  inputs+=("$WORK/in_$i.jpg")
done

# measure LABEL CMD...: appends "elapsed_s max_rss_kb" to $WORK/LABEL.times.
measure() {
  local label=$1
  shift
  /usr/bin/time -f '%e %M' -a -o "$WORK/$label.times" "$@" >/dev/null
}
rm -f "$WORK"/*.times
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  measure go "$WORK/imgbench" resize -n "$N" -w "$WIDTH" "$WORK/photo.jpg"
  measure vips "$VIPSTHUMBNAIL" --size "${WIDTH}x" -o "$WORK/out_%s.jpg[Q=$QUALITY]" "${inputs[@]}"
done
"$(dirname "$VIPSTHUMBNAIL")/vipsheader" "$WORK/out_in_1.jpg" >&2 # the vips side's output: 360x270

summary() { awk -v n="$N" '{t+=$1; if ($2>m) m=$2; k++} END {printf "%.2f %.0f\n", n*k/t, m/1024}' "$WORK/$1.times"; }
read -r go_ips go_rss < <(summary go)
read -r vips_ips vips_rss < <(summary vips)
printf '%-28s %10s %14s\n' side "images/s" "peak RSS MiB"
printf '%-28s %10s %14s\n' "media.Origin (Go, x/image)" "$go_ips" "$go_rss" "vipsthumbnail (libvips)" "$vips_ips" "$vips_rss"
awk -v a="$vips_ips" -v b="$go_ips" -v c="$go_rss" -v d="$vips_rss" \
  'BEGIN {printf "ratio: vipsthumbnail %.1fx the images/s; media.Origin %.1fx the peak RSS\n", a/b, c/d}'
echo "($N images per process, $ROUNDS rounds alternating, $(nproc) cores; ${WIDTH} px wide from a 4000x3000 JPEG)"
