#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (127.0.0.1) for the cluster tests:
# munge for authentication, slurmctld and slurmd, one partition "debug" with this
# machine's CPUs. Needs root and Debian's slurmd slurmctld slurm-client munge packages
# (.ci/run installs them). Prints "slurm ready" when sinfo sees the node idle.
set -euo pipefail
CPUS=$(nproc)
install -d -m 0700 -o munge -g munge /etc/munge /var/lib/munge /var/log/munge
install -d -m 0755 -o munge -g munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=simmodel
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd -N localhost
for _ in $(seq 1 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^idle'; then
        echo "slurm ready"
        exit 0
    fi
    scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    sleep 1
done
echo "slurm did not come up" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
