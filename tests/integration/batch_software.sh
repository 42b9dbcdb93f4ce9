# batch --software: rows without a token get software keys, each delivered as
# a PFX whose password is escrowed in the file vault; token rows in the same
# roster still go onto the token. Workers run side by side (--jobs 3); a
# rerun skips what is done. Every PFX opens with its escrowed password.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/sw
mkdir -p "$W"
file_vault "$W"
{
	echo "email,name,token"
	for i in 1 2 3 4 5; do echo "soft$i@example.com,Soft $i,"; done
	echo "card1@example.com,Card One,$TEST_TOKEN_URI"
} >"$W/roster.csv"
json=$(p11e batch "$W/roster.csv" --software --jobs 3 --pin-source "$PIN_SRC" --module "$SOFTHSM_MODULE" --json)
check_eq "mixed batch: exit 0 ($json)" 0 $?
check_eq "6 enrolled" 6 "$(jq .enrolled <<<"$json")"
for i in 1 2 3 4 5; do
	e=soft$i@example.com
	check_eq "$e: software" software "$(record $e | jq -r .key_store)"
	pass=$(escrowed "$e")
	check "$e: the escrowed password opens its PFX" \
		env PW="$pass" openssl pkcs12 -in "$(store_pfx_file "$(record "$e" | jq -r .pfx_path)")" -noout -passin env:PW
done
check_eq "card1 on the token" 1 "$(count_objects cert "$(key_id card1@example.com)")"
check_eq "no software key reached the token" 0 \
	"$(p11tool_opensc --list-objects --type privkey | grep -ci 'label: *soft')"

json=$(p11e batch "$W/roster.csv" --software --jobs 3 --pin-source "$PIN_SRC" --module "$SOFTHSM_MODULE" --json)
check_eq "rerun: exit 0" 0 $?
check_eq "rerun: all 6 already done" 6 "$(jq '."already-done"' <<<"$json")"
check_eq "still 5 escrow entries" 5 "$(ls "$W/escrow" | grep -c '\.cms$')"

# Without --software a row with no token is an error, as before.
printf 'email\nlone@example.com\n' >"$W/lone.csv"
json=$(p11e batch "$W/lone.csv" --json)
check_eq "no token, no --software: exit 1" 1 $?
check_contains "says what to give" "$(jq -r '.rows[0].error' <<<"$json")" "--software"
finish
