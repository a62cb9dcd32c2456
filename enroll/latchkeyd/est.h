/*
 * est: the transport-independent parts of the EST server (RFC 7030): request routing,
 * media types and the csrattrs answer. Pure functions over bytes, fuzzed in
 * tests/fuzz/fuzz_est.c; latchkeyd.c glues them to libevent and TLS.
 */
#ifndef LATCHKEY_EST_H
#define LATCHKEY_EST_H

#include <stddef.h>

#define EST_PREFIX	"/.well-known/est"
#define EST_LABEL_MAX	64

#define LK_PREFIX	"/.well-known/latchkey"

enum est_op {
	EST_OP_CACERTS = 1,
	EST_OP_CSRATTRS,
	EST_OP_SIMPLEENROLL,
	EST_OP_SIMPLEREENROLL,
	/* latchkey's own resources under LK_PREFIX (no label) */
	LK_OP_STATUS,		/* GET: the binding state of the LDevID presented */
	LK_OP_CRL,		/* GET: the domain CA's CRL (DER, application/pkix-crl) */
	LK_OP_OCSP,		/* POST: OCSP (RFC 6960); GET .../ocsp/<base64> is routed apart */
	LK_OP_NETID,		/* POST: the device's network identifiers (enroll/common/netid.h) */
	LK_OP_POSTURE		/* POST: a signed posture report (enroll/common/posture.h) */
};

#define EST_CT_PKCS10	"application/pkcs10"
#define EST_CT_CERTS	"application/pkcs7-mime; smime-type=certs-only"
#define EST_CT_CSRATTRS	"application/csrattrs"

/*
 * Route a request path (no query) to an operation (RFC 7030 §3.2.2):
 * /.well-known/est/<op> or /.well-known/est/<label>/<op>, label = 1..64 of [A-Za-z0-9._-]
 * (a label is a path segment; RFC 7030 leaves the set to the server). A trailing '/' is not
 * accepted. Also /.well-known/latchkey/<op> (status, crl, ocsp, netid, posture) and
 * /.well-known/latchkey/crl/<hex>, one CA's CRL by its key identifier, which goes into
 * label. Returns 0 and fills op and label ("" when none), or -1 (404).
 */
int	est_route(const char *path, enum est_op *op, char label[EST_LABEL_MAX + 1]);
/* The HTTP method the operation takes: "GET" or "POST". */
const char *est_op_method(enum est_op op);
const char *est_op_name(enum est_op op);
/*
 * Does a Content-Type header value name the media type want? Compares type/subtype
 * case-insensitively (RFC 9110 §8.3.1), ignores parameters and surrounding whitespace.
 */
int	est_media_type_is(const char *header, const char *want);
/*
 * The CsrAttrs answer (RFC 7030 §4.5.2): challengePassword (a channel binding is wanted,
 * §3.5), an EC key on P-256, serialNumber in the subject and ecdsa-with-SHA256. DER bytes.
 */
const unsigned char *est_csrattrs_der(size_t *len);

#endif
