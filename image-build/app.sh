#!/bin/bash
# Stage pijig for the arm64 image in DIR (it becomes /opt/pijig):
#   image-build/app.sh DIR
# The compiled JavaScript (npm run build, on this machine), the production dependencies for
# linux/arm64 (npm fetches the arm64 prebuilds of @serialport/bindings-cpp and koffi), and the
# native addons that ship no arm64 build (i2c-bus, and epoll under onoff) cross-compiled here with
# gcc-aarch64-linux-gnu against Node 20's headers. Nothing is compiled on the Pi, ever.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
dest="${1:?usage: app.sh DIR}"
deadline() { timeout --kill-after=10 "$@"; }

cd "$repo"
[ -d node_modules ] || deadline 600 npm ci --no-audit --no-fund
deadline 300 npm run build --silent

rm -rf "$dest"
mkdir -p "$dest"
cp -r dist jig-config package.json package-lock.json README.md "$dest/"
chmod 755 "$dest/dist/cli.js"
git -C "$repo" describe --always --dirty --tags > "$dest/BUILD" 2>/dev/null || echo unknown > "$dest/BUILD"

cd "$dest"
deadline 600 npm ci --omit=dev --ignore-scripts --cpu=arm64 --os=linux --libc=glibc --no-audit --no-fund --loglevel=error

# Node 20 headers: the ones npm builds against on this machine (nodedir), else node-gyp's cache.
nodedir="$(npm config get nodedir 2>/dev/null || true)"
if [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ ! -e "$nodedir/include/node/node.h" ]; then nodedir=""; fi
node_gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
[ -e "$node_gyp" ] || { echo "app.sh: node-gyp not found next to npm ($node_gyp)" >&2; exit 1; }
[ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || { echo "app.sh: build with Node 20 (the image runs Debian trixie's nodejs 20.19)" >&2; exit 1; }

for addon in i2c-bus epoll; do
  [ -d "node_modules/$addon" ] || { echo "app.sh: node_modules/$addon missing" >&2; exit 1; }
  (
    cd "node_modules/$addon"
    export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
    export CC_host=gcc CXX_host=g++
    deadline 300 node "$node_gyp" rebuild --arch=arm64 ${nodedir:+--nodedir="$nodedir"} --loglevel=warn > build.log 2>&1 || { cat build.log >&2; exit 1; }
    rm -f build.log
    # keep the addon, drop the object files
    find build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find build/Release -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
  )
done

# Only the linux-arm64 (glibc) prebuilds are of use on the Pi.
if [ -d node_modules/@serialport/bindings-cpp/prebuilds ]; then
  find node_modules/@serialport/bindings-cpp/prebuilds -mindepth 1 -maxdepth 1 ! -name linux-arm64 -exec rm -rf {} +
  find node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64 -name '*musl*' -delete
fi
rm -rf node_modules/@koromix/koffi-linux-arm64/musl_arm64

# Every native addon in the tree must be an aarch64 ELF.
bad=0
while IFS= read -r f; do
  if ! file -b "$f" | grep -q 'ARM aarch64'; then echo "app.sh: not an arm64 addon: $f ($(file -b "$f"))" >&2; bad=1; fi
done < <(find node_modules -name '*.node')
[ "$bad" = 0 ]
find node_modules -name '*.node' | sort
