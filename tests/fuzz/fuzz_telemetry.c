/*
 * fuzz_telemetry: libFuzzer target for the BRSKI status telemetry a pledge posts
 * (RFC 8995 §5.7 voucher_status, §5.9.4 enrollstatus; enroll/latchkeyd/brski.c). A parsed reason
 * must be printable ASCII and a refusal must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/latchkeyd/brski.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct brski_status st;
	char err[256];
	size_t i;

	err[0] = '\0';
	if (brski_status_parse(data, size, &st, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
	} else {
		for (i = 0; st.reason[i] != '\0'; i++)
			if ((unsigned char)st.reason[i] < ' ' || (unsigned char)st.reason[i] >= 0x7f)
				abort();
		if (st.ok != 0 && st.ok != 1)
			abort();
	}
	brski_status_free(&st);
	return 0;
}
