/*
 * labpki: a lab manufacturer PKI and the owner domain's CA, made with OpenSSL's C API.
 *
 * labpki_create() writes, under outdir (created 0755 if missing):
 *   manufacturer-ca.pem / .key      manufacturer root CA (10 y, CA:TRUE, keyCertSign|cRLSign)
 *   manufacturer-ica.pem / .key     IDevID issuing CA (signed by the root, pathlen 0)
 *   masa-ca.pem / .key              MASA CA (signed by the root, CA:TRUE pathlen 0,
 *                                   keyCertSign|cRLSign): issues the MASA signing
 *                                   certificate and nothing else, so it is the devices'
 *                                   MASA trust anchor (RFC 8995 §5.6.1, voucher.h)
 *   masa.pem / masa.key             MASA voucher-signing certificate (signed by the MASA CA;
 *                                   CA:FALSE, KU digitalSignature, EKU none, no subject
 *                                   serialNumber) followed by the MASA CA, the chain the
 *                                   MASA puts into its vouchers (masa-cert of latchkeyd)
 *   devices/<serial>/idevid.pem     IDevID leaf followed by the issuing CA (the chain a device
 *                                   sends), 802.1AR profile: subject serialNumber=<serial>,
 *                                   CN=<serial>, SAN otherName hardwareModuleName
 *                                   {PKI_OID_LAB_HWTYPE, <serial>}, CA:FALSE,
 *                                   KU digitalSignature, EKU clientAuth, SKI/AKI, notAfter
 *                                   99991231235959Z (802.1AR §8.5), id-pe-masa-url when
 *                                   masa_url != NULL
 *   devices/<serial>/idevid.key     the device key; with opts->tpm_keys the key is made
 *                                   inside the TPM (P-256; the caller opened it with
 *                                   tpmkey_open()) and this file is its TPM-wrapped
 *                                   "TSS2 PRIVATE KEY" blob (certs/tpmkey.h)
 *   devices/<serial>/masa-anchor.pem  copy of masa-ca.pem (the factory MASA anchor). Not the
 *                                   root: the root also issues every IDevID, and a device
 *                                   must not trust another device to sign its voucher.
 *   masa-tls.pem / masa-tls.key     the MASA's TLS server certificate (signed by the root, 2 y,
 *                                   CA:FALSE, EKU serverAuth, CN "Latchkey Lab MASA TLS"):
 *                                   what a registrar verifies under the manufacturer CA when
 *                                   it posts a voucher-request (latchkeyd(8) masa-ca). SAN:
 *                                   the masa_san entries and the host of masa_url; when
 *                                   these name nothing, labpki_san_local()'s names.
 *   serials.txt                     the device serials, one a line, in the order they were
 *                                   made (latchkeyctl claim --file reads it)
 * Keys are key_type (NULL = P-256), written 0600. Serials are "LK" + 10 random uppercase hex.
 * Never overwrites an existing key: fails with a clear err instead.
 *
 * labpki_add() extends a lab made by labpki_create(): opts->ndevices more devices (serials
 * not used in the lab yet; existing devices, keys and CAs untouched), and masa-tls.pem/.key
 * when the lab has none (a lab made before they existed). New devices get the lab's key
 * type and the masa_url of its existing IDevIDs unless opts says otherwise. res lists every
 * device of the lab: serials.txt's order, then devices it does not name (by IDevID time),
 * then the new ones (the last res->nadded); serials.txt is rewritten in that order.
 *
 * domainca_create() writes under dir: domain-ca.pem/.key (CA:TRUE pathlen 0, CN "<domain>
 * Domain CA", 10 y), registrar.pem/.key (signed by the domain CA, 2 y, EKU serverAuth,
 * clientAuth and id-kp-cmcRA, the mark of a registrar that pledges and the MASA require
 * (RFC 8995 §5.5); SAN: IP of listen_host when it is an address else DNS, plus DNS
 * "registrar.<domain>" and "localhost"). Same overwrite rule. domainca_create_san() is the
 * same with the SAN given: the san entries, then "registrar.<domain>".
 *
 * domainca_reissue_registrar() upgrades an existing dir (one made by an older init, whose
 * registrar certificate lacks id-kp-cmcRA): it reads domain-ca.pem/.key and
 * registrar.pem/.key, checks that the keys match and that the registrar certificate was
 * issued by the domain CA, and issues a new registrar.pem with the same subject,
 * subjectAltName and key under the profile above (new serial, 2 y). The old certificate is
 * kept as registrar.pem.old (its path in old). The key is not changed.
 * domainca_reissue_registrar_san() with nsan > 0 gives the new certificate the SAN san,
 * then the subject's CN when it is a DNS name ("registrar.<domain>"), instead of the old
 * SAN.
 *
 * No function here writes an unspecified address (0.0.0.0, ::) into a subjectAltName.
 */
