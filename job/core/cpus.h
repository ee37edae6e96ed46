/*
 * cpus: how many CPUs this process may keep busy: its affinity mask
 * (sched_getaffinity, so taskset counts), lowered to the cgroup v2 CPU
 * quota (cpu.max, rounded up) of its cgroup or any ancestor, so a container
 * limited to 2 CPUs on a 64-core host counts 2.
 */
#ifndef PAIRPICK_CPUS_H
#define PAIRPICK_CPUS_H

/* At least 1. */
int cpus_usable(void);

#endif
