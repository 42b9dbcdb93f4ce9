# Starts a private Samba Active Directory domain controller (Debian's samba
# 4.17) for a test; sourced after tests/lib/common.sh, by a test that already
# runs in a network namespace of its own (samba_netns below), because a DC
# listens on fixed ports (389 and 636 for LDAP, 3268/3269 for the global
# catalog) that no test may take on the machine's loopback.
#
#   samba_netns "$0" "$@"  re-runs the calling test in a new network (and PID)
#                        namespace with its loopback up; returns only inside it. Root
#                        only: in a user namespace (the user mapped to root)
#                        the provisioning panics setting the sysvol's ACLs
#                        ("Security context active token stack underflow" in
#                        try_chown, measured), so another user gets a failure,
#                        never a skip. CI runs as root.
#   samba_start DIR      provisions a domain P11E.TEST offline under DIR/dc
#                        (samba-tool domain provision --targetdir, SAMBA_INTERNAL
#                        DNS, 127.0.0.1 on lo; about 44 MB, 10-30 s), with a TLS
#                        certificate for 127.0.0.1 from a throwaway test CA
#                        (DIR/tls/ca.pem), and runs `samba -i -M single` with the
#                        LDAP server alone. Waits up to two minutes for ldaps.
#                        Sets SAMBA_PID, SAMBA_LDAPS, SAMBA_CA, SAMBA_DIR,
#                        SAMBA_LOG, SAMBA_BASE (DC=p11e,DC=test), SAMBA_ADMIN_DN.
#                        With SAMBA_PKINIT_IDENTITY (CERT,KEY files) and
#                        SAMBA_PKINIT_ANCHORS (a CA file) set, the DC runs its
#                        KDC too (port 88) with PKINIT: Samba 4.17's Heimdal
#                        KDC reads a [kdc] section (enable-pkinit,
#                        pkinit_identity, pkinit_anchors) from the krb5.conf
#                        beside smb.conf, written here as SAMBA_KRB5_CONF,
#                        which is also a client's krb5.conf for P11E.TEST
#                        (measured: MIT kinit gets a TGT by PKINIT with it).
#   samba_restart        the same DC again (its data kept): after samba_stop,
#                        for "the directory came back".
#   samba_stop           stops it (its data stays under DIR/dc).
#   samba_tool ARGS...   samba-tool on the DC's files (-s its smb.conf).
#   samba_modify         ldapmodify (LDIF on stdin) as Administrator over ldaps.
#   samba_search ARGS... ldapsearch as Administrator over ldaps, -LLL, base
#                        SAMBA_BASE.
#
# Why the certificate is ours: the one Samba generates names the host only in
# its CN (VM.p11e.test, after the machine's host name) with no subjectAltName,
# and libldap verifies the host name, so ldaps://127.0.0.1/ would fail with it
# (measured); `tls certfile`/`tls keyfile`/`tls cafile` give Samba one for
# 127.0.0.1. Samba refuses simple binds without TLS ("BindSimple: Transport
# encryption required"), so ldaps it is. Every file Samba writes (its pid
# file, ncalrpc sockets, logs, caches) is under DIR: the machine's /run/samba,
# /var/lib/samba and /var/log/samba are not touched.

SAMBA_BASE=DC=p11e,DC=test
SAMBA_ADMIN_DN=CN=Administrator,CN=Users,$SAMBA_BASE
# A test fixture (AD's complexity rules want three character classes).
SAMBA_ADMIN_PASSWORD='Adm1n-Test-Pw!'

