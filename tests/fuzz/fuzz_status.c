/*
 * fuzz_status: libFuzzer target for the registrar's status answer that the device checks
 * after a renewal (agent_confirm_check, enroll/agent/agent.c): network input on the device.
 * A refusal must say why; an acceptance must leave superseded NUL-terminated within its
 * size, and only say yes for the LDevID it was asked about.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sup[40], err[256];
	int rc;

	memset(sup, 'x', sizeof(sup));
	err[0] = '\0';
	rc = agent_confirm_check(data, size, "0A1B2C", sup, sizeof(sup), err, sizeof(err));
	if (rc == -1 && err[0] == '\0')
		abort();
	if (rc == 0 && memchr(sup, '\0', sizeof(sup)) == NULL)
		abort();
	if (rc != 0 && rc != -1)
		abort();
	return 0;
}
