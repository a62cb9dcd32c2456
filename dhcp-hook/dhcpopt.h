/*
 * dhcpopt: latchkey's DHCP discovery options. Pure C, no Kea types: the Kea shim
 * (kea_hook.cc) and the agent (decoding what its DHCP client handed it) share it.
 *
 * SZTP redirect option (RFC 8572 §8.1 DHCPv4 option 143, §8.2 DHCPv6 option 136): the option
 * data of both is the same bootstrap-server-list (§8.3), a sequence of
 *
 *	uri-length	2 octets, network order
 *	URI		uri-length octets; the URI MUST use the "https" scheme (§8.3)
 *
 * Vendor-specific options carry the rest, under one enterprise number (default 32473, the
 * documentation number of RFC 5612):
 *
 *   DHCPv4 option 125, V-I Vendor-Specific Information (RFC 3925 §4): one or more
 *	enterprise-number 4 octets | data-len 1 octet | sub-options (data-len octets)
 *     where each sub-option is  code 1 octet | len 1 octet | data.
 *   DHCPv6 option 17, Vendor-specific Information (RFC 8415 §21.17): one enterprise per
 *     option instance:  enterprise-number 4 octets | sub-options
 *     where each sub-option is  code 2 octets | len 2 octets | data.
 *
 * latchkey's sub-option codes (the same numbers in both families):
 *
 *   1  posture server URI     https URI, one URI per sub-option, repeatable, in order
 *   2  update server URI      https URI, one URI per sub-option, repeatable, in order
 *   3  registrar CA hint      "sha256:" + 64 hex digits, text, at most once: SHA-256 of the
 *                             domain CA certificate (DER). A hint only: anyone on the link can
 *                             send DHCP answers, so the agent never trusts it alone.
 *
 * Decoders ignore sub-options with other codes (later versions may add some) and the data of
 * other enterprises.
 *
 * Size (DESIGN.md "Facts measured"): Kea 2.2 splits an option longer than 255 octets
 * (RFC 3396) but ignores the client's maximum message size, and a 376-octet option 143 left
 * udhcpc without a lease. So the configuration is refused when any DHCPv4 option's data would
 * exceed DHCPOPT_V4_OPTION_MAX (255: Kea never needs to split), and a warning is given when
 * both DHCPv4 options together (with their code and length octets) exceed
 * DHCPOPT_V4_TOTAL_WARN: a client that accepts only the RFC 2131 minimum of 576 octets has
 * 312 octets of options, and the server's own options (lease time, server id, mask, router,
 * DNS...) need about 60 of them. At run time dhcpopt_select() also leaves out what would not
 * fit in the client's maximum DHCP message size (option 57; 576 when absent, RFC 2131 §2).
 * The same limits are applied to the configuration whatever the server's family, so one set
 * of hook parameters works in kea-dhcp4 and kea-dhcp6 alike.
 *
 * Errors: functions returning int give 0 on success and -1 on failure with one line in err
 * (errlen bytes, may be NULL). Nothing here logs or exits.
 */
#ifndef LATCHKEY_DHCPOPT_H
#define LATCHKEY_DHCPOPT_H

#include <stddef.h>
#include <stdint.h>

/* Option codes. */
#define DHCPOPT_V4_SZTP_REDIRECT	143	/* RFC 8572 §8.1 */
#define DHCPOPT_V6_SZTP_REDIRECT	136	/* RFC 8572 §8.2 */
#define DHCPOPT_V4_VIVSO		125	/* RFC 3925 §4 */
#define DHCPOPT_V6_VENDOR_OPTS		17	/* RFC 8415 §21.17 */
#define DHCPOPT_V4_MAX_MSG_SIZE		57	/* RFC 2132 §9.10 */

/* latchkey's vendor sub-option codes (see above). */
#define DHCPOPT_SUB_POSTURE_URI		1
#define DHCPOPT_SUB_UPDATE_URI		2
#define DHCPOPT_SUB_CA_FINGERPRINT	3

#define DHCPOPT_ENTERPRISE_DEFAULT	32473	/* RFC 5612 documentation number */
#define DHCPOPT_REVOKED_CLASS_DEFAULT	"latchkey-revoked"

