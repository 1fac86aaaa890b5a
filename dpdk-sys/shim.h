/* Hand-written C for what bindgen cannot reach: thread-local variables behind macros. */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H
#include <stdint.h>

/* rte_errno is a per-lcore TLS variable behind a macro. */
int dpdk_sys_rte_errno(void);
/* The DPDK version string (rte_version() is static inline in some releases). */
const char *dpdk_sys_version(void);

#endif
