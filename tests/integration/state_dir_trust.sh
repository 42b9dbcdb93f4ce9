# A shared or pre-planted state directory is not trusted (finding 20): another
# user's symlink or directory in STATE_DIR, a record others can read or write,
# a state directory others can write, a planted lock are refused with one line
# naming the path and the fix, and nothing forged is shown. "Another user" is
# nobody (uid 65534), so the planted parts need root.
. "$TESTS_DIR/lib/common.sh"
if [ "$(id -u)" != 0 ]; then
	echo "skipped: needs root to plant files owned by another user"
	exit 0
fi
setup_ca
ca="local:$CA_DIR"
S=$P11ENROLL_STATE_DIR
enroll() { p11e enroll "$TEST_TOKEN_URI" --email "$1" --ca "$ca" --pin-source "$PIN_SRC" 2>&1; }

out=$(enroll alice@example.com)
check_eq "a clean state dir works ($out)" 0 $?
check_contains "status shows alice" "$(p11e status 2>&1)" alice@example.com

# Another user plants `identities` as a symlink to their own directory, holding a
# forged record (a copy of alice's, renamed to mallory).
EVIL=$TEST_TMP/evil
mkdir "$EVIL"
sed 's/alice@example.com/mallory@example.com/g' "$S/identities/alice@example.com.json" \
	>"$EVIL/mallory@example.com.json"
chmod 600 "$EVIL/mallory@example.com.json"
chown -R nobody "$EVIL"
mv "$S/identities" "$TEST_TMP/identities.real"
ln -s "$EVIL" "$S/identities"
chown -h nobody "$S/identities"
out=$(p11e status 2>"$TEST_TMP/err")
check_eq "planted symlink: status fails (exit 1)" 1 $?
check_not_contains "planted symlink: no forged record shown" "$out" "mallory"
err=$(cat "$TEST_TMP/err")
# Refused at the symlink itself now (as enroll refuses it), before any record.
check_contains "planted symlink: names the symlink" "$err" \
	"$S/identities is a symbolic link owned by uid 65534"
out=$(p11e status --json 2>/dev/null)
check_not_contains "planted symlink: --json shows no forged record" "$out" '"mallory'
out=$(enroll bob@example.com)
check_eq "planted symlink: enroll refuses (exit 1)" 1 $?
check_eq "  one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check_contains "  names the symlink" "$out" "$S/identities is a symbolic link owned by uid 65534"
check "  nothing written into their directory" test ! -e "$EVIL/bob@example.com.json"
# The same symlink made by root still leads into a directory root does not own.
chown -h root "$S/identities"
out=$(enroll bob@example.com)
check_eq "symlink into another user's directory: refused" 1 $?
check_contains "  names the directory's owner" "$out" "owned by uid 65534"
rm "$S/identities"
# Another user's directory in place of `identities`.
mkdir "$S/identities"
chown nobody "$S/identities"
out=$(enroll bob@example.com)
check_eq "another user's identities directory: refused" 1 $?
check_contains "  says what to do" "$out" "chown it"
rmdir "$S/identities"
mv "$TEST_TMP/identities.real" "$S/identities"
check_contains "restored: status works again" "$(p11e status 2>&1)" alice@example.com

# status trusts identities/ as enroll does (issue 20 D): a world-writable one,
# and one that is a symlink another user planted (here into a directory of
# our own, so no record of theirs would give it away), are refused.
chmod 777 "$S/identities"
out=$(p11e status 2>&1)
check_eq "world-writable identities/: status refused (exit 1)" 1 $?
check_contains "  says chmod go-w" "$out" "$S/identities is writable by group or others"
check_not_contains "  shows no record" "$out" alice@example.com
chmod 700 "$S/identities"
mv "$S/identities" "$TEST_TMP/identities.real"
ln -s "$TEST_TMP/identities.real" "$S/identities"
chown -h nobody "$S/identities"
out=$(p11e status 2>&1)
check_eq "another user's symlink to our records: status refused (exit 1)" 1 $?
check_contains "  names the symlink" "$out" "$S/identities is a symbolic link owned by uid 65534"
out=$(p11e --json status 2>/dev/null)
check_not_contains "  --json shows no record" "$out" alice@example.com
rm "$S/identities"
mv "$TEST_TMP/identities.real" "$S/identities"
check_contains "restored: status works" "$(p11e status 2>&1)" alice@example.com

# A record others can read or write (0666) is refused, naming the fix.
chmod 666 "$S/identities/alice@example.com.json"
out=$(p11e status 2>&1)
check_eq "0666 record: status fails" 1 $?
check_contains "  says chmod 600" "$out" "chmod 600 $S/identities/alice@example.com.json"
chmod 600 "$S/identities/alice@example.com.json"
# A record owned by another user, even 0600.
chown nobody "$S/identities/alice@example.com.json"
out=$(p11e status 2>&1)
check_eq "another user's record: refused" 1 $?
chown root "$S/identities/alice@example.com.json"
# A record that is a symlink to another file of ours is not followed.
ln -s "$S/identities/alice@example.com.json" "$S/identities/carol@example.com.json"
out=$(p11e status 2>&1)
check_eq "a symlinked record: refused" 1 $?
check_contains "  says so" "$out" "symbolic link"
rm "$S/identities/carol@example.com.json"

# A state directory others can write: refused before anything is written there.
chmod 777 "$S"
out=$(enroll bob@example.com)
check_eq "world-writable state dir: refused" 1 $?
check_contains "  says chmod" "$out" "writable by group or others"
chmod 700 "$S"

# The local CA's lock planted as a symlink (or a FIFO) is never opened through.
# It is the store's lock "ca" named by the CA's key (the SHA-256 of its
# SubjectPublicKeyInfo), in the CA directory's own file store.
caid=$(openssl x509 -in "$CA_DIR/ca.pem" -pubkey -noout | openssl pkey -pubin -outform DER |
	sha256sum | cut -c1-64)
LOCK=$CA_DIR/locks/ca/$caid.lock
mkdir -p "$CA_DIR/locks/ca"
rm -f "$LOCK"
ln -s "$TEST_TMP/elsewhere" "$LOCK"
out=$(enroll bob@example.com)
check_eq "planted CA lock symlink: refused" 1 $?
check_contains "  names it" "$out" "$LOCK is a symbolic link"
check "  nothing created through it" test ! -e "$TEST_TMP/elsewhere"
rm "$LOCK"
mkfifo -m 600 "$LOCK"
out=$(timeout 120 "$P11ENROLL" enroll "$TEST_TOKEN_URI" --email bob@example.com --ca "$ca" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "planted CA lock FIFO: refused, no hang" 1 $?
check_contains "  names it" "$out" "not a regular file"
rm "$LOCK"
out=$(enroll bob@example.com)
check_eq "all restored: bob enrolls ($out)" 0 $?
finish
