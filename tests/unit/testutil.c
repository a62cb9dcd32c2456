/* testutil: see testutil.h. */
#define _XOPEN_SOURCE_EXTENDED 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

int
tu_reg_setup(void **state, const char *name)
{
	struct tu_reg *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/registry.db", fx->dir);
	*state = fx;
	return 0;
}

int
tu_reg_teardown(void **state)
{
	struct tu_reg *fx = *state;

	registry_close(fx->reg);
	tu_rmtree(fx->dir);
	free(fx);
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
tu_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
tu_file_contains(const char *path, const char *needle)
{
	char	buf[32768];
	size_t	n;
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

void
tu_ca_init(struct tu_ca *ca, const char *name, const char *key_type)
{
	struct domainca_files f;
	char err[256];

	memset(ca, 0, sizeof(*ca));
	snprintf(ca->dir, sizeof(ca->dir), "/tmp/%s.XXXXXX", name);
	assert_non_null(mkdtemp(ca->dir));
	if (domainca_create(ca->dir, "example.test", "127.0.0.1", key_type, &f, err,
	    sizeof(err)) != 0)
		fail_msg("domainca_create %s: %s", key_type ? key_type : "p256", err);
	ca->cert = pki_cert_read(f.ca_cert, err, sizeof(err));
	ca->key = pki_key_read(f.ca_key, err, sizeof(err));
	assert_non_null(ca->cert);
	assert_non_null(ca->key);
	snprintf(ca->cert_path, sizeof(ca->cert_path), "%s", f.ca_cert);
}

void
tu_ca_clear(struct tu_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	ca->cert = NULL;
	ca->key = NULL;
	if (ca->dir[0] != '\0')
		tu_rmtree(ca->dir);
	ca->dir[0] = '\0';
}
