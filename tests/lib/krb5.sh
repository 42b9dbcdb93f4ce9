# Starts a private MIT Kerberos realm (Debian's krb5-kdc, krb5-pkinit,
# krb5-admin-server for kadmin.local) for a test: everything under a temp dir,
# the KDC on a free port of 127.0.0.1; sourced after tests/lib/common.sh.
#
#   krb5_start DIR REALM KDC_CERT KDC_KEY ANCHORS [CRL]
#                        makes DIR/kdc.conf and DIR/krb5.conf (exported as
#                        KRB5_KDC_PROFILE and KRB5_CONFIG, with KRB5CCNAME
#                        DIR/ccache), the database (kdb5_util create -s),
#                        and runs `krb5kdc -n` on 127.0.0.1 (UDP and TCP) with
#                        PKINIT: pkinit_identity FILE:KDC_CERT,KDC_KEY,
#                        pkinit_anchors FILE:ANCHORS (PEM, may hold several),
#                        pkinit_revoke FILE:CRL when given (PEM; the file may
#                        be rewritten later and the KDC restarted). Waits up
#                        to a minute. Sets KRB5_PID, KRB5_PORT, KRB5_DIR,
#                        KRB5_LOG (the KDC's log file), KRB5_REALM.
#   krb5_restart         the same KDC again on the same port (after krb5_stop):
#                        it reads the CRL file anew.
#   krb5_stop            stops the KDC.
#   krb5_addprinc NAME   a principal with a random key no one knows and
#                        +requires_preauth: it gets a ticket only by PKINIT.
# Returns non-zero (after five tries on other ports) if the KDC does not come up.

krb5_conf() {
	local d=$1 realm=$2 cert=$3 key=$4 anchors=$5 crl=${6:-}
	cat >"$d/kdc.conf" <<CONF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$KRB5_PORT
	kdc_tcp_listen = 127.0.0.1:$KRB5_PORT
[realms]
	$realm = {
		database_name = $d/principal
		key_stash_file = $d/stash
		acl_file = $d/kadm5.acl
		pkinit_identity = FILE:$cert,$key
		pkinit_anchors = FILE:$anchors
		${crl:+pkinit_revoke = FILE:$crl}
		${crl:+pkinit_require_crl_checking = true}
	}
[logging]
	kdc = FILE:$d/kdc.log
CONF
	cat >"$d/krb5.conf" <<CONF
[libdefaults]
	default_realm = $realm
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1
[realms]
	$realm = {
		kdc = 127.0.0.1:$KRB5_PORT
		pkinit_anchors = FILE:$anchors
	}
CONF
	: >"$d/kadm5.acl"
}

krb5_start() {
	KRB5_DIR=$1 KRB5_REALM=$2
	local try
	export KRB5_KDC_PROFILE=$KRB5_DIR/kdc.conf KRB5_CONFIG=$KRB5_DIR/krb5.conf
	export KRB5CCNAME=FILE:$KRB5_DIR/ccache
	KRB5_LOG=$KRB5_DIR/kdc.log
	for try in 1 2 3 4 5; do
		KRB5_PORT=$(free_port)
		krb5_conf "$@"
		if [ ! -e "$KRB5_DIR/principal" ]; then
			# Fixture only: the throwaway database's master password on the
			# command line (kdb5_util reads it nowhere else without a terminal).
			kdb5_util create -s -r "$KRB5_REALM" -P test-master-password >/dev/null 2>&1 ||
				return 1
		fi
		krb5_run && return 0
	done
	return 1
}

# Runs krb5kdc; waits for its log to say it serves (a line after those of an
# earlier run).
krb5_run() {
	local i before
	before=$({ wc -l <"$KRB5_LOG"; } 2>/dev/null || echo 0)
	krb5kdc -n -r "$KRB5_REALM" >>"$KRB5_DIR/krb5kdc.out" 2>&1 &
	KRB5_PID=$!
	for i in $(seq 1 120); do
		kill -0 "$KRB5_PID" 2>/dev/null || break
		tail -n "+$((before + 1))" "$KRB5_LOG" 2>/dev/null | grep -q "commencing operation" &&
			return 0
		sleep 0.5
	done
	krb5_stop
	return 1
}

krb5_restart() { krb5_run; }

krb5_stop() {
	if [ -n "${KRB5_PID:-}" ]; then
		kill "$KRB5_PID" 2>/dev/null
		wait "$KRB5_PID" 2>/dev/null
		KRB5_PID=
	fi
	: >>"$KRB5_LOG"
}

krb5_addprinc() {
	kadmin.local -r "$KRB5_REALM" -q "addprinc -randkey +requires_preauth $1" >/dev/null 2>&1
}
