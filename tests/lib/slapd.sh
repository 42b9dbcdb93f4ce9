# Starts a private OpenLDAP slapd (Debian's `slapd`) on 127.0.0.1 for a test,
# with TLS from a throwaway test CA; sourced after tests/lib/common.sh.
#
#   slapd_start DIR      makes DIR/tls-ca.pem, a server certificate for
#                        127.0.0.1, DIR/slapd.conf (mdb under DIR/db; schemas
#                        core, cosine, inetorgperson; suffix dc=example,dc=com,
#                        rootdn cn=admin,dc=example,dc=com with password "admin";
#                        ou=people; cn=publisher,dc=example,dc=com, password
#                        "publisher-secret", may write everything), and runs
#                        slapd in the background on two free ports: ldap://
#                        (StartTLS) and ldaps://. Waits up to a minute. Sets
#                        SLAPD_PID, SLAPD_LDAP, SLAPD_LDAPS (URLs), SLAPD_DIR,
#                        SLAPD_LOG, SLAPD_BASE.
#   slapd_restart        the same server again on the same ports (its data kept):
#                        after slapd_stop, for "the directory came back".
#   slapd_stop           stops it (its data stays in DIR/db).
#   slapd_add LDIF       ldapadd as the rootdn, over StartTLS.
#   slapd_search ARGS... ldapsearch as the rootdn over ldaps, -LLL, base SLAPD_BASE.
# Returns non-zero (after five tries on other ports) if slapd does not come up.
# SLAPD_SCHEMA, if set before slapd_start, is one more schema file included
# (a test's own attribute types: identity_ldap.sh's Active Directory ones).

SLAPD_BASE=dc=example,dc=com

slapd_tls() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=slapd tls test CA" -keyout "$d/tls-ca.key" -out "$d/tls-ca.pem" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/tls.csr" -CA "$d/tls-ca.pem" -CAkey "$d/tls-ca.key" \
			-CAcreateserial -days 1 -out "$d/tls.pem" 2>/dev/null \
			-extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
}

slapd_conf() {
	local d=$1
	cat >"$d/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
${SLAPD_SCHEMA:+include $SLAPD_SCHEMA}
pidfile $d/slapd.pid
argsfile $d/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile $d/tls-ca.pem
TLSCertificateFile $d/tls.pem
TLSCertificateKeyFile $d/tls.key
database mdb
maxsize 10485760
suffix "$SLAPD_BASE"
rootdn "cn=admin,$SLAPD_BASE"
rootpw admin
directory $d/db
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=publisher,$SLAPD_BASE" write by * read
CONF
}

# Runs slapd on SLAPD_PORT and SLAPD_TLS_PORT; waits for an anonymous search.
slapd_run() {
	local d=$SLAPD_DIR
	SLAPD_LDAP=ldap://127.0.0.1:$SLAPD_PORT/
	SLAPD_LDAPS=ldaps://127.0.0.1:$SLAPD_TLS_PORT/
	slapd -f "$d/slapd.conf" -h "$SLAPD_LDAP $SLAPD_LDAPS" -d 0 >>"$SLAPD_LOG" 2>&1 &
	SLAPD_PID=$!
	for _ in $(seq 600); do
		if LDAPTLS_CACERT=$d/tls-ca.pem ldapsearch -x -H "$SLAPD_LDAPS" -b "" -s base \
			-o nettimeout=5 >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$SLAPD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

slapd_start() {
	SLAPD_DIR=$1
	SLAPD_LOG=$SLAPD_DIR/slapd.log
	mkdir -p "$SLAPD_DIR/db"
	slapd_tls "$SLAPD_DIR" && slapd_conf "$SLAPD_DIR" || return 1
	# ldap-utils read bind passwords from a file (-y): none on a command line.
	(umask 077 && printf admin >"$SLAPD_DIR/admin.pw")
	for _ in 1 2 3 4 5; do
		SLAPD_PORT=$(free_port)
		SLAPD_TLS_PORT=$(free_port)
		if slapd_run; then
			slapd_add <<LDIF >/dev/null || return 1
dn: $SLAPD_BASE
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,$SLAPD_BASE
objectClass: organizationalUnit
ou: people

dn: cn=publisher,$SLAPD_BASE
objectClass: person
cn: publisher
sn: publisher
userPassword: publisher-secret
LDIF
			return 0
		fi
		slapd_stop
	done
	echo "slapd did not start: $(tail -3 "$SLAPD_LOG")" >&2
	return 1
}

slapd_restart() {
	slapd_run || { echo "slapd did not restart: $(tail -3 "$SLAPD_LOG")" >&2; return 1; }
}

slapd_stop() {
	[ -n "${SLAPD_PID:-}" ] || return 0
	kill "$SLAPD_PID" 2>/dev/null
	wait "$SLAPD_PID" 2>/dev/null
	SLAPD_PID=""
}

slapd_add() {
	LDAPTLS_CACERT=$SLAPD_DIR/tls-ca.pem ldapadd -x -ZZ -H "$SLAPD_LDAP" \
		-D "cn=admin,$SLAPD_BASE" -y "$SLAPD_DIR/admin.pw" -o nettimeout=30
}

slapd_search() {
	LDAPTLS_CACERT=$SLAPD_DIR/tls-ca.pem ldapsearch -x -LLL -H "$SLAPD_LDAPS" \
		-D "cn=admin,$SLAPD_BASE" -y "$SLAPD_DIR/admin.pw" -o nettimeout=30 -o ldif-wrap=no -b "$SLAPD_BASE" "$@"
}
