#!/usr/bin/env bash
# The self-service portal (docs/portal.md) on the demo's data: run it after
# `bash scripts/demo.sh`. It prepares, once, under demo/portal/: a TLS server
# certificate for localhost and 127.0.0.1 from the demo CA, an escrow officer
# and a file vault, and a config with a self-service software S/MIME profile;
# then invites bob@example.com, prints his code and the URL, and runs
# `p11enroll serve` in the foreground (Ctrl-C stops it).
#
# --installed: the p11enroll on the PATH, as `demo.sh --installed`.
# Environment: P11E_DEMO_DIR (the demo's directory, default ./demo at the
# top of the checkout), P11E_BIN (the p11enroll to run; default build/p11enroll,
# which demo.sh builds), PORTAL_LISTEN (ADDR:PORT, default 127.0.0.1:8443).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
demo=${P11E_DEMO_DIR:-$top/demo}
if [ ! -f "$demo/softhsm2.conf" ] || [ ! -f "$demo/ca/ca.pem" ] || [ ! -d "$demo/state" ]; then
	echo "demo-portal: no demo in $demo: run 'bash scripts/demo.sh' first" >&2
	exit 1
fi
demo=$(cd "$demo" && pwd)
if [ -n "${P11E_BIN:-}" ]; then
	p11enroll=$P11E_BIN
elif [ "${1:-}" = "--installed" ]; then
	p11enroll=$(command -v p11enroll) || { echo "demo-portal: no p11enroll installed" >&2; exit 1; }
else
	p11enroll=$top/build/p11enroll
fi
[ -x "$p11enroll" ] || { echo "demo-portal: $p11enroll is not there: run 'bash scripts/demo.sh' first" >&2; exit 1; }
listen=${PORTAL_LISTEN:-127.0.0.1:8443}

# The demo's token and records, as demo.sh set them.
export SOFTHSM2_CONF=$demo/softhsm2.conf P11ENROLL_STATE_DIR=$demo/state
export P11ENROLL_CONFIG=$demo/portal/config.json
p=$demo/portal
umask 077
mkdir -p "$p"

# The server's TLS certificate, from the demo CA so that trusting demo/ca/ca.pem
# is enough. openssl signs it with the CA's key file: p11enroll's tls-server
# profile takes only dotted host names (not "localhost") and no IP address.
# Made again only when missing, near its end, or not the current CA's.
if ! { [ -s "$p/tls.key" ] && openssl x509 -in "$p/tls.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
	openssl verify -CAfile "$demo/ca/ca.pem" "$p/tls.pem" >/dev/null 2>&1; }; then
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/tls.key" \
		-subj /CN=localhost -out "$p/tls.csr" 2>/dev/null
	printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' \
		'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature' \
		'basicConstraints=critical,CA:FALSE' >"$p/tls.ext"
	openssl x509 -req -in "$p/tls.csr" -CA "$demo/ca/ca.pem" -CAkey "$demo/ca/ca.key" \
		-set_serial "0x1$(openssl rand -hex 15)" -days 365 -sha256 -extfile "$p/tls.ext" \
		-out "$p/tls.crt" 2>/dev/null
	cat "$p/tls.crt" "$demo/ca/ca.pem" >"$p/tls.pem" # the certificate, then its chain
	rm -f "$p/tls.csr" "$p/tls.ext" "$p/tls.crt"
fi

# The escrow officer: the file vault encrypts each PFX password to officers.pem,
# and the portal reads it back (for "Show me my password") with officer.key. A
# demo has no officer's token, so the key is a PEM file, and serve warns about
# it at start; a real portal names a key on a token (docs/config.md#portal).
# Made once: a new key would lose every password escrowed to the old one.
if [ ! -s "$p/officer.key" ] || [ ! -s "$p/officers.pem" ]; then
	openssl req -x509 -newkey rsa:3072 -nodes -keyout "$p/officer.key" -out "$p/officers.pem" \
		-subj "/CN=Demo Escrow Officer" -days 825 -addext keyUsage=critical,keyEncipherment \
		2>/dev/null
fi

# Paths are relative to this file's directory (demo/portal/).
cat >"$p/config.json" <<'JSON'
{
  "default_ca": "local:../ca",
  "vault": { "type": "file", "dir": "escrow", "officer_certs_file": "officers.pem" },
  "profiles": {
    "demo-soft": { "base": "smime", "key_store": "software" }
  },
  "portal": {
    "listen": "127.0.0.1:8443",
    "tls_cert": "tls.pem",
    "tls_key": "tls.key",
    "client_cas": "../ca/ca.pem",
    "self_service_profiles": ["demo-soft"],
    "officer_key": "officer.key"
  }
}
JSON
"$p11enroll" config check >/dev/null

code=$("$p11enroll" invite bob@example.com)
case $listen in
*:0) url="https://ADDR/ (ADDR: on serve's 'listening on' line below)" ;;
127.0.0.1:* | localhost:*) url="https://localhost:${listen##*:}/" ;;
*) url="https://$listen/" ;;
esac
# demo.sh enrolls alice with the smime profile (emailProtection only): her card
# signs her in only if its certificate (demo/alice.pem, read back from the
# token by demo.sh) has clientAuth, which client_cas alone does not give.
if [ -s "$demo/alice.pem" ] && openssl x509 -in "$demo/alice.pem" -noout -ext extendedKeyUsage \
	2>/dev/null | grep -q 'TLS Web Client Authentication'; then
	alice="Alice's card certificate signs her in too (her token in the browser, through p11-kit)."
else
	alice="Alice's card certificate is S/MIME only (no clientAuth), so it does not sign her in:
  \`p11enroll invite alice@example.com\` gives her a code to fetch it."
fi
cat <<EOF

The portal on the demo's data (config $p/config.json)

  Open        $url
  Sign in as  bob@example.com
  Code        $code
              (one use, valid 72 hours)

  Bob can then request a software S/MIME identity, download its PFX and reveal its password.

  The server's certificate is from the demo CA: import $demo/ca/ca.pem
  into the browser as an authority (Firefox: Settings, Privacy & Security, Certificates,
  View Certificates, Authorities, Import; Chromium: Settings, Privacy and security,
  Security, Manage certificates, Authorities, Import), or from a shell:
      curl --cacert $demo/ca/ca.pem ${url%% *}
  $alice

  Ctrl-C stops the portal.

EOF
args=()
[ -n "${PORTAL_LISTEN:-}" ] && args=(--listen "$PORTAL_LISTEN")
exec "$p11enroll" serve "${args[@]}"
