# A private one-mon, one-OSD Ceph cluster for tests (sourced; not a test).
#
#   source tests/services/ceph.sh
#   ceph_start DIR  # mon + bluestore OSD (sparse file DIR/osd.block), no mgr, pool
#                   # `ckpt` of size 1, 127.0.0.1 only; exports CKPT_TEST_CEPH_CONF,
#                   # CKPT_TEST_CEPH_POOL, CKPT_TEST_CEPH_KEYRING, CKPT_TEST_CEPH_ID
#                   # (client id for rados_create: admin), CKPT_TEST_CEPH_PIDS
#   ceph_stop       # kills exactly those daemons and removes DIR; idempotent
#
# DIR must not exist yet (or be empty). No systemd, nothing outside DIR. The
# mon listens on a free port picked in 40000-44999 (CEPH_MON_PORT forces one),
# the OSD on the first free ones in 45000-45999. Without a mgr, `ceph -s` and
# `rados df` show no usage figures; I/O works. Fails (returns 1, says why,
# tears down) when the cluster is not serving within CEPH_WAIT_S (120) s.
# Memory: mon ~40 MiB, OSD 45-160 MiB (osd_memory_target cannot go below 896
# MiB; it is only a ceiling for cache autotuning).
#
# The daemons are background jobs of the calling shell and are reaped only by
# ceph_stop, so their PIDs cannot be reused before it kills them.

CEPH_DIR=
CKPT_TEST_CEPH_PIDS=

# _ceph_alive PID: running (an unreaped dead child is a zombie, state Z).
_ceph_alive() {
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}

# _ceph CMD...: the ceph CLI against our cluster, never hanging.
_ceph() { timeout 30 ceph -c "$CEPH_DIR/ceph.conf" --connect-timeout 15 "$@"; }

_ceph_free_port() {
	local p i used
	used=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
	for ((i = 0; i < 50; i++)); do
		p=$((40000 + RANDOM % 5000))
		grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
	done
	return 1
}

