/*
 * fuzz_vici: libFuzzer target for the VICI codec (enroll/latch/vici.c). The input is one packet
 * payload (type byte, name, message) as charon would send it after the length prefix.
 * When it decodes and carries a message, the tree is encoded again; that encoding must
 * equal the message bytes of the input (the format has one encoding per tree) and must
 * parse again. A failed decode must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/latch/vici.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vici_packet pkt;
	struct vici_node *again;
	struct vici_buf *b;
	const unsigned char *enc;
	size_t len, off;
	char err[256];

	err[0] = '\0';
	if (vici_packet_decode(data, size, &pkt, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (pkt.msg != NULL) {
		off = size;
		if ((b = vici_node_encode(pkt.msg)) == NULL)
			abort();
		if (vici_buf_error(b) != NULL)
			abort();
		enc = vici_buf_data(b, &len);
		if (len > size)
			abort();
		off = size - len;
		if (memcmp(data + off, enc, len) != 0)
			abort();
		if ((again = vici_msg_parse(enc, len, err, sizeof(err))) == NULL)
			abort();
		vici_node_free(again);
		vici_buf_free(b);
		(void)vici_get_str(pkt.msg, "success");
	}
	vici_packet_clear(&pkt);
	return 0;
}
