/* libFuzzer target: latchkeyd's configuration parser on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/latchkeyd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	if (config_parse(&c, (const char *)data, size, "fuzz.conf", "/d", err, sizeof(err)) == 0) {
		if (c.n_manufacturer_ca > CONFIG_LIST || c.listen_port > 65535 ||
		    memchr(c.domain, '\0', sizeof(c.domain)) == NULL)
			abort();
	} else if (strncmp(err, "fuzz.conf:", 10) != 0)
		abort();	/* every parse error names the file and line */
	return 0;
}
