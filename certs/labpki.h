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
 *   devices/<serial>/idevid.key     the device key
 *   devices/<serial>/masa-anchor.pem  copy of masa-ca.pem (the factory MASA anchor). Not the
 *                                   root: the root also issues every IDevID, and a device
 *                                   must not trust another device to sign its voucher.
 * Keys are key_type (NULL = P-256), written 0600. Serials are "LK" + 10 random uppercase hex.
 * Never overwrites an existing key: fails with a clear err instead.
 *
 * domainca_create() writes under dir: domain-ca.pem/.key (CA:TRUE pathlen 0, CN "<domain>
 * Domain CA", 10 y), registrar.pem/.key (signed by the domain CA, 2 y, EKU serverAuth,
 * clientAuth and id-kp-cmcRA, the mark of a registrar that pledges and the MASA require
 * (RFC 8995 §5.5); SAN: IP of listen_host when it is an address else DNS, plus DNS
 * "registrar.<domain>" and "localhost"). Same overwrite rule.
 *
 * domainca_reissue_registrar() upgrades an existing dir (one made by an older init, whose
 * registrar certificate lacks id-kp-cmcRA): it reads domain-ca.pem/.key and
 * registrar.pem/.key, checks that the keys match and that the registrar certificate was
 * issued by the domain CA, and issues a new registrar.pem with the same subject,
 * subjectAltName and key under the profile above (new serial, 2 y). The old certificate is
 * kept as registrar.pem.old (its path in old). The key is not changed.
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
	char	manufacturer_ca[LABPKI_PATH];
	char	manufacturer_ca_key[LABPKI_PATH];
	char	manufacturer_ica[LABPKI_PATH];
	char	manufacturer_ica_key[LABPKI_PATH];
	char	masa_cert[LABPKI_PATH];
	char	masa_key[LABPKI_PATH];
	char	masa_ca[LABPKI_PATH];		/* the MASA CA: the devices' masa-anchor.pem */
	char	masa_ca_key[LABPKI_PATH];
	size_t	ndevices;
	struct labpki_device *devices;	/* owned; labpki_result_free() */
};

int	labpki_create(const char *outdir, unsigned ndevices, const char *masa_url,
	    const char *key_type, struct labpki_result *res, char *err, size_t errlen);
void	labpki_result_free(struct labpki_result *res);

struct domainca_files {
	char	ca_cert[LABPKI_PATH];
	char	ca_key[LABPKI_PATH];
	char	tls_cert[LABPKI_PATH];
	char	tls_key[LABPKI_PATH];
};

int	domainca_create(const char *dir, const char *domain, const char *listen_host,
	    const char *key_type, struct domainca_files *out, char *err, size_t errlen);
int	domainca_reissue_registrar(const char *dir, struct domainca_files *out, char *old,
	    size_t oldlen, char *err, size_t errlen);

#endif
