/* Runtime-private: the little the runtime reads from the flattened device tree. */
#ifndef RUNTIME_FDT_H
#define RUNTIME_FDT_H

/* Number of /cpus/cpu@N nodes in the FDT at `fdt`, or -1 if `fdt` is not a valid FDT. */
int fdt_count_cpus(const void *fdt);

#endif /* RUNTIME_FDT_H */
