#include "core/cpus.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The CPU limit of cgroup v2 file path ("max PERIOD" or "QUOTA PERIOD"),
 * rounded up to whole CPUs; 0 when there is none or the file is missing.
 */
static long cgroup_cpu_limit(const char *path)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return 0;
    char quota[32] = "";
    long period = 0, limit = 0;
    if (fscanf(file, "%31s %ld", quota, &period) == 2 && strcmp(quota, "max") != 0
        && period > 0) {
        long microseconds = strtol(quota, NULL, 10);
        if (microseconds > 0)
            limit = (microseconds + period - 1) / period;
    }
    fclose(file);
    return limit;
}

/*
 * The smallest cgroup v2 CPU limit on the way from this process's cgroup
 * (/proc/self/cgroup, "0::/PATH") up to the root; 0 when none applies.
 */
static long cgroup_cpus(void)
{
    char line[512], path[1024];
    long smallest = 0;
    FILE *file = fopen("/proc/self/cgroup", "r");
    if (file == NULL)
        return 0;
    while (fgets(line, sizeof line, file) != NULL) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *group = line + 3;
        for (;;) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s%scpu.max", group,
                     group[0] != '\0' && group[strlen(group) - 1] == '/' ? "" : "/");
            long limit = cgroup_cpu_limit(path);
            if (limit > 0 && (smallest == 0 || limit < smallest))
                smallest = limit;
            char *slash = strrchr(group, '/');
            if (slash == NULL || group[0] == '\0')
                break;
            *slash = '\0'; /* the parent; "" after the last: the root */
        }
    }
    fclose(file);
    return smallest;
}

int cpus_usable(void)
{
    long cpus = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cpus = CPU_COUNT(&set);
    if (cpus <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = online > 0 ? online : 1;
    }
    long quota = cgroup_cpus();
    if (quota > 0 && quota < cpus)
        cpus = quota;
    return (int)cpus;
}
