#!/usr/bin/env bash
# CI's proof that the README's two commands work on a fresh Debian 12: builds a
# minimal root with mmdebstrap (minbase plus git and ca-certificates, nothing
# else from this machine), clones this checkout's commit into it and runs, as
# root inside it, `bash scripts/demo.sh`, `bash scripts/test.sh`, then builds
# the Debian package (`bash scripts/package.sh`), installs it, runs
# `bash scripts/demo.sh --installed` against it and removes it.
# The root is unmounted and removed afterwards, also when a step fails.
#
# Nothing is cached between runs: measured on the 2-core CI machine, mmdebstrap
# took as long with its .debs already in a cache as without (the time goes to
# unpacking and configuring, not downloading), and copying in the host's apt
# cache (1.4 GB) in and out of the root took longer still (413 s, against
# 136-283 s from nothing).
#
# The root's packages come from this machine's own apt sources, as apt reads
# them (Dir::Etc::sourcelist and the *.list and *.sources files in
# Dir::Etc::sourceparts, from apt-config): the mirror, proxy or snapshot the
# machine is set up with, as for a user who follows the README there; this
# script names no mirror of its own.
# Usage (as root): bash scripts/ci-fresh-root.sh
#        P11E_CI_STOP_AFTER=mmdebstrap bash scripts/ci-fresh-root.sh   (that step alone, a check)
#        bash scripts/ci-fresh-root.sh --print-sources   (the files it would use)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

# The machine's apt source files, one a line (empty ones left out: apt skips them too).
apt_sources() {
	local LIST PARTS f
	eval "$(apt-config shell LIST Dir::Etc::sourcelist/f PARTS Dir::Etc::sourceparts/d)"
	for f in "$LIST" "${PARTS%/}"/*.list "${PARTS%/}"/*.sources; do
		[ -f "$f" ] && [ -s "$f" ] && printf '%s\n' "$f"
	done
	return 0
}
if [ "${1:-}" = "--print-sources" ]; then
	apt_sources
	exit 0
fi
mapfile -t sources < <(apt_sources)
[ ${#sources[@]} -gt 0 ] || {
	echo "ci-fresh-root: this machine has no apt sources (apt-config: Dir::Etc::sourcelist, sourceparts)" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || { echo "ci-fresh-root: run as root (chroot, mount)" >&2; exit 1; }

now() { date +%s; }
t0=$(now)
stamp() { printf '\n== %s (%ds)\n' "$*" $(($(now) - t0)); }

if ! command -v mmdebstrap >/dev/null; then
	stamp "installing mmdebstrap"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		mmdebstrap >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/p11e-ci.XXXXXX")
fs=$work/root

# Everything mounted under $fs, deepest first.
mounts_under() { awk -v r="$fs" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r; }
cleanup() {
	local rc=$? pid
	set +e
	# Servers a failed test left running inside the root keep its mounts busy:
	# end exactly those processes (their root directory is ours).
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$fs" ] && kill -KILL "$pid" 2>/dev/null
	done
	sleep 1
	for m in $(mounts_under); do umount "$m" 2>/dev/null || umount -l "$m"; done
	if [ -n "$(mounts_under)" ]; then
		# Never rm -rf a tree that still has /dev or /sys inside it.
		echo "ci-fresh-root: still mounted under $fs, left in place:" $(mounts_under) >&2
	else
		rm -rf --one-file-system "$work"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stamp "mmdebstrap: minbase + git, ca-certificates (bookworm, from ${sources[*]})"
# Each file a MIRROR argument: mmdebstrap copies it into the root's
# /etc/apt/sources.list.d/ (a .sources file as deb822), so apt inside the
# root, which scripts/deps.sh runs, uses the same sources.
mmdebstrap --variant=minbase --include=git,ca-certificates bookworm "$fs" "${sources[@]}"
if [ "${P11E_CI_STOP_AFTER:-}" = mmdebstrap ]; then
	# A check of the step alone: the sources the root got, and its git.
	head -n 50 "$fs"/etc/apt/sources.list "$fs"/etc/apt/sources.list.d/* 2>/dev/null || true
	chroot "$fs" git --version
	stamp "stopped after mmdebstrap (P11E_CI_STOP_AFTER)"
	exit 0
fi

stamp "cloning $(git -C "$src" rev-parse --short HEAD) into the root"
git clone -q --no-checkout "$src" "$fs/root/p11enroll"
git -C "$fs/root/p11enroll" checkout -q --detach "$(git -C "$src" rev-parse HEAD)"

# What the tests need from a running system: /proc, /sys, /dev, /dev/pts (and
# /dev/shm, inside /dev). rslave: nothing unmounted here reaches the host.
# The root a mount point of its own: `unshare -m` (tests/integration/nss_softokn.sh)
# sets the propagation of / and fails with EINVAL on a plain directory.
mount --bind "$fs" "$fs" && mount --make-private "$fs"
mount -t proc proc "$fs/proc"
mount --rbind /sys "$fs/sys" && mount --make-rslave "$fs/sys"
mount --rbind /dev "$fs/dev" && mount --make-rslave "$fs/dev"
mountpoint -q "$fs/dev/pts" || mount --bind /dev/pts "$fs/dev/pts"
cp -L /etc/resolv.conf "$fs/etc/resolv.conf"
# The machine's own TLS trust for its network, as resolv.conf is its DNS: a CA
# this machine added locally (a proxy's, in /usr/local/share/ca-certificates)
# is added in the root too, or npm (tests/integration/portal_chromium.sh) cannot
# reach the registry through it ("self-signed certificate in certificate chain",
# measured); node reads the system's bundle through NODE_EXTRA_CA_CERTS below.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$fs/usr/local/share/ca-certificates"
	cp -L /usr/local/share/ca-certificates/*.crt "$fs/usr/local/share/ca-certificates/"
	chroot "$fs" /usr/sbin/update-ca-certificates >/dev/null
fi

in_root() {
	chroot "$fs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 CI=true DEBIAN_FRONTEND=noninteractive \
		NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
		bash -c "cd /root/p11enroll && $1" </dev/null
}
stamp "README: bash scripts/demo.sh"
in_root "bash scripts/demo.sh"
stamp "README: bash scripts/test.sh"
in_root "bash scripts/test.sh"
# The package route (README "Install"): build the .deb (lintian errors fail
# it), install it with apt, run the demo against /usr/bin/p11enroll, remove it.
stamp "README: bash scripts/package.sh"
in_root "bash scripts/package.sh"
stamp "apt-get install ./build-pkg/p11enroll_*.deb"
in_root "apt-get install -y -qq ./build-pkg/p11enroll_*.deb >/dev/null &&
	test -x /usr/bin/p11enroll && test -s /usr/share/man/man1/p11enroll.1.gz &&
	test -s /usr/share/bash-completion/completions/p11enroll &&
	p11enroll --config /usr/share/doc/p11enroll/examples/config.json config check"
stamp "README: bash scripts/demo.sh --installed"
in_root "bash scripts/demo.sh --installed"
stamp "apt-get remove p11enroll"
in_root "apt-get remove -y -qq p11enroll >/dev/null && ! test -e /usr/bin/p11enroll"
stamp "fresh root: the README's commands passed, and the package installs and runs"
