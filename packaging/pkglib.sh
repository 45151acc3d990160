# SPDX-License-Identifier: Apache-2.0
# Shared by build-deb and build-rpm: the project version, the split plugin
# packages and whether their plugin is in this tree, and a clean copy of
# the source tree (no build directories).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# need TOOL PACKAGE: exit 2 with the Debian package to install.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "$(basename "$0"): $1 not found: apt-get install -y $2" >&2
	exit 2
}

# The version in project(bearmon VERSION x.y.z) of CMakeLists.txt.
project_version() {
	sed -nE 's/^project\(bearmon VERSION ([0-9.]+).*/\1/p' "$ROOT/CMakeLists.txt"
}

# The split plugin packages, one per packaging/debian/bearmon-plugin-*.install
# (the RPM spec has a bcond of the same name for each): the package name,
# its plugin NAME (bm_KIND_NAME.so) and its conf.d snippet, tab-separated.
split_packages() {
	local install pkg plugin conf
	for install in "$ROOT"/packaging/debian/bearmon-plugin-*.install; do
		pkg=$(basename "$install" .install)
		plugin=$(sed -nE 's|.*/bm_[a-z]+_([a-z0-9_]+)\.so$|\1|p' "$install")
		conf=$(sed -nE 's|^etc/bearmon/(conf\.d/.*\.conf)$|\1|p' "$install")
		printf '%s\t%s\t%s\n' "$pkg" "$plugin" "$conf"
	done
}

# plugin_in_tree NAME: plugins/KIND_NAME/ is built here (it has the
# CMakeLists.txt that the glob in plugins/CMakeLists.txt looks for).
plugin_in_tree() {
	compgen -G "$ROOT/plugins/*_$1/CMakeLists.txt" >/dev/null
}

# without_conf FILE CONF: a split plugin whose default instance
# (conf/CONF) is not in this tree yet is packaged without it: drop CONF's
# lines from FILE (an .install file or the spec, in the build copy).
without_conf() {
	[ -z "$2" ] || [ -f "$ROOT/conf/$2" ] && return 0
	echo "$(basename "$0"): conf/$2 not in this tree: packaged without it"
	sed -i "\|$2|d" "$1"
}

# copy_tree DEST: the source tree as a release tarball would hold it.
copy_tree() {
	mkdir -p "$1"
	(cd "$ROOT" && tar --exclude='./build*' --exclude=./Testing --exclude=./data \
		--exclude=./.git --exclude=./.ci -cf - .) | tar -C "$1" -xf -
}
