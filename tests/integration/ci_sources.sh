# scripts/ci-fresh-root.sh builds CI's fresh root from this machine's own apt
# sources (as apt-config names them), never from a mirror the script names:
# the README's route is proved with the sources its user has. The script is
# read, and asked which files it would hand mmdebstrap (--print-sources),
# under an APT_CONFIG that points apt at sources made here. The README's
# package step is shown for root (no sudo there), as CI runs it.
. "$TESTS_DIR/lib/common.sh"
ci=$SOURCE_DIR/scripts/ci-fresh-root.sh
hosts=$(grep -nE '[a-z]+://|deb\.debian\.org|debian\.org/|mirror[.a-z0-9-]*\.(org|net|com)' \
	"$ci" "$SOURCE_DIR/.ci/run")
check_eq "the CI scripts name no URL or mirror host" "" "$hosts"
# Before it took the machine's sources, the script had no --print-sources and,
# run as root, would build a whole root: stop here then.
[ -z "$hosts" ] || finish

A=$TEST_TMP/apt
mkdir -p "$A/sources.list.d"
cat >"$A/apt.conf" <<CONF
Dir::Etc::sourcelist "$A/sources.list";
Dir::Etc::sourceparts "$A/sources.list.d";
CONF
printf 'Types: deb\nURIs: http://apt.example.internal/debian\nSuites: bookworm\nComponents: main\n' \
	>"$A/sources.list.d/local.sources"
printf 'deb http://apt.example.internal/extra bookworm main\n' >"$A/sources.list.d/extra.list"
: >"$A/sources.list.d/empty.sources"
cp "$A/sources.list.d/local.sources" "$A/sources.list.d/off.sources.disabled"
out=$(APT_CONFIG=$A/apt.conf bash "$ci" --print-sources)
check_eq "--print-sources: the .list and .sources files apt reads, not empty or disabled ones" \
	"$A/sources.list.d/extra.list $A/sources.list.d/local.sources" "$(echo $out)"
printf 'deb http://apt.example.internal/debian bookworm main\n' >"$A/sources.list"
out=$(APT_CONFIG=$A/apt.conf bash "$ci" --print-sources)
check_eq "--print-sources: sources.list first" \
	"$A/sources.list $A/sources.list.d/extra.list $A/sources.list.d/local.sources" "$(echo $out)"
# The README's package step as CI runs it, as root in a root without sudo.
check "README: the package step without sudo, for root" \
	grep -qE '(^|[#:] *)apt-get install \./build-pkg/p11enroll_\*\.deb' "$SOURCE_DIR/README.md"
# No sources at all: a clear refusal before anything is built (not root's check first).
rm -f "$A/sources.list" "$A"/sources.list.d/*.list "$A"/sources.list.d/*.sources
out=$(APT_CONFIG=$A/apt.conf P11E_CI_STOP_AFTER=mmdebstrap bash "$ci" 2>&1)
check_eq "no apt sources: exit 1" 1 $?
check_contains "no apt sources: says so" "$out" "no apt sources"
finish
