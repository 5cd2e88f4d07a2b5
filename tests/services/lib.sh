# Shared setup of the service tests (sourced by tests/services/test_*.sh; not
# a test): sources pg.sh and ceph.sh, skips (exit 77) when the packages are
# missing, except under CI=true where that is a failure, makes the temp dir T
# and an EXIT trap that stops both services and removes T.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/pg.sh"
. "$here/ceph.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
missing=()
for c in psql pg_config ceph ceph-mon ceph-osd ceph-authtool monmaptool rados ss; do
	command -v "$c" >/dev/null || missing+=("$c")
done
[ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1 || missing+=("user postgres")
if [ ${#missing[@]} -gt 0 ]; then
	[ "${CI:-}" != true ] || fail "missing ${missing[*]} (run tools/deps.sh)"
	echo "SKIP: missing ${missing[*]} (run tools/deps.sh)"
	exit 77
fi

T=$(mktemp -d /tmp/ckptfs-svc.XXXXXX)
chmod 755 "$T" # the postgres user runs the server when we are root
trap 'ceph_stop; pg_stop; rm -rf "$T"' EXIT

# alive PID: running and not a zombie
alive() { [ -e "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat")" != Z ]; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# none_left: no process of ours runs out of T (pgrep only reads; kills nothing)
none_left() {
	local p
	p=$(pgrep -f -- "$T/" || true)
	[ -z "$p" ] || fail "processes left running in $T: $(ps -o pid=,args= -p "${p//$'\n'/,}")"
}
