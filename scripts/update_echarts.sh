#!/bin/sh
# Re-fetch Apache ECharts from the npm registry into app/static/vendor/echarts/ (the app
# loads nothing from outside the server). Usage: scripts/update_echarts.sh [version]
# (default: the version in app/static/vendor/echarts/VERSION). Needs npm and tar.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/app/static/vendor/echarts"
version=${1:-$(cat "$dest/VERSION")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@$version" >/dev/null)
tar -xzf "$tmp"/echarts-*.tgz -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/echarts.min.js" "$dest/echarts.min.js"
cp "$tmp/package/i18n/langZH.js" "$tmp/package/i18n/langEN.js" "$dest/"
cp "$tmp/package/LICENSE" "$tmp/package/NOTICE" "$dest/"
if [ -d "$tmp/package/licenses" ]; then
  mkdir -p "$dest/licenses" && cp "$tmp/package/licenses/"* "$dest/licenses/"
fi
printf '%s\n' "$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$tmp/package/package.json" | head -1)" >"$dest/VERSION"
echo "echarts $(cat "$dest/VERSION") in $dest"
