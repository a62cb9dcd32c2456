/*
 * bench_sign: the CA key's own cost, without TLS and HTTP (tests/bench/hsm.sh).
 *
 *   bench_sign SECONDS KEYREF
 *	loads the key KEYREF names (a PEM file or a pkcs11: URI, certs/keyref.h) and signs a
 *	fixed 300-byte text (an LDevID's TBSCertificate is about that long) with ECDSA SHA-256
 *	in a loop for SECONDS, each signature under keyref_lock() as the signer takes it.
 * Prints one line: "signs N seconds S rate R".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "certs/keyref.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	unsigned char tbs[300], sig[256];
	double secs, t0, t;
	unsigned long n = 0;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *key;
	size_t sl;
	char err[512];
	int lk, rc = 1;

	if (argc != 3 || (secs = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: bench_sign SECONDS KEYREF\n");
		return 2;
	}
	memset(tbs, 0x5a, sizeof(tbs));
	if ((key = keyref_load(argv[2], err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_sign: %s\n", err);
		return 1;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	t0 = now();
	do {
		sl = sizeof(sig);
		lk = keyref_lock(key);
		if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
		    EVP_DigestSign(ctx, sig, &sl, tbs, sizeof(tbs)) != 1) {
			keyref_unlock(lk);
			fprintf(stderr, "bench_sign: signature failed\n");
			goto out;
		}
		keyref_unlock(lk);
		EVP_MD_CTX_reset(ctx);
		n++;
	} while ((t = now() - t0) < secs);
	printf("signs %lu seconds %.2f rate %.1f\n", n, t, n / t);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return rc;
}
