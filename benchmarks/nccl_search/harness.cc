// NCCL's own graph search (src/graph/search.cc ncclTopoCompute) run on a topology file, without a GPU.
// Built by build.sh against the sources of one NCCL release; prints the ring and tree graphs NCCL would build:
// channels, per-channel speeds (bwIntra / bwInter, GB/s) and the NICs the channels use.
#include "comm.h"
#include "graph.h"
#include "topo.h"
#include "xml.h"
#include <pthread.h>
#include <set>
#include <stdio.h>
#include <stdlib.h>

struct Args { const char* file; int hosts; int rc; };

static void report(struct ncclTopoSystem* system, const char* name, struct ncclTopoGraph* g) {
  std::set<long> nets;
  for (int c = 0; c < g->nChannels; c++) { nets.insert(g->inter[2*c]); nets.insert(g->inter[2*c+1]); }
  std::set<long> hosts;
  for (long id : nets) hosts.insert(NCCL_TOPO_ID_SYSTEM_ID(id));
  printf("%s: nChannels %d bwIntra %g bwInter %g typeIntra %d typeInter %d crossNic %d NICs %zu on %zu hosts\n", name,
         g->nChannels, g->bwIntra, g->bwInter, g->typeIntra, g->typeInter, g->crossNic, nets.size(), hosts.size());
}

static ncclResult_t run(const char* file, int hosts) {
  struct ncclXml* xml;
  NCCLCHECK(xmlAlloc(&xml, hosts*NCCL_TOPO_XML_MAX_NODES));
  NCCLCHECK(ncclTopoGetXmlFromFile(file, xml, 1));
  struct ncclTopoSystem* system;
  NCCLCHECK(ncclTopoGetSystemFromXml(xml, &system, 0x1000));  // the first tray's host (topology.py)
  NCCLCHECK(ncclTopoComputePaths(system, NULL));
  NCCLCHECK(ncclTopoSearchInit(system));
  printf("system: GPUs %d NETs %d NVS %d CPUs %d maxBw %g totalBw %g\n", system->nodes[GPU].count,
         system->nodes[NET].count, system->nodes[NVS].count, system->nodes[CPU].count, system->maxBw, system->totalBw);
  static struct ncclTopoGraph ring, tree;  // as init.cc: ring first, the tree gets the ring's channel count
  ring.id = 0; ring.pattern = NCCL_TOPO_PATTERN_RING; ring.minChannels = 1; ring.maxChannels = MAXCHANNELS/2;
  NCCLCHECK(ncclTopoCompute(system, &ring));
  report(system, "ring", &ring);
  tree.id = 1; tree.pattern = NCCL_TOPO_PATTERN_BALANCED_TREE;
  tree.minChannels = tree.maxChannels = ring.nChannels;
  NCCLCHECK(ncclTopoCompute(system, &tree));
  report(system, "tree", &tree);
  static struct ncclTopoGraph nvls;  // init.cc: nvlsGraph, 1 to MAXCHANNELS channels (the search holds it to its heads)
  nvls.id = 4; nvls.pattern = NCCL_TOPO_PATTERN_NVLS; nvls.minChannels = 1; nvls.maxChannels = MAXCHANNELS;
  NCCLCHECK(ncclTopoCompute(system, &nvls));
  report(system, "nvls", &nvls);
  return ncclSuccess;
}

static void* body(void* p) {
  Args* a = (Args*)p;
  a->rc = run(a->file, a->hosts);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s TOPOLOGY.xml HOSTS\n", argv[0]); return 2; }
  // Compare path types only: the NVML check of P2P between GPUs needs a GPU ("used by unit tests", paths.cc)
  setenv("NCCL_IGNORE_DISABLED_P2P", "2", 0);
  Args a = { argv[1], atoi(argv[2]), 0 };
  pthread_attr_t attr;  // the search recurses once a GPU with large frames: give it a large stack
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1UL << 30);
  pthread_t t;
  pthread_create(&t, &attr, body, &a);
  pthread_join(t, NULL);
  if (a.rc != ncclSuccess) fprintf(stderr, "search failed: ncclResult %d\n", a.rc);
  return a.rc == ncclSuccess ? 0 : 1;
}