samba_netns() {
	[ -n "${SAMBA_NETNS:-}" ] && { ip link set lo up; return 0; }
	local script=$1
	shift
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAIL: ${script##*/} must run as root: a Samba DC needs a network namespace and real root to provision" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	# A PID namespace too: whatever ends the test (a ctest timeout
	# included), the DC dies with it, as the namespace's init.
	exec unshare --net --pid --fork --kill-child --mount-proc \
		env SAMBA_NETNS=1 bash "$script" "$@"
}

samba_tls() {
	local d=$1
	mkdir -p "$d" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj "/CN=samba tls test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$d/key.pem" -out "$d/req.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/req.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 1 -out "$d/cert.pem" 2>/dev/null \
			-extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') &&
		chmod 600 "$d/key.pem" # Samba refuses a key file others can read
}

samba_provision() {
	local d=$SAMBA_DIR/dc
	mkdir -p "$d/run" &&
		samba-tool domain provision --server-role=dc --dns-backend=SAMBA_INTERNAL \
			--host-ip=127.0.0.1 --realm=P11E.TEST --domain=P11E \
			--adminpass="$SAMBA_ADMIN_PASSWORD" --targetdir="$d" \
			--option="interfaces=lo" --option="bind interfaces only=yes" \
			--option="server services=${SAMBA_SERVICES:-ldap}" \
			--option="pid directory=$d/run" --option="ncalrpc dir=$d/run/ncalrpc" \
			--option="log file=$d/log.%m" \
			--option="tls enabled=yes" --option="tls certfile=$SAMBA_DIR/tls/cert.pem" \
			--option="tls keyfile=$SAMBA_DIR/tls/key.pem" \
			--option="tls cafile=$SAMBA_DIR/tls/ca.pem" >"$SAMBA_DIR/provision.log" 2>&1
}

# Runs samba; waits for an anonymous rootDSE read over ldaps.
samba_run() {
	samba -s "$SAMBA_DIR/dc/etc/smb.conf" -i -M single --debug-stdout >>"$SAMBA_LOG" 2>&1 &
	SAMBA_PID=$!
	for _ in $(seq 1200); do
		if LDAPTLS_CACERT=$SAMBA_CA ldapsearch -x -H "$SAMBA_LDAPS" -b "" -s base \
			-o nettimeout=5 >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$SAMBA_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# The krb5.conf of the KDC and its clients (see samba_start).
samba_krb5_conf() {
	cat >"$SAMBA_KRB5_CONF" <<KRB5
[libdefaults]
	default_realm = P11E.TEST
	dns_lookup_kdc = false
	dns_lookup_realm = false
[realms]
	P11E.TEST = {
		kdc = 127.0.0.1
	}
[kdc]
	enable-pkinit = true
	pkinit_identity = FILE:$SAMBA_PKINIT_IDENTITY
	pkinit_anchors = FILE:$SAMBA_PKINIT_ANCHORS
KRB5
}

samba_start() {
	SAMBA_DIR=$1
	SAMBA_KRB5_CONF=$SAMBA_DIR/dc/etc/krb5.conf
	if [ -n "${SAMBA_PKINIT_IDENTITY:-}" ]; then SAMBA_SERVICES="ldap, kdc"; fi
	SAMBA_LOG=$SAMBA_DIR/samba.log
	SAMBA_CA=$SAMBA_DIR/tls/ca.pem
	SAMBA_LDAPS=ldaps://127.0.0.1/
	mkdir -p "$SAMBA_DIR"
	(umask 077 && printf '%s' "$SAMBA_ADMIN_PASSWORD" >"$SAMBA_DIR/admin.pw")
	if ! samba_tls "$SAMBA_DIR/tls"; then
		echo "samba: cannot make the test TLS certificate" >&2
		return 1
	fi
	if ! samba_provision; then
		echo "samba: provision failed: $(tail -3 "$SAMBA_DIR/provision.log")" >&2
		return 1
	fi
	if [ -n "${SAMBA_PKINIT_IDENTITY:-}" ]; then samba_krb5_conf; fi
	samba_run && return 0
	echo "samba did not start: $(tail -3 "$SAMBA_LOG")" >&2
	samba_stop
	return 1
}

samba_restart() {
	samba_run || { echo "samba did not restart: $(tail -3 "$SAMBA_LOG")" >&2; return 1; }
}

samba_stop() {
	[ -n "${SAMBA_PID:-}" ] || return 0
	kill "$SAMBA_PID" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$SAMBA_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$SAMBA_PID" 2>/dev/null
	wait "$SAMBA_PID" 2>/dev/null
	SAMBA_PID=""
}

samba_tool() { samba-tool "$@" -s "$SAMBA_DIR/dc/etc/smb.conf"; }

samba_modify() {
	LDAPTLS_CACERT=$SAMBA_CA ldapmodify -x -H "$SAMBA_LDAPS" -D "$SAMBA_ADMIN_DN" \
		-y "$SAMBA_DIR/admin.pw" -o nettimeout=30
}

samba_search() {
	LDAPTLS_CACERT=$SAMBA_CA ldapsearch -x -LLL -H "$SAMBA_LDAPS" -D "$SAMBA_ADMIN_DN" \
		-y "$SAMBA_DIR/admin.pw" -o nettimeout=30 -o ldif-wrap=no -b "$SAMBA_BASE" "$@"
}
