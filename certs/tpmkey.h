/*
 * tpmkey: private keys that live in a TPM 2.0, through the tpm2-openssl provider ("tpm2").
 *
 * A TPM key is referred to either by
 *   - a "TSS2 PRIVATE KEY" PEM file: the key wrapped by the TPM's storage key, useless
 *     without that very TPM (no private key material is on disk), or
 *   - "handle:0xHHHHHHHH", a persistent handle (0x81000000..0x81FFFFFF, TPM 2.0 Part 1
 *     §29.3 / Part 2 table 28).
 * Anything else (a plain PEM file, a "pkcs11:" URI) is not ours: tpmkey_ref_kind() says
 * TPMKEY_NONE and the caller uses its other loaders.
 *
 * The TPM is reached through a TCTI string (libtss2): "device:/dev/tpmrm0",
 * "swtpm:path=/run/swtpm.sock", "swtpm:host=127.0.0.1,port=2321", "tabrmd:", ...
 * tpmkey_open() chooses it (explicit argument, else $TPM2OPENSSL_TCTI, else
 * device:/dev/tpmrm0 when that exists; never nothing silently), loads the "tpm2" provider
 * and then "default" into the default library context and makes one request to the TPM,
 * so an unreachable TPM is one clear start-up error naming the TCTI.
 *
 * Keys handed out (tpmkey_load, tpmkey_new_p256) are EC keys usable wherever a private
 * key is: SSL_CTX_use_PrivateKey, X509_REQ_sign, CMS. Only their ECDSA signatures happen
 * in the TPM (tpmkey.c explains the wrapper that makes this work with OpenSSL 3.0 and
 * tpm2-openssl 1.1); digests, verification, key exchange and random numbers stay with the
 * default provider, which tpmkey_open() makes the preferred one for the process
 * (default properties "?provider=default"). Keys are generated with explicit
 * properties, so a software key is never made in the TPM by accident.
 *
 * A process on swtpm without a resource manager must free every TPM EVP_PKEY (each holds
 * an object slot in the TPM until freed; /dev/tpmrm0 cleans up after a process itself).
 *
 * Library rules: nothing here prints or exits; -1/NULL with one line in err.
 */
#ifndef LATCHKEY_TPMKEY_H
#define LATCHKEY_TPMKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define TPMKEY_TCTI_MAX		512
#define TPMKEY_DEVICE		"/dev/tpmrm0"		/* the kernel's resource manager */
#define TPMKEY_TCTI_ENV		"TPM2OPENSSL_TCTI"	/* what tpm2-openssl reads */
#define TPMKEY_PEM_HEADER	"-----BEGIN TSS2 PRIVATE KEY-----"
#define TPMKEY_HANDLE_PREFIX	"handle:"

enum tpmkey_kind {
	TPMKEY_NONE = 0,	/* not a TPM reference (plain PEM file, pkcs11: URI, ...) */
	TPMKEY_FILE,		/* a TSS2 PRIVATE KEY PEM file */
	TPMKEY_HANDLE		/* handle:0x81xxxxxx */
};

/*
 * Pure parsing: "handle:0x81000001" -> TPMKEY_HANDLE (*handle set), a handle reference that
 * is malformed or outside the persistent range -> -1 with err; anything else ->
 * TPMKEY_NONE (the file is not looked at: see tpmkey_ref_kind()).
 */
int	tpmkey_ref_parse(const char *ref, uint32_t *handle, char *err, size_t errlen);
/* 1 when buf (len bytes, the start of a file) is a TSS2 PRIVATE KEY PEM, else 0. */
int	tpmkey_pem_is_tss2(const char *buf, size_t len);
/* TPMKEY_HANDLE, TPMKEY_FILE (the file starts with the TSS2 header) or TPMKEY_NONE
 * (also for a malformed handle and an unreadable file: the loader reports those). */
enum tpmkey_kind tpmkey_ref_kind(const char *ref);

/*
 * Pure: which TCTI to use. opt (an option) wins, then env ($TPM2OPENSSL_TCTI), then
 * "device:" TPMKEY_DEVICE when have_device; else -1 with "no TPM configured: ...".
 * An empty string counts as not given. Writes the choice to out. 0 or -1.
 */
int	tpmkey_tcti_choose(const char *opt, const char *env, int have_device, char *out,
	    size_t outlen, char *err, size_t errlen);

/*
 * Choose the TCTI (see above; tcti may be NULL), export it as $TPM2OPENSSL_TCTI, load the
 * providers "tpm2" and "default" (in that order) and ask the TPM for random bytes.
 * Idempotent (a second call with another TCTI fails). 0 or -1 with err naming the TCTI.
 */
int	tpmkey_open(const char *tcti, char *err, size_t errlen);
/* The TCTI tpmkey_open() chose, or NULL before a successful open. */
const char *tpmkey_tcti(void);
/* Unload the providers (end of process, for leak checkers). Safe without an open. */
void	tpmkey_close(void);

/* Load the key ref names (TSS2 file or handle). Needs tpmkey_open(). NULL with err. */
EVP_PKEY *tpmkey_load(const char *ref, char *err, size_t errlen);
/* Generate an ECDSA P-256 key inside the TPM (under its storage primary key). Needs
 * tpmkey_open(). NULL with err. */
EVP_PKEY *tpmkey_new_p256(char *err, size_t errlen);
/* Write key (a TPM key) as its TSS2 PRIVATE KEY PEM, 0600, atomically (pki_file_write);
 * refuses an existing path unless overwrite. 0 or -1. */
int	tpmkey_write(const char *path, EVP_PKEY *key, int overwrite, char *err,
	    size_t errlen);
/* 1 when key is held by the tpm2 provider, else 0. */
int	tpmkey_is_tpm(const EVP_PKEY *key);

#endif
