/* Unit tests for certs/tpmkey.c's pure parts: key references, the TSS2 PEM header, the
 * choice of TCTI. Tables; the TPM itself is tested with swtpm in test_tpm_device.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs/tpmkey.h"

struct ref_case {
	const char	*ref;
	int		 want;		/* TPMKEY_NONE, TPMKEY_HANDLE or -1 */
	uint32_t	 handle;
	const char	*want_err;	/* substring of err when -1 */
};

static const struct ref_case ref_cases[] = {
	{ "handle:0x81000001", TPMKEY_HANDLE, 0x81000001u, NULL },
	{ "handle:0x81000000", TPMKEY_HANDLE, 0x81000000u, NULL },
	{ "handle:0x81FFFFFF", TPMKEY_HANDLE, 0x81FFFFFFu, NULL },
	{ "handle:0X8100abcd", TPMKEY_HANDLE, 0x8100ABCDu, NULL },
	{ "handle:0x80000001", -1, 0, "not a persistent" },	/* transient */
	{ "handle:0x82000000", -1, 0, "not a persistent" },
	{ "handle:0x40000001", -1, 0, "not a persistent" },	/* TPM_RH_OWNER */
	{ "handle:81000001", -1, 0, "bad TPM handle" },		/* no 0x */
	{ "handle:0x", -1, 0, "bad TPM handle" },
	{ "handle:0x8100000g", -1, 0, "bad TPM handle" },
	{ "handle:0x810000011", -1, 0, "bad TPM handle" },	/* nine digits */
	{ "handle:0x-8100000", -1, 0, "bad TPM handle" },
	{ "handle:", -1, 0, "bad TPM handle" },
	{ "/etc/latchkey/idevid.key", TPMKEY_NONE, 0, NULL },
	{ "idevid.key", TPMKEY_NONE, 0, NULL },
	{ "pkcs11:token=dev;object=idevid", TPMKEY_NONE, 0, NULL },
	{ "Handle:0x81000001", TPMKEY_NONE, 0, NULL },		/* the scheme is lower case */
	{ "", TPMKEY_NONE, 0, NULL },
};

static void
test_ref_parse(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
		const struct ref_case *c = &ref_cases[i];
		char err[256] = "";
		uint32_t h = 0;
		int r = tpmkey_ref_parse(c->ref, &h, err, sizeof(err));

		if (r != c->want)
			fail_msg("%s: got %d, want %d (%s)", c->ref, r, c->want, err);
		if (r == TPMKEY_HANDLE && h != c->handle)
			fail_msg("%s: handle 0x%08x, want 0x%08x", c->ref, h, c->handle);
		if (r == -1 && strstr(err, c->want_err) == NULL)
			fail_msg("%s: err \"%s\" lacks \"%s\"", c->ref, err, c->want_err);
	}
	assert_int_equal(tpmkey_ref_parse(NULL, NULL, NULL, 0), TPMKEY_NONE);
}

struct pem_case {
	const char	*name;
	const char	*text;
	int		 want;
};

static const struct pem_case pem_cases[] = {
	{ "TSS2 header", "-----BEGIN TSS2 PRIVATE KEY-----\nMIHw\n", 1 },
	{ "TSS2 header CRLF", "-----BEGIN TSS2 PRIVATE KEY-----\r\n", 1 },
	{ "leading blank line", "\n-----BEGIN TSS2 PRIVATE KEY-----\n", 1 },
	{ "header only", "-----BEGIN TSS2 PRIVATE KEY-----", 1 },
	{ "PKCS#8", "-----BEGIN PRIVATE KEY-----\nMIGH\n", 0 },
	{ "EC private key", "-----BEGIN EC PRIVATE KEY-----\n", 0 },
	{ "truncated header", "-----BEGIN TSS2 PRIVATE KE", 0 },
	{ "header with a suffix", "-----BEGIN TSS2 PRIVATE KEY-----X\n", 0 },
	{ "text before", "junk\n-----BEGIN TSS2 PRIVATE KEY-----\n", 0 },
	{ "empty", "", 0 },
};

