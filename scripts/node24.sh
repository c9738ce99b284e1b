#!/usr/bin/env bash
# Runs the server and CLI test folders once more on Node 24 (issue 14: Node 20
# reached end of life in April 2026; the machines still run 20.19, which the
# rest of `npm test` covers). Run by `npm test` after the Node 20 run; alone:
# `npm run test:node24`, or `bash scripts/node24.sh tests/cli/some.test.ts`.
#
# Node 24 comes from the npm registry: node-<os>-<arch>, the binary package
# the registry's `node` package installs, pinned below and fetched with
# `npm pack` (npm's cache keeps it) into node_modules/.cache/node24/. Its
# include/node holds the headers native addons compile against.
#
# better-sqlite3 is a native addon built (for Node 20's ABI) into
# node_modules/better-sqlite3/build. A second build for Node 24 goes into the
# cache, never over that one: node-gyp configures it against Node 24's
# headers and only the addon's own C++ file is compiled; SQLite itself (plain
# C, no Node ABI) is reused from the Node 20 build, which saves minutes of CI
# time. scripts/node24-hooks.js then points the Node 24 processes at it.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24_VERSION=24.22.3
platform=$(node -p 'process.platform')
arch=$(node -p 'process.arch')
cache="$PWD/node_modules/.cache/node24"
node24_dir="$cache/node-$platform-$arch-$NODE24_VERSION"
node24="$node24_dir/bin/node"

if [ ! -x "$node24" ] || ! "$node24" --version >/dev/null 2>&1; then
  echo "node24: fetching node-$platform-$arch@$NODE24_VERSION from the npm registry" >&2
  work="$cache/fetch.$$"
  rm -rf "$work" "$node24_dir"
  mkdir -p "$work"
  tarball=$(npm pack --silent --pack-destination "$work" "node-$platform-$arch@$NODE24_VERSION" | tail -n 1)
  tar -xzf "$work/$tarball" -C "$work"
  [ -f "$work/package/include/node/node.h" ] || { echo "node24: node-$platform-$arch@$NODE24_VERSION has no include/node (needed to build better-sqlite3)" >&2; exit 1; }
  mv "$work/package" "$node24_dir"
  rm -rf "$work"
fi
[ "$("$node24" --version)" = "v$NODE24_VERSION" ] || { echo "node24: $node24 is not v$NODE24_VERSION" >&2; exit 1; }

sqlite_src="$PWD/node_modules/better-sqlite3"
sqlite_version=$(node -p 'require("./node_modules/better-sqlite3/package.json").version')
addon_dir="$cache/better-sqlite3-$sqlite_version-node-$NODE24_VERSION"
addon="$addon_dir/build/Release/better_sqlite3.node"

if [ ! -f "$addon" ]; then
  echo "node24: building better-sqlite3 $sqlite_version for Node $NODE24_VERSION" >&2
  # npm sets npm_config_node_gyp for its scripts; else the node-gyp npm bundles.
  node_gyp="${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}"
  work="$addon_dir.build.$$"
  rm -rf "$work"
  mkdir -p "$work"
  cp -a "$sqlite_src/binding.gyp" "$sqlite_src/deps" "$sqlite_src/lib" "$sqlite_src/src" "$sqlite_src/package.json" "$work/"
  # node-gyp lets npm_config_* variables override its command line, and under
  # `npm test` npm exports this machine's nodedir (Node 20's headers, /usr):
  # name Node 24's in the environment too.
  (cd "$work" && npm_config_nodedir="$node24_dir" npm_config_target= npm_config_runtime= "$node24" "$node_gyp" configure --release --nodedir="$node24_dir" >build.log 2>&1) || { cat "$work/build.log" >&2; exit 1; }
  sqlite_object=Release/obj.target/sqlite3/gen/sqlite3/sqlite3.o
  keep=()
  if [ -f "$sqlite_src/build/$sqlite_object" ] && [ -f "$sqlite_src/build/Release/obj.target/deps/sqlite3.a" ]; then
    cp -a "$sqlite_src/build/Release" "$work/build/"
    # The addon's own object is Node 20's (its mtime, kept by cp -a, is newer
    # than its source, so make would link it as it is): compile it again.
    rm -rf "$work"/build/Release/*.node "$work"/build/Release/obj.target/*.node "$work/build/Release/obj.target/better_sqlite3" "$work/build/Release/.deps/Release/obj.target/better_sqlite3"
    # make -o: take these as up to date (their compile command names Node 24's
    # include path now, which would otherwise rebuild SQLite from scratch).
    keep=(-o "$sqlite_object" -o Release/sqlite3.a)
  fi
  (make -C "$work/build" BUILDTYPE=Release -j 2 "${keep[@]}" better_sqlite3 >>"$work/build.log" 2>&1) || { tail -n 40 "$work/build.log" >&2; exit 1; }
  rm -rf "$addon_dir"
  mv "$work" "$addon_dir"
fi

export GRIDLINK_NODE24_SQLITE_ADDON="$addon"
export NODE_OPTIONS="--import=$PWD/scripts/node24-hooks.js${NODE_OPTIONS:+ $NODE_OPTIONS}"
# Tests that spawn `node` by name get Node 24 too.
export PATH="$node24_dir/bin:$PATH"
"$node24" -e 'const D = require("better-sqlite3"); new D(":memory:").close()' || { echo "node24: better-sqlite3 does not load on Node $NODE24_VERSION" >&2; exit 1; }
echo "node24: running ${*:-tests/server/ tests/cli/ tests/transport/ tests/ftp/} on $("$node24" --version)" >&2
# With the slash: "tests/cli" alone would also match tests/client/.
if [ $# -eq 0 ]; then set -- tests/server/ tests/cli/ tests/transport/ tests/ftp/; fi
exec "$node24" node_modules/vitest/vitest.mjs run "$@"