/* Size limits (see above). */
#define DHCPOPT_V4_OPTION_MAX	255	/* data octets of one DHCPv4 option, never split */
#define DHCPOPT_V4_TOTAL_WARN	256	/* both DHCPv4 options, code + len + data */
#define DHCPOPT_V6_OPTION_MAX	1024	/* data octets of one DHCPv6 option */
#define DHCPOPT_V4_MIN_MSG	576	/* RFC 2131 §2: every client accepts this much */
#define DHCPOPT_IP_UDP_HDR	28	/* IPv4 + UDP headers inside the max message size */
/* Longest configured URI: it must fit alone in one DHCPv4 vendor sub-option inside a
 * 255-octet option 125 (255 - 4 enterprise - 1 data-len - 2 sub-option header). */
#define DHCPOPT_URI_MAX		248
/* Longest URI a decoder accepts (DHCPv6 options can be longer than ours). */
#define DHCPOPT_URI_DECODE_MAX	2048
#define DHCPOPT_LIST_MAX	32	/* URIs in one list */
#define DHCPOPT_FINGERPRINT_LEN	71	/* "sha256:" + 64 hex digits */
#define DHCPOPT_CLASS_MAX	128	/* longest client class name */

/*
 * A list of NUL-terminated URIs. Owns its strings (dhcpopt_list_free()); n == 0 is an
 * empty list with v possibly NULL.
 */
struct dhcpopt_list {
	char	**v;
	size_t	  n;
};

/*
 * The content of latchkey's vendor option (what the decoders give back). Owns everything:
 * dhcpopt_vendor_free().
 */
struct dhcpopt_vendor {
	uint32_t		 enterprise;
	struct dhcpopt_list	 posture;
	struct dhcpopt_list	 update;
	char			*ca_fingerprint;	/* NULL when absent */
};

void	 dhcpopt_list_free(struct dhcpopt_list *l);	/* frees the strings, not l */
void	 dhcpopt_vendor_free(struct dhcpopt_vendor *v);	/* frees v too; NULL is fine */

/*
 * Check one URI of len octets (no NUL needed) against the rules for both sides: 1..max
 * octets, printable US-ASCII without space (0x21-0x7E), scheme "https" (case-insensitive,
 * RFC 3986 §3.1; required by RFC 8572 §8.3), and a non-empty authority after "https://".
 */
int	 dhcpopt_uri_check(const char *uri, size_t len, size_t max, char *err, size_t errlen);

/* Check a CA fingerprint hint: "sha256:" followed by exactly 64 hex digits (either case). */
int	 dhcpopt_fingerprint_check(const char *fp, size_t len, char *err, size_t errlen);

/*
 * RFC 8572 §8.3 bootstrap-server-list. dhcpopt_sztp_size() gives the encoded size of n URIs
 * (2 + strlen each). dhcpopt_sztp_encode() writes it into buf (cap octets), *outlen = size;
 * fails when a URI is empty or longer than 65535 octets, or cap is too small.
 */
size_t	 dhcpopt_sztp_size(const char *const *uris, size_t n);
int	 dhcpopt_sztp_encode(const char *const *uris, size_t n, uint8_t *buf, size_t cap,
	    size_t *outlen, char *err, size_t errlen);

/*
 * Decode len octets of option 143/136 data into *out (replaced; caller frees with
 * dhcpopt_list_free()). Rejects an empty list, a truncated entry, a zero-length URI, and any
 * URI failing dhcpopt_uri_check() with DHCPOPT_URI_DECODE_MAX, and more than
 * DHCPOPT_LIST_MAX entries. On failure *out is left empty.
 */
int	 dhcpopt_sztp_decode(const uint8_t *data, size_t len, struct dhcpopt_list *out,
	    char *err, size_t errlen);

/*
 * Vendor option encoders. The vendor content is given as lists of URIs and an optional
 * fingerprint (NULL: none). *_size() gives the encoded option data size (plain arithmetic,
 * no limit applied). *_encode() writes into buf (cap octets), *outlen = size; it fails when
 * an item is empty or does not fit its length field (DHCPv4: 255 octets per sub-option and
 * 255 for the enterprise's data-len; DHCPv6: 65535), or cap is too small.
 *   v4: enterprise | data-len | {code(1) len(1) data}...	(RFC 3925 §4)
 *   v6: enterprise | {code(2) len(2) data}...			(RFC 8415 §21.17)
 * Sub-options are written in this order: posture URIs, update URIs, fingerprint.
 */