static void
test_pem_is_tss2(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pem_cases) / sizeof(pem_cases[0]); i++) {
		const struct pem_case *c = &pem_cases[i];

		if (tpmkey_pem_is_tss2(c->text, strlen(c->text)) != c->want)
			fail_msg("%s: want %d", c->name, c->want);
	}
}

struct tcti_case {
	const char	*name;
	const char	*opt, *env;
	int		 have_device;
	const char	*want;		/* NULL: error */
};

static const struct tcti_case tcti_cases[] = {
	{ "option wins", "swtpm:path=/a", "swtpm:path=/b", 1, "swtpm:path=/a" },
	{ "env next", NULL, "swtpm:path=/b", 1, "swtpm:path=/b" },
	{ "empty option = none", "", "mssim:host=127.0.0.1", 0, "mssim:host=127.0.0.1" },
	{ "device last", NULL, NULL, 1, "device:/dev/tpmrm0" },
	{ "empty env, device", NULL, "", 1, "device:/dev/tpmrm0" },
	{ "nothing configured", NULL, NULL, 0, NULL },
	{ "all empty", "", "", 0, NULL },
};

static void
test_tcti_choose(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tcti_cases) / sizeof(tcti_cases[0]); i++) {
		const struct tcti_case *c = &tcti_cases[i];
		char out[TPMKEY_TCTI_MAX] = "", err[256] = "";
		int r = tpmkey_tcti_choose(c->opt, c->env, c->have_device, out, sizeof(out),
		    err, sizeof(err));

		if (c->want == NULL) {
			if (r != -1 || strstr(err, "no TPM configured") == NULL)
				fail_msg("%s: got %d \"%s\", want the no-TPM error", c->name, r,
				    err);
		} else if (r != 0 || strcmp(out, c->want) != 0)
			fail_msg("%s: got %d \"%s\", want \"%s\" (%s)", c->name, r, out,
			    c->want, err);
	}
}

/* A key file is a TPM key by its first line; a handle by its prefix; else not ours. */
static void
test_ref_kind(void **state)
{
	char dir[] = "/tmp/lk-tpmkey.XXXXXX", tss[64], p8[64];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(tss, sizeof(tss), "%s/tss.pem", dir);
	snprintf(p8, sizeof(p8), "%s/p8.pem", dir);
	assert_non_null(f = fopen(tss, "w"));
	fputs("-----BEGIN TSS2 PRIVATE KEY-----\nMIHw\n-----END TSS2 PRIVATE KEY-----\n", f);
	fclose(f);
	assert_non_null(f = fopen(p8, "w"));
	fputs("-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	assert_int_equal(tpmkey_ref_kind(tss), TPMKEY_FILE);
	assert_int_equal(tpmkey_ref_kind(p8), TPMKEY_NONE);
	assert_int_equal(tpmkey_ref_kind("handle:0x81000001"), TPMKEY_HANDLE);
	assert_int_equal(tpmkey_ref_kind("handle:0x01"), TPMKEY_NONE);	/* loader says why */
	assert_int_equal(tpmkey_ref_kind("/nonexistent/key.pem"), TPMKEY_NONE);
	assert_int_equal(tpmkey_ref_kind(NULL), TPMKEY_NONE);
	/* without an open TPM nothing loads, and the error says so */
	{
		char err[256] = "";

		assert_null(tpmkey_load(tss, err, sizeof(err)));
		assert_non_null(strstr(err, "no TPM is open"));
		assert_null(tpmkey_new_p256(err, sizeof(err)));
		assert_null(tpmkey_tcti());
	}
	unlink(tss);
	unlink(p8);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_parse),
		cmocka_unit_test(test_pem_is_tss2),
		cmocka_unit_test(test_tcti_choose),
		cmocka_unit_test(test_ref_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
