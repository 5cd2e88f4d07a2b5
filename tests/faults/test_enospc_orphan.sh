#!/usr/bin/env bash
# A full disk leaves no unaccounted chunk: with the STORE on a 24 MiB tmpfs,
# a 64 MiB single-file save and a directory save holding a 64 MiB file both
# fail with ENOSPC and abort; after rm + `ckpt gc`, `ckpt verify` beside the
# live mount and after unmounting exits 0 (no orphan chunk file). Rounds
# with compress=none (most chunks stored by the background worker) and
# compress=auto (every chunk stored by the flush); the last round writes
# a 20 MiB single file, which fits as unflushed data but not also as chunks,
# so the flush at close() stores some chunks and then fails.
source "$(dirname "$0")/../e2e/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
e2e_init

# save_big PATH [MIB]: writes MIB (64) MiB into PATH through the mount; must fail with ENOSPC.
save_big() {
	$PY - "$1" "${2:-64}" >"$T/big.out" 2>&1 <<'EOF' || fail "big save into $1: $(cat "$T/big.out")"
import errno, os, sys
p, mib = sys.argv[1], int(sys.argv[2])
try:
    if p.endswith("/"):
        os.mkdir(p)
        p += "big.bin"
    with open(p, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    print("no error writing", mib, "MiB into 24 MiB"); sys.exit(1)
except OSError as e:
    if e.errno != errno.ENOSPC:
        print("expected ENOSPC, got", errno.errorcode.get(e.errno)); sys.exit(1)
EOF
}

for round in 1 2 3 4; do
	opts= mib=64
	[ "$round" = 2 ] && opts=compress=auto
	[ "$round" = 4 ] && opts=compress=auto mib=20
	mkdir "$T/small$round"
	mount -t tmpfs -o size=24m tmpfs "$T/small$round" 2>"$T/tmpfs.err" ||
		skip "cannot mount tmpfs: $(cat "$T/tmpfs.err")"
	EXTRA_MOUNTS+=("$T/small$round")
	STORE=$T/small$round/store
	e2e_mount "$opts"
	save_big "$MNT/big.pt" $mib
	[ "$round" = 4 ] || save_big "$MNT/run-big/" $mib
	rm -rf "$MNT/big.pt" "$MNT/run-big" 2>/dev/null
	"$CKPT" gc "$STORE" >/dev/null || fail "round $round: ckpt gc failed"
	out=$("$CKPT" verify "$STORE" 2>&1) || fail "round $round: verify beside the mount: $out"
	e2e_umount
	out=$("$CKPT" verify "$STORE" 2>&1) || fail "round $round: verify after unmount: $out"
	log "round $round ($opts): ok"
done
echo "ok"