size_t	 dhcpopt_vendor4_size(const struct dhcpopt_list *posture,
	    const struct dhcpopt_list *update, const char *fingerprint);
int	 dhcpopt_vendor4_encode(uint32_t enterprise, const struct dhcpopt_list *posture,
	    const struct dhcpopt_list *update, const char *fingerprint, uint8_t *buf,
	    size_t cap, size_t *outlen, char *err, size_t errlen);
size_t	 dhcpopt_vendor6_size(const struct dhcpopt_list *posture,
	    const struct dhcpopt_list *update, const char *fingerprint);
int	 dhcpopt_vendor6_encode(uint32_t enterprise, const struct dhcpopt_list *posture,
	    const struct dhcpopt_list *update, const char *fingerprint, uint8_t *buf,
	    size_t cap, size_t *outlen, char *err, size_t errlen);

/*
 * Vendor option decoders: find enterprise's data in option 125 (v4: walks every
 * enterprise block) or option 17 (v6: one enterprise) data of len octets. Returns 1 with
 * *out (caller frees with dhcpopt_vendor_free()) when found, 0 when the option is well formed
 * but holds no data for that enterprise (*out NULL), -1 with err when malformed: truncated
 * blocks or sub-options, a URI failing dhcpopt_uri_check(), a bad or repeated fingerprint,
 * more than DHCPOPT_LIST_MAX URIs in a list. Other enterprises' data is only checked for
 * framing.
 */
int	 dhcpopt_vendor4_decode(const uint8_t *data, size_t len, uint32_t enterprise,
	    struct dhcpopt_vendor **out, char *err, size_t errlen);
int	 dhcpopt_vendor6_decode(const uint8_t *data, size_t len, uint32_t enterprise,
	    struct dhcpopt_vendor **out, char *err, size_t errlen);

/* Enterprise number of DHCPv6 option 17 data (its first 4 octets); -1 when len < 4. */
int	 dhcpopt_vendor6_enterprise(const uint8_t *data, size_t len, uint32_t *enterprise);

