#include <rte_errno.h>
#include <rte_version.h>
#include "shim.h"

int dpdk_sys_rte_errno(void) { return rte_errno; }
const char *dpdk_sys_version(void) { return rte_version(); }
