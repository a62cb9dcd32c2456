/*
 * testutil: what several unit tests share: removing a temporary tree, and a domain CA made
 * by domainca_create in a temporary directory of its own.
 */
#ifndef LATCHKEY_TESTUTIL_H
#define LATCHKEY_TESTUTIL_H

#include <openssl/types.h>

#include "certs/labpki.h"

/* Remove dir and everything below it (nftw, depth first, no links followed). */
int	tu_rmtree(const char *dir);
/* Whether the first 32 KiB of the file at path hold needle (0 when unreadable). */
int	tu_file_contains(const char *path, const char *needle);

struct tu_ca {
	char		 dir[64];
	X509		*cert;
	EVP_PKEY	*key;
	char		 cert_path[LABPKI_PATH];
};

/* A domain CA of key_type (NULL: P-256) in a fresh /tmp/<name>.XXXXXX; fails the test else. */
void	tu_ca_init(struct tu_ca *ca, const char *name, const char *key_type);
void	tu_ca_clear(struct tu_ca *ca);	/* frees it and removes its directory */

/*
 * A registry fixture for cmocka setup/teardown: tu_reg_setup makes a fresh
 * /tmp/<name>.XXXXXX and sets *state to a struct tu_reg whose path (registry.db inside it)
 * the test opens into reg; tu_reg_teardown closes reg and removes the directory.
 */
struct registry;
struct tu_reg {
	char		 dir[64];
	char		 path[128];
	char		 err[256];
	struct registry	*reg;
};
int	tu_reg_setup(void **state, const char *name);
int	tu_reg_teardown(void **state);

#endif