# _ceph_wait DEADLINE LABEL CMD...: retries CMD until it succeeds; fails when a
# daemon died or DEADLINE (epoch seconds) passed.
_ceph_wait() {
	local deadline=$1 label=$2 pid
	shift 2
	until "$@" >/dev/null 2>&1; do
		for pid in $CKPT_TEST_CEPH_PIDS; do
			_ceph_alive "$pid" && continue
			echo "ceph: daemon $pid died waiting for $label" >&2
			tail -n 20 "$CEPH_DIR"/log/*.log >&2 2>/dev/null
			return 1
		done
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "ceph: $label not reached within ${CEPH_WAIT_S:-120} s" >&2
			tail -n 20 "$CEPH_DIR"/log/*.log >&2 2>/dev/null
			return 1
		fi
		sleep 0.5
	done
}

# _ceph_daemon NAME ARGS...: starts ceph-NAME in the foreground of a background job.
_ceph_daemon() {
	local name=$1
	shift
	"ceph-$name" -c "$CEPH_DIR/ceph.conf" -f "$@" </dev/null >>"$CEPH_DIR/log/$name.out" 2>&1 &
	CKPT_TEST_CEPH_PIDS="$CKPT_TEST_CEPH_PIDS $!"
	export CKPT_TEST_CEPH_PIDS
}

_ceph_conf() {
	local dir=$1 fsid=$2 port=$3
	cat <<-EOF
		[global]
		fsid = $fsid
		mon_host = [v2:127.0.0.1:$port]
		public_addr = 127.0.0.1
		cluster_addr = 127.0.0.1
		ms_bind_msgr1 = false
		ms_bind_port_min = 45000
		ms_bind_port_max = 45999
		ms_bind_retry_delay = 1
		keyring = $dir/keyring
		run_dir = $dir/run
		admin_socket = $dir/run/\$name.\$pid.asok
		log_file = $dir/log/\$name.log
		crash_dir = $dir/crash
		auth_allow_insecure_global_id_reclaim = false
		mon_allow_pool_size_one = true
		mon_warn_on_pool_no_redundancy = false
		mon_data_avail_warn = 2
		mon_data_avail_crit = 1
		osd_pool_default_size = 1
		osd_pool_default_min_size = 1
		osd_pool_default_pg_autoscale_mode = off
		osd_crush_chooseleaf_type = 0
		# quiet logs cost less CPU on 2 cores; errors still reach the log files
		debug_ms = 0/0
		debug_osd = 0/0
		debug_bluestore = 0/0
		debug_bluefs = 0/0
		debug_rocksdb = 0/0
		debug_monc = 0/0
		debug_auth = 0/0
		debug_paxos = 0/0
		ms_async_op_threads = 1
		rocksdb_cache_size = 33554432
		mon_osd_cache_size_min = 33554432

		[mon]
		mon_data = $dir/mon
		mon_osd_down_out_interval = 0
		mon_warn_on_osd_down_out_interval_zero = false

		[osd]
		osd_data = $dir/osd
		osd_objectstore = bluestore
		# 896 MiB is the smallest target Ceph accepts; real RSS stays far below
		osd_memory_target = 939524096
		osd_memory_base = 268435456
		osd_memory_cache_min = 67108864
		osd_op_num_shards = 1
		osd_op_num_threads_per_shard = 2
		osd_class_update_on_start = false
		# the block file must live outside osd_data (a symlink loop otherwise)
		bluestore_block_path = $dir/osd.block
		bluestore_block_size = 4294967296
		bluestore_block_create = true
		bluestore_block_db_create = false
		bluestore_block_wal_create = false
		bluestore_fsck_on_mkfs = false
		bluestore_rocksdb_options = compression=kNoCompression,max_write_buffer_number=2,min_write_buffer_number_to_merge=1,recycle_log_file_num=2,write_buffer_size=16777216,writable_file_max_buffer_size=0,compaction_readahead_size=2097152,max_background_compactions=1,max_total_wal_size=67108864
	EOF
}

# _ceph_setup DIR PORT DEADLINE: everything from keys to a writable pool.
_ceph_setup() {
	local dir=$1 port=$2 deadline=$3 fsid uuid id
	fsid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$dir"/{mon,osd,run,log,crash}
	_ceph_conf "$dir" "$fsid" "$port" >"$dir/ceph.conf"
	{ ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' &&
		ceph-authtool --create-keyring "$dir/keyring" --gen-key -n client.admin \
			--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' &&
		ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/keyring" &&
		monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" &&
		timeout 120 ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" \
			--keyring "$dir/mon.keyring"; } >"$dir/log/mon-mkfs.out" 2>&1 ||
		{ echo "ceph: mon setup failed:" >&2; tail -n 20 "$dir/log/mon-mkfs.out" >&2; return 1; }
	_ceph_daemon mon -i a
	# short attempts, so that a mon that died is noticed between them
	_ceph_wait "$deadline" "the mon on 127.0.0.1:$port" \
		timeout 5 ceph -c "$dir/ceph.conf" --connect-timeout 4 -s || return 1

	# the OSD's key is registered before --mkfs, which fetches the mon config with it
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(_ceph osd new "$uuid") || { echo "ceph: osd new failed" >&2; return 1; }
	{ ceph-authtool --create-keyring "$dir/osd/keyring" --gen-key -n "osd.$id" &&
		_ceph auth add "osd.$id" osd 'allow *' mon 'allow profile osd' -i "$dir/osd/keyring" &&
		timeout 120 ceph-osd -c "$dir/ceph.conf" -i "$id" --mkfs --osd-uuid "$uuid" \
			--keyring "$dir/osd/keyring"; } >"$dir/log/osd-mkfs.out" 2>&1 ||
		{ echo "ceph: OSD mkfs failed:" >&2; tail -n 20 "$dir/log/osd-mkfs.out" >&2; return 1; }
	_ceph_daemon osd -i "$id" --keyring "$dir/osd/keyring"
	_ceph_wait "$deadline" "osd.$id up" bash -c "timeout 30 ceph -c '$dir/ceph.conf' \
		--connect-timeout 15 osd dump | grep -q '^osd.$id up'" || return 1

	_ceph osd pool create ckpt 8 8 replicated >/dev/null 2>&1 &&
		_ceph osd pool set ckpt size 1 --yes-i-really-mean-it >/dev/null 2>&1 &&
		_ceph osd pool application enable ckpt ckptfs >/dev/null 2>&1 ||
		{ echo "ceph: cannot create pool ckpt" >&2; return 1; }
	echo probe >"$dir/probe"
	_ceph_wait "$deadline" "a first write to pool ckpt" \
		timeout 15 rados -c "$dir/ceph.conf" -p ckpt put __probe "$dir/probe" || return 1
	timeout 15 rados -c "$dir/ceph.conf" -p ckpt rm __probe && rm -f "$dir/probe"
}

ceph_start() {
	local dir=$1 port
	[ -z "$CEPH_DIR" ] || { echo "ceph: already running in $CEPH_DIR" >&2; return 1; }
	command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v rados >/dev/null ||
		{ echo "ceph: ceph-mon, ceph-osd or rados missing (install ceph-mon ceph-osd ceph-common)" >&2; return 1; }
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
	[ -z "$(ls -A "$dir")" ] || { echo "ceph: $dir is not empty" >&2; return 1; }
	port=${CEPH_MON_PORT:-$(_ceph_free_port)} || { echo "ceph: no free port" >&2; return 1; }
	CEPH_DIR=$dir
	if ! _ceph_setup "$dir" "$port" $(($(date +%s) + ${CEPH_WAIT_S:-120})); then
		ceph_stop
		return 1
	fi
	export CKPT_TEST_CEPH_CONF=$dir/ceph.conf CKPT_TEST_CEPH_POOL=ckpt
	export CKPT_TEST_CEPH_KEYRING=$dir/keyring CKPT_TEST_CEPH_ID=admin
}

ceph_stop() {
	local - # errexit off here: a trap must finish the teardown
	set +e
	[ -n "$CEPH_DIR" ] || return 0
	local pid pids="" i
	for pid in $CKPT_TEST_CEPH_PIDS; do pids="$pid $pids"; done # OSD first, then mon
	for pid in $pids; do
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 100; i++)); do
			_ceph_alive "$pid" || break
			sleep 0.1
		done
		_ceph_alive "$pid" && kill -KILL "$pid" && echo "ceph: $pid ignored SIGTERM; killed" >&2
	done
	for pid in $pids; do _ceph_alive "$pid" || wait "$pid" 2>/dev/null; done # reap, never block
	rm -rf "$CEPH_DIR"
	CEPH_DIR='' CKPT_TEST_CEPH_PIDS=''
	unset CKPT_TEST_CEPH_CONF CKPT_TEST_CEPH_POOL CKPT_TEST_CEPH_KEYRING CKPT_TEST_CEPH_ID
	return 0
}
