// What the graph search links against outside src/graph, stubbed: no GPU, no NVML, no network plugin. The search
// itself (search.cc, paths.cc, topo.cc, xml.cc, misc/param.cc, misc/utils.cc) is NCCL's, unchanged.
#include "comm.h"
#include "nvmlwrap.h"
#include "transport.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

__thread int ncclDebugNoWarn = 0;
int ncclDebugLevel = 6;  // NCCL_LOG_TRACE: every message reaches ncclDebugLog, which prints warnings only
#if NCCL_VERSION_CODE < 22600
int ncclNetVersion(struct ncclComm*) { return 0; }
#endif
#if NCCL_VERSION_CODE >= 22800
uint64_t ncclDebugMask = 0;
ncclResult_t ncclCollNetGetDevCount(int, int*, int*) { return ncclInternalError; }
ncclResult_t ncclCollNetSetVirtDevCount(int, int) { return ncclInternalError; }
ncclResult_t ncclNetGetDevCount(int, int*, int*) { return ncclInternalError; }
ncclResult_t ncclNetSetVirtDevCount(int, int) { return ncclInternalError; }
#endif
void ncclDebugLog(ncclDebugLogLevel level, unsigned long, const char*, int, const char* fmt, ...) {
  if (level != NCCL_LOG_WARN) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "NCCL WARN ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}
ncclResult_t bootstrapIntraNodeAllGather(void*, int*, int, int, void*, int) { return ncclInternalError; }
ncclResult_t initChannel(ncclComm*, int) { return ncclInternalError; }
ncclResult_t ncclNvmlDeviceGetCudaComputeCapability(nvmlDevice_t, int*, int*) { return ncclInternalError; }
ncclResult_t ncclNvmlDeviceGetFieldValues(nvmlDevice_t, int, nvmlFieldValue_t*) { return ncclInternalError; }
ncclResult_t ncclNvmlDeviceGetHandleByPciBusId(const char*, nvmlDevice_t*) { return ncclInternalError; }
ncclResult_t ncclNvmlDeviceGetIndex(nvmlDevice_t, unsigned int*) { return ncclInternalError; }
ncclResult_t ncclNvmlDeviceGetNvLinkCapability(nvmlDevice_t, unsigned int, nvmlNvLinkCapability_t, unsigned int*) {
  return ncclInternalError;
}
ncclResult_t ncclNvmlDeviceGetNvLinkRemotePciInfo(nvmlDevice_t, unsigned int, nvmlPciInfo_t*) { return ncclInternalError; }
ncclResult_t ncclNvmlDeviceGetNvLinkState(nvmlDevice_t, unsigned int, nvmlEnableState_t*) { return ncclInternalError; }
ncclResult_t ncclNvmlEnsureInitialized() { return ncclInternalError; }
ncclNvmlDevicePairInfo ncclNvmlDevicePairs[ncclNvmlMaxDevices][ncclNvmlMaxDevices];
struct ncclTransport* ncclTransports[NTRANSPORTS + 1];
int64_t ncclParamWorkArgsBytes() { return 1 << 20; }
extern "C" {
cudaError_t cudaGetDeviceProperties(cudaDeviceProp*, int) { return (cudaError_t)1; }
const char* cudaGetErrorString(cudaError_t) { return "no GPU"; }
cudaError_t cudaDeviceGetAttribute(int*, cudaDeviceAttr, int) { return (cudaError_t)1; }
cudaError_t cudaDeviceGetPCIBusId(char*, int, int) { return (cudaError_t)1; }
cudaError_t cudaGetDevice(int*) { return (cudaError_t)1; }
}