#ifndef LATCHKEY_LABPKI_H
#define LATCHKEY_LABPKI_H

#include <limits.h>
#include <stddef.h>

#define LABPKI_PATH 4096

struct labpki_device {
	char	serial[64];
	char	cert[LABPKI_PATH];
	char	key[LABPKI_PATH];
	char	masa_anchor[LABPKI_PATH];
};

struct labpki_result {
	char	dir[LABPKI_PATH];		/* the lab, absolute */
	char	manufacturer_ca[LABPKI_PATH];
	char	manufacturer_ca_key[LABPKI_PATH];
	char	manufacturer_ica[LABPKI_PATH];
	char	manufacturer_ica_key[LABPKI_PATH];
	char	masa_cert[LABPKI_PATH];
	char	masa_key[LABPKI_PATH];
	char	masa_ca[LABPKI_PATH];		/* the MASA CA: the devices' masa-anchor.pem */
	char	masa_ca_key[LABPKI_PATH];
	char	masa_tls_cert[LABPKI_PATH];	/* the MASA's TLS server certificate */
	char	masa_tls_key[LABPKI_PATH];
	int	masa_tls_made;			/* written by this call (labpki_add) */
	char	serials[LABPKI_PATH];		/* serials.txt */
	size_t	ndevices;
	size_t	nadded;			/* devices made by this call: the last nadded */
	struct labpki_device *devices;	/* owned; labpki_result_free() */
};

struct labpki_opts {
	unsigned		 ndevices;	/* devices to make (labpki_add: to add) */
	const char		*masa_url;	/* id-pe-masa-url of new IDevIDs, or NULL */
	const char		*key_type;	/* NULL: p256 (labpki_add: the lab's) */
	int			 tpm_keys;	/* new IDevID keys in the open TPM (P-256) */
	const char *const	*masa_san;	/* masa-tls.pem SAN entries (labpki_san_check) */
	size_t			 nmasa_san;
	/* Called after each device made, with how many of ndevices are done; or NULL. */
	void			(*progress)(void *arg, size_t done, size_t total);
	void			*progress_arg;
	/* NULL: masa.key, a file; a pkcs11: URI (certs/keyref.h): the MASA's voucher-signing
	 * key is generated in that token (EC P-256) and res->masa_key is the URI. */
	const char		*masa_key_ref;
};

int	labpki_create(const char *outdir, unsigned ndevices, const char *masa_url,
	    const char *key_type, struct labpki_result *res, char *err, size_t errlen);
int	labpki_create_opts(const char *outdir, const struct labpki_opts *opts,
	    struct labpki_result *res, char *err, size_t errlen);
int	labpki_add(const char *dir, const struct labpki_opts *opts, struct labpki_result *res,
	    char *err, size_t errlen);
void	labpki_result_free(struct labpki_result *res);

/*
 * subjectAltName entries as latchkeyctl's --san takes them: a DNS name (LDH labels, at most
 * 253 characters, not all-numeric at the end) or an IPv4 or IPv6 address (an IPv6 address
 * may be bracketed). Never an unspecified address (0.0.0.0, ::): it names no host.
 */
#define LABPKI_SAN_MAX	32	/* entries in one certificate */
#define LABPKI_SAN_LEN	256	/* bytes of one entry as text, NUL included */
/* 0 when s is such an entry; -1 with err saying why not. */
int	labpki_san_check(const char *s, char *err, size_t errlen);
/* 1 when s is the unspecified IPv4 or IPv6 address ("0.0.0.0", "::", "[::]"), else 0. */
int	labpki_san_unspecified(const char *s);
/* 1 when s is an IP address (an IPv6 one may be bracketed), 0 when not (a DNS name). */
int	labpki_san_is_ip(const char *s);
/*
 * This host's names for a server listening on a wildcard address: "localhost", "127.0.0.1",
 * "::1", and gethostname() when it is a DNS name other than localhost. Returns how many were
 * put into names (at most max).
 */
