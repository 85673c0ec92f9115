#!/usr/bin/env bash
# dd and cp through a quorumfs mount: 3 runs of 256 MiB write (fsync), read after dropping caches,
# and cp of a 256 MiB file. Usage: bench/mount-dd.sh QR QW N BASE_PORT (needs dist/ built, root).
Q="$(dirname "$0")/../bin/quorumfs"; B=$4; d=/tmp/dd-$B; rm -rf $d; mkdir -p $d/mnt
ports=""; for i in $(seq 1 $3); do ports="$ports $((B+1+i))"; done
$Q mediator $1 $2 $((B+1)) $ports --port $B --data-dir $d/data --spare-ports none >/dev/null 2>&1 & med=$!
sleep 1.5; $Q mount $d/mnt --mediator 127.0.0.1:$B >/dev/null 2>&1 & mnt=$!; sleep 1.5
# Unmount and stop the cluster however the script ends (a closed pipe included).
trap 'kill $mnt 2>/dev/null; sleep 1; kill $med 2>/dev/null; wait 2>/dev/null; rm -rf $d' EXIT
dd if=/dev/urandom of=$d/src bs=1M count=256 status=none
for r in 1 2 3; do
 w=$(dd if=/dev/zero of=$d/mnt/z bs=1M count=256 conv=fsync 2>&1 | tail -1 | awk '{print $(NF-1)}')
 echo 3 > /proc/sys/vm/drop_caches
 rd=$(dd if=$d/mnt/z of=/dev/null bs=1M 2>&1 | tail -1 | awk '{print $(NF-1)}')
 s=$(date +%s.%N); cp $d/src $d/mnt/c; sync $d/mnt/c; e=$(date +%s.%N)
 cmp -s $d/src $d/mnt/c || echo MISMATCH
 echo "N=$3 Qr=$1 Qw=$2 run $r: dd write ${w} MB/s, dd read ${rd} MB/s, cp 256MiB $(echo "256/($e-$s)" | bc -l | cut -c1-5) MiB/s"
 rm $d/mnt/z $d/mnt/c
done
