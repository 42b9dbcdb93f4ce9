#!/usr/bin/env bash
# Installs what p11enroll needs on Debian 12 (only what is missing).
# Usage: scripts/deps.sh [--test|--package|--demo-tools]   (--test adds what the
# test suite uses, --package what scripts/package.sh uses; --demo-tools is only
# what scripts/demo.sh --installed runs besides p11enroll)
set -euo pipefail
# jq: scripts/demo.sh reads `p11enroll status --json` with it.
pkgs=(build-essential cmake pkg-config libssl-dev libp11-dev libp11-kit-dev p11-kit
      libjson-c-dev libcurl4-openssl-dev libldap-dev softhsm2 libengine-pkcs11-openssl openssl opensc jq)
# libevent-dev: the portal (`serve`: evhttp over bufferevent_openssl); the package's
# dependency on its runtime (libevent-openssl-2.1-7) comes from dpkg-shlibdeps.
pkgs+=(libevent-dev)
# libpq-dev: the PostgreSQL store (src/store/store_pg.c; libpq5 at run time, opened
# on first use).
pkgs+=(libpq-dev)
if [ "${1:-}" = "--test" ]; then
	pkgs+=(gnutls-bin libnss3-tools curl golang-cfssl pebble scep iproute2 python3 python3-cryptography)
	# tests/integration/ca_est.sh: strongSwan's `pki --est`, an independent EST client (its
	# curl and openssl plugins are in the plugin packages).
	pkgs+=(strongswan-pki libstrongswan-extra-plugins libstrongswan-standard-plugins)
	# scripts/fuzz.sh: clang's libFuzzer runtime is in libclang-rt-14-dev, only a
	# Recommends of clang on Debian 12.
	pkgs+=(clang libclang-rt-14-dev)
	# tests/integration/tpm2.sh: tpm2-pkcs11 on swtpm through tpm2-abrmd on a private
	# D-Bus (libtss2-tcti-tabrmd0 is how clients reach abrmd: not a Depends of it).
	pkgs+=(swtpm tpm2-abrmd libtss2-tcti-tabrmd0 libtpm2-pkcs11-1 libtpm2-pkcs11-tools
	       tpm2-tools dbus-daemon)
	# tests/integration/completion.sh drives the completion through bash-completion.
	pkgs+=(bash-completion)
	# tests/integration/man_page.sh lints the man page with mandoc and groff and reads
	# it as `man -l | col -b` shows it: man-db, groff-base and bsdextrautils (col) are
	# not in a minimal Debian (a fresh root lacked groff: measured by CI's script).
	pkgs+=(mandoc man-db groff-base bsdextrautils)
	# tests/integration/power_loss.sh counts an enrollment's fsyncs (and bench/fsync.sh).
	pkgs+=(strace)
	# tests/integration/publish_ldap.sh: a private OpenLDAP slapd, read back with ldapsearch.
	pkgs+=(slapd ldap-utils)
	# tests/integration/publish_ad.sh: a Samba AD DC (samba-tool and samba are in
	# samba; a DC's ldb modules in samba-dsdb-modules, provisioning's templates in
	# samba-ad-provision, and the acl_xattr VFS module that provisioning sets the
	# sysvol's ACLs with in samba-vfs-modules: all only Recommends of samba on
	# Debian 12; without the last, provisioning fails in setsysvolacl, measured).
	pkgs+=(samba samba-dsdb-modules samba-ad-provision samba-vfs-modules)
	# tests/integration/logon_mit.sh: a private MIT Kerberos realm with PKINIT (kinit,
	# klist in krb5-user; kadmin.local in krb5-admin-server).
	pkgs+=(krb5-kdc krb5-pkinit krb5-user krb5-admin-server)
	# tests/integration/logon_sssd.sh: sssd's p11_child (sssd-common) and sssctl
	# cert-eval-rule (sssd-tools); logon_pam_pkcs11.sh: pkcs11_inspect, pklogin_finder.
	pkgs+=(sssd-common sssd-tools libpam-pkcs11)
	# tests/integration/identity_ad.sh: Samba's own answers (ldbsearch on sam.ldb).
	pkgs+=(ldb-tools)
	# tests/integration/opencryptoki.sh: its soft token and pkcsslotd (util-linux's
	# unshare, already in every Debian, gives the test its private namespaces).
	pkgs+=(opencryptoki)
	# tests/integration/portal_chromium.sh: the portal's pages in headless Chromium.
	pkgs+=(chromium)
	# ... driven by puppeteer-core and checked by axe-core, both installed by the test
	# with `npm ci` from tests/browser/package-lock.json (Debian 12: node 18, npm 9).
	# A nodejs from elsewhere that brings its own npm conflicts with Debian's npm.
	pkgs+=(nodejs)
	command -v npm >/dev/null || pkgs+=(npm)
	# tests/integration/store_pg.sh: a private PostgreSQL 15 server (the fleet's store).
	pkgs+=(postgresql-15)
fi
if [ "${1:-}" = "--package" ]; then
	# scripts/package.sh: cpack's dpkg-shlibdeps (dpkg-dev) computes the .deb's
	# dependencies, lintian checks the package.
	pkgs+=(dpkg-dev file lintian)
fi
if [ "${1:-}" = "--demo-tools" ]; then
	# scripts/demo.sh --installed: p11enroll from its package, only the demo's tools.
	pkgs=(softhsm2 p11-kit p11-kit-modules opensc openssl jq)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