size_t	labpki_san_local(char names[][LABPKI_SAN_LEN], size_t max);
/*
 * The DNS names and IP addresses (as text) of the subjectAltName of the first certificate
 * in path, in order, into names[0..*n) (at most max). -1 with err when the file cannot be
 * read, or the SAN holds more entries or another kind (then nothing here can rewrite it).
 */
int	labpki_cert_san(const char *path, char names[][LABPKI_SAN_LEN], size_t max,
	    size_t *n, char *err, size_t errlen);

struct domainca_files {
	char	ca_cert[LABPKI_PATH];
	char	ca_key[LABPKI_PATH];
	char	tls_cert[LABPKI_PATH];
	char	tls_key[LABPKI_PATH];
};

int	domainca_create(const char *dir, const char *domain, const char *listen_host,
	    const char *key_type, struct domainca_files *out, char *err, size_t errlen);
int	domainca_create_san(const char *dir, const char *domain, const char *const *san,
	    size_t nsan, const char *key_type, struct domainca_files *out, char *err,
	    size_t errlen);
/*
 * domainca_create_san() with the domain CA's key named by ca_key_ref: NULL for the file
 * domain-ca.key, or a pkcs11: URI (certs/keyref.h): the key pair is generated inside that
 * token (EC P-256; key_type then applies to the registrar's key only), no key file is
 * written, and out->ca_key is the URI.
 */
int	domainca_create_ref(const char *dir, const char *domain, const char *const *san,
	    size_t nsan, const char *key_type, const char *ca_key_ref,
	    struct domainca_files *out, char *err, size_t errlen);
int	domainca_reissue_registrar(const char *dir, struct domainca_files *out, char *old,
	    size_t oldlen, char *err, size_t errlen);
int	domainca_reissue_registrar_san(const char *dir, const char *const *san, size_t nsan,
	    struct domainca_files *out, char *old, size_t oldlen, char *err, size_t errlen);
/* The same with the domain CA key named by ca_key_ref (a pkcs11: URI, certs/keyref.h) when
 * it is not NULL, instead of DIR/domain-ca.key; out->ca_key is then the URI as shown. */
int	domainca_reissue_registrar_ref(const char *dir, const char *const *san, size_t nsan,
	    const char *ca_key_ref, struct domainca_files *out, char *old, size_t oldlen,
	    char *err, size_t errlen);

/*
 * Domain CA rollover (RFC 7030 §4.1.3, the key update of RFC 4210 §4.4) of the domain in dir
 * (domain-ca.pem/.key, as init made it): a new key of the same type and a new self-signed
 * CA certificate with the same subject (NewWithNew), so that the two link certificates are
 * self-issued and chains through them stay within the CA's path length: NewWithOld (the new
 * key, signed by the old) and OldWithNew (the old key, signed by the new), both valid until
 * the old CA expires. Files in dir: domain-ca-previous.pem/.key (the old CA, moved aside),
 * domain-ca-rollover.pem (NewWithOld, then OldWithNew), then domain-ca.pem/.key replaced by
 * the new CA (keys 0600, each file written atomically). out gets the paths and both key
 * identifiers (pki_cert_kid).
 */
struct domainca_rollover {
	char	ca_cert[LABPKI_PATH], ca_key[LABPKI_PATH];
	char	prev_cert[LABPKI_PATH], prev_key[LABPKI_PATH];
	char	links[LABPKI_PATH];
	char	old_kid[132], new_kid[132];
	long	old_not_after;		/* the old CA's notAfter, seconds since the epoch */
};
/* The paths of dir's rollover files (what domainca_rollover writes), without writing. */
int	domainca_rollover_paths(const char *dir, struct domainca_rollover *out, char *err,
	    size_t errlen);
int	domainca_rollover(const char *dir, struct domainca_rollover *out, char *err,
	    size_t errlen);

#endif
