/*
 * chanbind: the TLS channel binding carried in an EST CSR's challengePassword
 * (RFC 7030 §3.5). On TLS 1.3: tls-exporter (RFC 9266: label "EXPORTER-Channel-Binding",
 * empty context, 32 bytes). On TLS 1.2: tls-unique (RFC 5929: the first Finished message of
 * the connection; this is the client's on a full handshake, the server's on a resumed one).
 * The challengePassword value is the binding in base64 (RFC 4648 §4, with padding).
 */
#ifndef LATCHKEY_CHANBIND_H
#define LATCHKEY_CHANBIND_H

#include <stddef.h>
#include <openssl/types.h>

#define CHANBIND_MAX	64
#define CHANBIND_B64MAX	((CHANBIND_MAX + 2) / 3 * 4 + 1)

/* Raw binding of this connection; is_server says which side ssl is. Returns length or -1. */
int	chanbind_get(SSL *ssl, int is_server, unsigned char out[CHANBIND_MAX]);
/* Base64 text as it goes into challengePassword. Returns 0 or -1. */
int	chanbind_b64(SSL *ssl, int is_server, char out[CHANBIND_B64MAX]);
/* Name of the binding type used on this connection: "tls-exporter" or "tls-unique". */
const char *chanbind_type(SSL *ssl);

#endif
