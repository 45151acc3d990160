#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Node clients of the dashboard tests (package.json here: ws,
# playwright-core) into DIR/node_modules, once: DIR is a build directory,
# never the source tree. Concurrent callers wait for each other (flock).
# Usage: setup.sh DIR   (prints DIR/node_modules on success)
set -euo pipefail
dir=${1:?usage: setup.sh BUILD_DIR}
src=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "setup.sh: node is not installed (apt-get install nodejs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$dir/node"
exec 9>"$dir/node/.lock"
flock 9
if ! cmp -s "$src/package.json" "$dir/node/package.json" || [ ! -d "$dir/node/node_modules/ws" ] ||
	[ ! -d "$dir/node/node_modules/playwright-core" ]; then
	cp "$src/package.json" "$dir/node/package.json"
	(cd "$dir/node" && npm install --no-audit --no-fund --loglevel=error >npm.log 2>&1) || {
		tail -n 20 "$dir/node/npm.log" >&2
		echo "setup.sh: npm install failed (is the npm registry reachable?)" >&2
		exit 1
	}
fi
echo "$dir/node/node_modules"