/* Format one line into the caller's error buffer err (may be NULL), for dhcp-hook/. */
void	 dhcpopt_err(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The value of one hex digit (either case), -1 for anything else. */
int	 dhcpopt_hexval(int c);

/*
 * Hex as DHCP clients hand options to their scripts: udhcpc "001a6874..." and dhclient
 * "00:1a:68:74..." (either case; colons either between every pair or nowhere; surrounding
 * white space ignored). Writes at most cap octets into buf, *outlen = count.
 */
int	 dhcpopt_hex_decode(const char *hex, uint8_t *buf, size_t cap, size_t *outlen,
	    char *err, size_t errlen);

/* ------------------------------------------------------------------------------------
 * The hook's configuration: built from the hook parameters' values, one call per value
 * (the shim checks the JSON types, these check the values), then finished once, which
 * encodes the four options and checks their sizes. Immutable after dhcpopt_config_finish():
 * callouts on any number of threads only read it.
 */
struct dhcpopt_config;

enum dhcpopt_uri_list {
	DHCPOPT_REGISTRAR,	/* "registrar-uris": option 143/136 */
	DHCPOPT_POSTURE,	/* "posture-uris": vendor sub-option 1 */
	DHCPOPT_UPDATE		/* "update-uris": vendor sub-option 2 */
};

enum dhcpopt_encoded {
	DHCPOPT_ENC_V4_SZTP,	/* option 143 data */
	DHCPOPT_ENC_V4_VENDOR,	/* option 125 data; empty when no vendor content */
	DHCPOPT_ENC_V6_SZTP,	/* option 136 data */
	DHCPOPT_ENC_V6_VENDOR	/* option 17 data; empty when no vendor content */
};

/* New configuration with the defaults (enterprise 32473, revoked class
 * "latchkey-revoked"); NULL when out of memory. dhcpopt_config_free(NULL) is fine. */
struct dhcpopt_config	*dhcpopt_config_new(void);
void			 dhcpopt_config_free(struct dhcpopt_config *c);

/* Append one URI to a list (dhcpopt_uri_check() with DHCPOPT_URI_MAX; duplicates and more
 * than DHCPOPT_LIST_MAX entries are refused). */
int	 dhcpopt_config_add_uri(struct dhcpopt_config *c, enum dhcpopt_uri_list which,
	    const char *uri, char *err, size_t errlen);
/* "vendor-enterprise": 1..4294967295 (0 is IANA-reserved). */
int	 dhcpopt_config_set_enterprise(struct dhcpopt_config *c, long long enterprise,
	    char *err, size_t errlen);
/* "ca-fingerprint": dhcpopt_fingerprint_check(); stored lower-case. */
int	 dhcpopt_config_set_fingerprint(struct dhcpopt_config *c, const char *fp, char *err,
	    size_t errlen);
/* "registry": a non-empty absolute path (an SQLite file), or a PostgreSQL URI
 * (postgresql://, postgres://) or conninfo string (with '='); not opened here. */
int	 dhcpopt_config_set_registry(struct dhcpopt_config *c, const char *path, char *err,
	    size_t errlen);
/* "revoked-class" / "only-class": 1..DHCPOPT_CLASS_MAX printable characters, no leading or
 * trailing space. only_class NULL clears it. */
int	 dhcpopt_config_set_revoked_class(struct dhcpopt_config *c, const char *name,
	    char *err, size_t errlen);
int	 dhcpopt_config_set_only_class(struct dhcpopt_config *c, const char *name, char *err,
	    size_t errlen);

/*
 * Finish: at least one registrar URI is required; the four options are encoded; -1 when an
 * option would exceed DHCPOPT_V4_OPTION_MAX (v4) or DHCPOPT_V6_OPTION_MAX (v6), the error
 * naming the parameters to shorten. When both DHCPv4 options together exceed
 * DHCPOPT_V4_TOTAL_WARN, returns 0 and writes a warning line into warn (else warn = "").
 */
int	 dhcpopt_config_finish(struct dhcpopt_config *c, char *warn, size_t warnlen,
	    char *err, size_t errlen);

/* Accessors (valid until dhcpopt_config_free()). */
const uint8_t		*dhcpopt_config_encoded(const struct dhcpopt_config *c,
			    enum dhcpopt_encoded which, size_t *len);
const struct dhcpopt_list *dhcpopt_config_uris(const struct dhcpopt_config *c,
			    enum dhcpopt_uri_list which);
uint32_t		 dhcpopt_config_enterprise(const struct dhcpopt_config *c);
const char		*dhcpopt_config_fingerprint(const struct dhcpopt_config *c); /* or NULL */
const char		*dhcpopt_config_registry(const struct dhcpopt_config *c);    /* or NULL */
const char		*dhcpopt_config_revoked_class(const struct dhcpopt_config *c);
const char		*dhcpopt_config_only_class(const struct dhcpopt_config *c);  /* or NULL */

/* ------------------------------------------------------------------------------------
 * Per-packet decision: what the shim found in the packets, and which options to add. */
struct dhcpopt_pkt {
	int	family;		/* 4 or 6 */
	int	answer;		/* response is OFFER/ACK (v4) or ADVERTISE/REPLY (v6) */
	int	in_only_class;	/* query is in only-class (ignored when none is configured) */
	int	in_revoked;	/* query is in revoked-class */
	int	has_sztp;	/* response already holds option 143/136 */
	int	has_vendor;	/* v4: response holds an option 125 (any enterprise: we do
				 * not merge into another's); v6: an option 17 of ours */
	size_t	resp_len;	/* v4: the response's length so far: the 236-octet fixed
				 * header plus its options, without the 4-octet magic cookie
				 * and the END octet (what Kea 2.2's Pkt4::len() returns) */
	size_t	client_max;	/* v4: option 57 of the query, 0 when absent */
};

#define DHCPOPT_ADD_SZTP	0x01u
#define DHCPOPT_ADD_VENDOR	0x02u
#define DHCPOPT_TRIMMED		0x04u	/* something was left out because it did not fit */

/*
 * Which options to add to this response: DHCPOPT_ADD_* bits (0: none). Nothing for a
 * non-answer, a revoked client, or a client outside only-class. DHCPv4: the SZTP option
 * first, then the vendor option, each only while the response stays within the client's
 * maximum message size (client_max, or DHCPOPT_V4_MIN_MSG when absent or below it, less
 * DHCPOPT_IP_UDP_HDR); DHCPOPT_TRIMMED tells that one was left out for size.
 */
unsigned	 dhcpopt_select(const struct dhcpopt_config *c, const struct dhcpopt_pkt *p);

#endif /* LATCHKEY_DHCPOPT_H */
