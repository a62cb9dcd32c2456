/* chanbind: see chanbind.h. */
#include "enroll/common/chanbind.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

static const char exporter_label[] = "EXPORTER-Channel-Binding";	/* RFC 9266 §2 */

const char *
chanbind_type(SSL *ssl)
{
	return SSL_version(ssl) >= TLS1_3_VERSION ? "tls-exporter" : "tls-unique";
}

int
chanbind_get(SSL *ssl, int is_server, unsigned char out[CHANBIND_MAX])
{
	size_t n;

	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return -1;
	if (SSL_version(ssl) >= TLS1_3_VERSION) {
		/* RFC 9266 §2: empty context (TLS 1.3 treats no context as empty). */
		if (SSL_export_keying_material(ssl, out, 32, exporter_label,
		    sizeof(exporter_label) - 1, NULL, 0, 0) != 1)
			return -1;
		return 32;
	}
	/*
	 * RFC 5929 §3.1: tls-unique is the first Finished message: the client's on a full
	 * handshake, the server's on an abbreviated (resumed) one.
	 */
	if (SSL_session_reused(ssl) == is_server)
		n = SSL_get_finished(ssl, out, CHANBIND_MAX);
	else
		n = SSL_get_peer_finished(ssl, out, CHANBIND_MAX);
	if (n == 0 || n > CHANBIND_MAX)
		return -1;
	return (int)n;
}

int
chanbind_b64(SSL *ssl, int is_server, char out[CHANBIND_B64MAX])
{
	unsigned char raw[CHANBIND_MAX];
	int n;

	if ((n = chanbind_get(ssl, is_server, raw)) < 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, raw, n);
	return 0;
}
