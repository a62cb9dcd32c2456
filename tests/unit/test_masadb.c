/*
 * Unit tests for enroll/store/masadb.c (the MASA's sales records, issued vouchers, audit) and the
 * voucher part of the registry (schema v2: registry_voucher_add/_status/_get).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enroll/store/masadb.h"
#include "enroll/store/registry.h"

struct fx {
	char	dir[64];
	char	path[128];
	char	err[256];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/lk-masadb-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

struct seen {
	int	n;
	char	fp[80];
	size_t	len;
};

static int
sales_cb(const unsigned char *der, size_t len, const char *fp, void *arg)
{
	struct seen *s = arg;

	(void)der;
	s->n++;
	s->len = len;
	snprintf(s->fp, sizeof(s->fp), "%s", fp);
	return 0;
}

static int
voucher_cb(const struct masadb_voucher *v, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->fp, sizeof(s->fp), "%s", v->nonce ? v->nonce : "(none)");
	return 0;
}

static void
test_masadb(void **state)
{
	struct fx *fx = *state;
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct masadb *db;
	struct masadb_voucher v;
	struct seen s;

	snprintf(fx->path, sizeof(fx->path), "%s/masa.db", fx->dir);
	/* Missing without CREATE: refused. */
	assert_null(masadb_open(fx->path, 0, fx->err, sizeof(fx->err)));
	db = masadb_open(fx->path, MASADB_CREATE, fx->err, sizeof(fx->err));
	assert_non_null(db);
	assert_int_equal(masadb_authorize(db, "LK01", der, sizeof(der), "sha256:aa", "t",
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(masadb_authorize(db, "LK01", der, sizeof(der), "sha256:aa", "t",
	    fx->err, sizeof(fx->err)), 1);
	assert_int_equal(masadb_authorize(db, "", der, sizeof(der), "sha256:aa", "t",
	    fx->err, sizeof(fx->err)), -1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(masadb_sales_foreach(db, "LK01", sales_cb, &s, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.fp, "sha256:aa");
	assert_int_equal(s.len, sizeof(der));
	memset(&s, 0, sizeof(s));
	assert_int_equal(masadb_sales_foreach(db, "LK02", sales_cb, &s, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(s.n, 0);

	memset(&v, 0, sizeof(v));
	v.serial = "LK01";
	v.domain_ca_fp = "sha256:aa";
	v.nonce = "N1";
	v.assertion = "logged";
	v.issued_at = 1700000000;
	v.der = der;
	v.len = sizeof(der);
	assert_int_equal(masadb_voucher_add(db, &v, "{}", fx->err, sizeof(fx->err)), 0);
	v.der = NULL;
	assert_int_equal(masadb_voucher_add(db, &v, "{}", fx->err, sizeof(fx->err)), -1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(masadb_voucher_foreach(db, "LK01", voucher_cb, &s, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.fp, "N1");
	assert_int_equal(masadb_audit(db, "masa", "voucher-refused", "LK02", "why", NULL,
	    fx->err, sizeof(fx->err)), 0);
	masadb_close(db);
	/* Reopens without CREATE. */
	db = masadb_open(fx->path, 0, fx->err, sizeof(fx->err));
	assert_non_null(db);
	masadb_close(db);
	masadb_close(NULL);
}

static void
test_registry_voucher(void **state)
{
	struct fx *fx = *state;
	static const unsigned char der[] = { 0x30, 0x00 };
	struct registry *reg;
	struct registry_voucher v, got;
	int64_t id = 0, bad;

	snprintf(fx->path, sizeof(fx->path), "%s/registry.db", fx->dir);
	reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST, fx->err,
	    sizeof(fx->err));
	assert_non_null(reg);
	assert_int_equal(registry_voucher_get(reg, "LK01", &got, fx->err, sizeof(fx->err)), 0);
	/* Status before any voucher: audited, reported as 1. */
	assert_int_equal(registry_voucher_status(reg, "LK01", "voucher", 0, "no voucher yet",
	    "device", NULL, fx->err, sizeof(fx->err)), 1);
	memset(&v, 0, sizeof(v));
	snprintf(v.serial, sizeof(v.serial), "LK01");
	snprintf(v.masa_url, sizeof(v.masa_url), "https://masa.example");
	snprintf(v.nonce, sizeof(v.nonce), "N1");
	snprintf(v.assertion, sizeof(v.assertion), "logged");
	snprintf(v.pinned_fp, sizeof(v.pinned_fp), "sha256:bb");
	assert_int_equal(registry_voucher_add(reg, &v, der, sizeof(der), "registrar", "{}", &id,
	    fx->err, sizeof(fx->err)), 0);
	assert_true(id > 0);
	assert_int_equal(registry_voucher_add(reg, &v, NULL, 0, "registrar", "{}", &id,
	    fx->err, sizeof(fx->err)), -1);
	assert_int_equal(registry_voucher_status(reg, "LK01", "voucher", 1, NULL, "device",
	    NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_voucher_status(reg, "LK01", "enroll", 0, "CSR refused",
	    "device", "{\"x\":1}", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_voucher_status(reg, "LK01", "bogus", 0, NULL, "device",
	    NULL, fx->err, sizeof(fx->err)), -1);
	assert_int_equal(registry_voucher_get(reg, "LK01", &got, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(got.masa_url, "https://masa.example");
	assert_string_equal(got.nonce, "N1");
	assert_string_equal(got.pinned_fp, "sha256:bb");
	assert_string_equal(got.voucher_status, "success");
	assert_string_equal(got.enroll_status, "failure");
	assert_string_equal(got.enroll_reason, "CSR refused");
	/* Every step is in the hash-chained audit log. */
	assert_int_equal(registry_audit_verify(reg, &bad, fx->err, sizeof(fx->err)), 0);
	registry_close(reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_masadb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_voucher, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
