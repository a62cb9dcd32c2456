/*
 * keyref: a private key named by reference, wherever it lives.
 *
 * A reference is either a PEM file path (pki_key_read()) or an RFC 7512 PKCS#11 URI:
 *
 *   pkcs11:token=LABEL;object=LABEL[;id=%01%02][;type=private]
 *          [?pin-source=file:/path|/path][&pin-value=PIN][&module-path=/path/module.so]
 *
 * Path attributes (RFC 7512 §2.3): token, object, id (bytes, percent-encoded), type (only
 * "private"). Query attributes: pin-source (a file holding the PIN; "file:" URI or absolute
 * path; the first line, without its newline), pin-value, module-path (the PKCS#11 module;
 * default KEYREF_DEFAULT_MODULE, p11-kit's proxy). Every value is percent-decoded (§2.3:
 * pct-encoded). An attribute given twice, an attribute we do not support (manufacturer,
 * serial, slot-id ...: ignoring one would widen the match), pin-source with pin-value, and
 * a URI without token or without both object and id are errors. A pin-source file that
 * group or others may read is refused (it must be 0600 or 0400, owned by the reader).
 *
 * The key is used through OpenSSL 3's ENGINE interface with libp11's engine (Debian
 * libengine-pkcs11-openssl; Debian 12 has no pkcs11-provider): the private key stays in the
 * token, the returned EVP_PKEY signs through it (X509_sign, X509_CRL_sign, OCSP_basic_sign,
 * EVP_DigestSign). Before the engine sees the URI, keyref opens the module itself (dlopen,
 * PKCS#11 v2.40 C_* calls) to name exactly what is wrong: "token not found", "PIN
 * incorrect", "object not found". The engine is loaded once per process and released when
 * the last key loaded through it is freed. Not thread-safe: load keys before threads.
 *
 * Secrets: a PIN never appears in an error message; errors name the URI without its
 * pin-value (keyref_display()). PIN buffers are cleansed after use. Nothing falls back to a
 * file: a pkcs11: reference that fails is an error.
 *
 * Every function that can fail returns NULL or -1 with one line in err (errlen bytes).
 */
#ifndef LATCHKEY_KEYREF_H
#define LATCHKEY_KEYREF_H

#include <stddef.h>
#include <openssl/types.h>

#define KEYREF_DEFAULT_MODULE	"p11-kit-proxy.so"
#define KEYREF_LABEL_MAX	128	/* token (32 in PKCS#11) and object labels, decoded */
#define KEYREF_ID_MAX		64
#define KEYREF_PATH_MAX		1024
#define KEYREF_PIN_MAX		256

struct keyref_uri {
	char		token[KEYREF_LABEL_MAX + 1];
	char		object[KEYREF_LABEL_MAX + 1];	/* "" when not given */
	unsigned char	id[KEYREF_ID_MAX];
	size_t		id_len;				/* 0 when not given */
	char		pin_source[KEYREF_PATH_MAX];	/* a file path ("" when none) */
	char		pin_value[KEYREF_PIN_MAX + 1];
	int		has_pin_value;
	char		module_path[KEYREF_PATH_MAX];	/* "" when not given */
};

/* 1 when ref is a PKCS#11 URI (starts with "pkcs11:", case-insensitive scheme), else 0. */
int	keyref_is_pkcs11(const char *ref);
/* Parse a PKCS#11 URI (rules above) into *u; 0, or -1 with err (never the PIN). */
int	keyref_uri_parse(const char *uri, struct keyref_uri *u, char *err, size_t errlen);
/* Wipe *u (the PIN). */
void	keyref_uri_clear(struct keyref_uri *u);
/* ref for messages: a pkcs11: URI with pin-value's value replaced by "***"; a path as is. */
void	keyref_display(const char *ref, char *out, size_t outlen);

/*
 * Load the private key ref names (a PEM path, or a pkcs11: URI: the module opened, the token
 * found, logged in with the PIN, the one private key that matches found). The caller frees
 * the key (EVP_PKEY_free); for a token key that also lets the engine go when it was the last.
 */
EVP_PKEY *keyref_load(const char *ref, char *err, size_t errlen);
/*
 * Generate a key pair inside the token uri names (type "p256", or NULL for it: EC P-256,
 * the only type so far), the private key CKA_SENSITIVE, not CKA_EXTRACTABLE, both objects
 * labelled object= and carrying id= (random 16 bytes when the URI has none: the engine finds
 * the public half by it). Refuses when a private key matching uri exists already. Returns
 * the new key loaded as keyref_load() would, or NULL with err.
 */
EVP_PKEY *keyref_generate(const char *uri, const char *type, char *err, size_t errlen);

/*
 * SoftHSM2 2.6 (its file store) is not safe for several processes using one token at once
 * (SoftHSMv2 issue #757, "Token integrity check failed"; tokens vanish, crashes): latchkeyd
 * has a signer per worker. keyref therefore serialises every use of a module across
 * processes with an exclusive flock(2) on the module's file: keyref_load() and
 * keyref_generate() hold it themselves; a caller signing with a token key takes it around
 * the operation: lock = keyref_lock(key); ...sign...; keyref_unlock(lock). For a file key
 * keyref_lock() returns -1 and keyref_unlock(-1) does nothing.
 */
int	keyref_lock(EVP_PKEY *key);
void	keyref_unlock(int lock);

/*
 * One signature of a fixed text with key (under keyref_lock): whether this process, as the
 * user it runs as now, can sign with it. A token key its user cannot use (SoftHSM2 reads
 * its token directory at every operation) fails here. 0 it can; -1 it cannot, with err
 * "<prefix><ref, as keyref_display() shows it> cannot sign as user <user> (...)".
 */
int	keyref_probe(EVP_PKEY *key, const char *ref, const char *prefix, const char *user,
	    char *err, size_t errlen);

#endif
