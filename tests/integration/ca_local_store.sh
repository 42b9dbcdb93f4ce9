# The embedded CA's index, requests and CRL number in the store (file store):
# four processes issuing at once from one CA under one STATE_DIR get distinct
# serials, each certificate in the store's index once (DIR/ca-certs) and in
# index.jsonl once; CRLs made by several processes at once get distinct,
# increasing CRL numbers, each listing every revocation made before it
# (openssl crl -text, openssl verify -crl_check); a random serial that is
# already taken is drawn again (test hook); an existing CA directory (an
# older crlnumber, a certificate only in index.jsonl) keeps working.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "ca_local_store needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
enroll() { # enroll EMAIL
	p11e enroll "$TEST_TOKEN_URI" --email "$1" --key ec:P-256 --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" --wait 300
}
cert_of() { record "$1" | jq -r .cert_pem; }
serial_of() { cert_of "$1" | openssl x509 -noout -serial | sed 's/^serial=//' | tr A-F a-f; }
crl_number() { openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//'; }

# An existing CA directory: its crlnumber says 41 CRLs were made before.
echo 41 >"$CA_DIR/crlnumber"
chmod 600 "$CA_DIR/crlnumber"

# Four processes at once, three certificates each. An enrollment that fails is
# run again once, as an operator would (a rerun resumes it): four processes logging
# in to one SoftHSM token at once can make one of them fail (SoftHSM rewrites its
# token.object at each login; docs/tokens.md). What is tested is the CA: every
# identity issued once, each serial distinct (below: one request document each).
for p in 1 2 3 4; do
	(for i in 1 2 3; do
		enroll "p$p-$i@example.org" || {
			echo "p$p-$i failed once; rerun"
			enroll "p$p-$i@example.org"
		} || exit 1
	done) >"$TEST_TMP/p$p.out" 2>&1 &
	pids[$p]=$!
done
for p in 1 2 3 4; do
	wait "${pids[$p]}"
	status=$?
	check_eq "process $p issued three ($(cat "$TEST_TMP/p$p.out"))" 0 "$status"
	# Shown in the test's output: what made an enrollment fail the first time.
	grep -A3 "failed once" "$TEST_TMP/p$p.out" >&2
done
serials=$(for p in 1 2 3 4; do for i in 1 2 3; do serial_of "p$p-$i@example.org"; done; done | sort)
check_eq "twelve certificates" 12 "$(wc -l <<<"$serials")"
check_eq "every serial distinct" 12 "$(sort -u <<<"$serials" | wc -l)"
docs=$(ca_docs ca-cert | jq -r .serial | sort)
check_eq "the store's index holds each certificate once" "$serials" "$docs"
check_eq "index.jsonl holds each once" "$serials" "$(jq -r .serial "$CA_DIR/index.jsonl" | sort)"
check_eq "one request document each" 12 "$(ca_docs ca-request | jq -r .serial | wc -l)"
on_pg || check_eq "the CA's documents are 0600" "600" "$(stat -c %a "$CA_DIR"/ca-certs/*.json | sort -u)"

# A random serial already issued is drawn again, never issued twice.
taken=$(serial_of p1-1@example.org)
P11ENROLL_TEST_CA_SERIAL=$taken enroll dup@example.org >"$TEST_TMP/dup.out" 2>&1
check_eq "enroll with a colliding first draw ($(cat "$TEST_TMP/dup.out"))" 0 $?
check_eq "it got another serial" 0 "$(grep -c "^$(serial_of dup@example.org)\$" <<<"$serials")"
check_contains "the taken serial's entry is untouched" \
	"$(ca_docs ca-cert | jq -r "select(.serial == \"$taken\") | .subject")" p1-1@example.org

# A certificate issued before the index was in the store: only in
# index.jsonl (its documents removed to make one), revoked all the same.
old=$(serial_of p4-3@example.org)
ca_doc_remove ca-cert "$old"
check_eq "p4-3's document removed" 0 "$(ca_docs ca-cert | jq -r .serial | grep -c "^$old\$")"

# Revocations and CRLs from several processes at once.
for p in 1 2 3 4; do
	(p11e ca revoke --dir "$CA_DIR" --serial "$(serial_of "p$p-1@example.org")" \
		--reason keyCompromise &&
		p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl$p.pem") >"$TEST_TMP/r$p.out" 2>&1 &
	pids[$p]=$!
done
for p in 1 2 3 4; do
	wait "${pids[$p]}"
	check_eq "process $p revoked and made a CRL ($(cat "$TEST_TMP/r$p.out"))" 0 $?
done
out=$(p11e ca revoke --dir "$CA_DIR" --serial "$old" --reason superseded 2>&1)
check_eq "revoke a certificate only index.jsonl knows ($out)" 0 $?
check_eq "its revocation is in the store's index" superseded \
	"$(ca_docs ca-cert | jq -r "select(.serial == \"$old\") | .reason")"
p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl5.pem"
check_eq "the fifth CRL" 0 $?
numbers=$(for p in 1 2 3 4; do crl_number "$TEST_TMP/crl$p.pem"; done | sort -n)
check_eq "four distinct CRL numbers" 4 "$(sort -u <<<"$numbers" | wc -l)"
check_eq "above the old crlnumber: 42 to 45" "0x2A 0x2B 0x2C 0x2D" "$(echo $numbers)"
check_eq "the next is 46" 0x2E "$(crl_number "$TEST_TMP/crl5.pem")"
# Each CRL lists at least the revocation its own process made, and a later
# number never lists fewer than an earlier one.
prev=0
for n in $numbers; do
	for p in 1 2 3 4; do
		[ "$(crl_number "$TEST_TMP/crl$p.pem")" = "$n" ] || continue
		count=$(openssl crl -in "$TEST_TMP/crl$p.pem" -noout -text | grep -c 'Serial Number:')
		check "CRL $n lists p$p-1" grep -qi "serial number: $(serial_of "p$p-1@example.org")" \
			<(openssl crl -in "$TEST_TMP/crl$p.pem" -noout -text)
		check "CRL $n lists no fewer than the one before ($count >= $prev)" test "$count" -ge "$prev"
		prev=$count
	done
done
text=$(openssl crl -in "$TEST_TMP/crl5.pem" -noout -text)
check_eq "the last CRL lists all five" 5 "$(grep -c 'Serial Number:' <<<"$text")"
check_contains "with the old one's reason" "$text" "Superseded"
cat "$CA_DIR/ca.pem" "$TEST_TMP/crl5.pem" >"$TEST_TMP/bundle.pem"
for who in p1-1 p4-3; do
	cert_of "$who@example.org" >"$TEST_TMP/$who.pem"
	out=$(openssl verify -crl_check -CAfile "$TEST_TMP/bundle.pem" "$TEST_TMP/$who.pem" 2>&1)
	check_eq "openssl verify -crl_check rejects $who" 2 $?
	check_contains "as revoked" "$out" "certificate revoked"
done
cert_of p2-2@example.org >"$TEST_TMP/good.pem"
check "openssl verify -crl_check accepts p2-2" \
	openssl verify -crl_check -CAfile "$TEST_TMP/bundle.pem" "$TEST_TMP/good.pem"

finish
