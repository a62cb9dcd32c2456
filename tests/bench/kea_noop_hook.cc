// kea_noop_hook: a Kea hook whose pkt4_receive and pkt4_send callouts return at once.
// tests/bench/kea.sh loads it to measure what Kea itself spends calling a hook's callouts
// on those two hook points, the floor under any hook that classifies queries and adds
// options per packet, as ours does. Not installed; built by the bench only.
#include <hooks/hooks.h>

using isc::hooks::CalloutHandle;
using isc::hooks::LibraryHandle;

extern "C" {

int version() { return KEA_HOOKS_VERSION; }
int load(LibraryHandle &) { return 0; }
int unload() { return 0; }
int multi_threading_compatible() { return 1; }
int pkt4_receive(CalloutHandle &) { return 0; }
int pkt4_send(CalloutHandle &) { return 0; }

}
