/*
 * latchkeyctl: latchkey's admin CLI. Lab PKI, a new owner domain (init), claims, bindings,
 * revocation, the audit log and backups. See latchkeyctl(8) and DESIGN.md "Command lines".
 *
 * This file is main(), the global options and the command table with every command's
 * help text; the commands are in cmd_*.c, what they share in ctl.[ch].
 *
 * Exit status: 0 success, 1 failure, 2 usage error. Every error is one line on stderr,
 * prefixed "latchkeyctl: ". Data goes to stdout, as text or (--json) one JSON object.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "enroll/common/version.h"
#include "enroll/latchkeyctl/ctl.h"

struct ctl_cmd {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
	const char	*help;
};

static const struct ctl_cmd *cmd_find(const char *name);
static void	help_full(FILE *fp);

static int
cmd_help(struct ctl *ctl, int argc, char **argv)
{
	const struct ctl_cmd *c;

	if (argc < 2) {
		help_full(stdout);
		return 0;
	}
	if (argc > 2)
		return ctl_usage("help: one COMMAND at most");
	if ((c = cmd_find(argv[1])) == NULL)
		return ctl_usage("help: unknown command '%s'", argv[1]);
	fputs(c->help, stdout);
	return 0;
}

static const char help_head[] =
"NAME\n"
"     latchkeyctl - administer a latchkey owner domain and its device registry\n"
"\n"
"SYNOPSIS\n"
"     latchkeyctl [--db PATH] [--json] [-v] COMMAND [ARGS...]\n"
"     latchkeyctl lab-pki --out DIR [--devices N | --add N] [--masa-url URL]\n"
"                         [--key-type T] [--san NAME|IP]... [--masa-key URI]\n"
"                         [--tpm TCTI] [-q]\n"
"     latchkeyctl init --domain NAME --dir DIR --manufacturer-ca FILE\n"
"                      [--listen ADDR:PORT] [--san NAME|IP]... [--key-type T]\n"
"                      [--ca-key pkcs11:URI]\n"
"     latchkeyctl init --reissue-registrar-cert --dir DIR [--san NAME|IP]...\n"
"                      [--ca-key pkcs11:URI] [--reload PIDFILE]\n"
"     latchkeyctl claim SERIAL... | --file F [--manufacturer FILE|sha256:HEX]\n"
"     latchkeyctl unclaim SERIAL...\n"
"     latchkeyctl list [--state active|revoked] [--serial S] [--since TIME]\n"
"     latchkeyctl show SERIAL\n"
"     latchkeyctl revoke SERIAL --reason R\n"
"     latchkeyctl readmit SERIAL [--reason R] [--manufacturer FILE|sha256:HEX]\n"
"     latchkeyctl pending\n"
"     latchkeyctl approve SERIAL... [--reason R]\n"
"     latchkeyctl deny SERIAL... [--reason R]\n"
"     latchkeyctl audit [--since TIME] [--action NAME[,NAME...]]... | --head\n"
"     latchkeyctl audit --verify [--head SEQ:HASH] [--checkpoints FILE] [--ca FILE]\n"
"     latchkeyctl backup [--force] FILE\n"
"     latchkeyctl update-signer --dir DIR --name NAME --crl-url URL --out PREFIX\n"
"                               [--ocsp-url URL] [--days N]\n"
"     latchkeyctl update-sign --cert C --key K --manifest M.json --out M.cms\n"
"     latchkeyctl help [COMMAND]\n"
"\n"
"GLOBAL OPTIONS\n"
"     Given before COMMAND (also accepted after it).\n"
"     --db PATH    the registry (default $LATCHKEY_DB, else\n"
"                  " CTL_DEFAULT_DB "), or a PostgreSQL one: a libpq URI\n"
"                  (postgresql://...) or conninfo (\"host=... dbname=...\")\n"
"     --json       print data as one JSON object instead of text\n"
"     -v           more detail (audit hashes)\n"
"     -h, --help   this text; 'latchkeyctl COMMAND --help' for one command\n"
"     --version    print the version and exit\n"
"\n"
"COMMANDS\n";

static const char help_tail[] =
"\n"
"EXIT STATUS\n"
"     0 success, 1 failure, 2 usage error. Errors are one line on standard error,\n"
"     prefixed \"latchkeyctl: \".\n"
"\n"
"ENVIRONMENT\n"
"     LATCHKEY_DB   the registry when --db is not given\n"
"\n"
"FILES\n"
"     " CTL_DEFAULT_DB "\n"
"          the default registry (SQLite, WAL mode)\n"
"     DIR/latchkeyd.conf\n"
"          written by init; see latchkeyd(8)\n"
"\n"
"SEE ALSO\n"
"     latchkeyctl(8), latchkeyd(8), latchkey(8)\n";

static const struct ctl_cmd ctl_cmds[] = {
	{ "lab-pki", cmd_labpki,
"     lab-pki --out DIR [--devices N | --add N] [--masa-url URL] [--key-type T]\n"
"          [--san NAME|IP]... [--masa-key URI] [--tpm TCTI] [-q]\n"
"          Create a lab manufacturer PKI in DIR (created if missing): manufacturer\n"
"          root CA, IDevID issuing CA, a MASA CA that issues only the MASA's\n"
"          voucher-signing certificate, the MASA's TLS server certificate\n"
"          masa-tls.pem/.key (signed by the root, serverAuth), and N devices\n"
"          (default 1, at most 10000) under DIR/devices/SERIAL/ with idevid.pem,\n"
"          idevid.key and masa-anchor.pem (a copy of the MASA CA: vouchers only);\n"
"          DIR/serials.txt lists the serials, one a line (claim --file reads it).\n"
"          --masa-url puts the MASA URL extension (RFC 8995) in the IDevIDs\n"
"          (default: none). --san (repeatable: a DNS name, or an IPv4 or IPv6\n"
"          address, never 0.0.0.0 or ::) names the MASA in masa-tls.pem, with the\n"
"          --masa-url host; when neither names one: localhost, 127.0.0.1, ::1 and\n"
"          this host's name. --key-type is p256 (default), p384, ed25519, rsa2048,\n"
"          rsa3072 or rsa4096.\n"
"          --masa-key pkcs11:token=T;object=O?pin-source=FILE[&module-path=SO]\n"
"          (an RFC 7512 URI) generates the MASA's voucher-signing key inside that\n"
"          PKCS#11 token (EC P-256, sensitive, never extractable) instead of\n"
"          masa.key; give the URI as masa-key in the MASA's latchkeyd.conf. The PIN\n"
"          only by pin-source (a file of mode 0600; pin-value is refused), the\n"
"          module by module-path (default p11-kit-proxy.so); an existing key of\n"
"          that name is never replaced.\n"
"          --tpm TCTI makes the devices' IDevID keys (P-256) inside the TPM that\n"
"          the libtss2 TCTI names (e.g. swtpm:path=SOCKET, device:/dev/tpmrm0);\n"
"          idevid.key is then its TPM-wrapped \"TSS2 PRIVATE KEY\" blob, usable only\n"
"          with that TPM (latchkey enroll --idevid-key takes it). For tests and\n"
"          demos with a software TPM (swtpm): a factory provisions real IDevIDs.\n"
"          --add N (0 to 10000) extends the lab in DIR instead: N more devices with\n"
"          new serials, the lab's key type and the --masa-url of its IDevIDs unless\n"
"          given, and masa-tls.pem when the lab has none (--san: its names); existing\n"
"          keys and devices are untouched, serials.txt is rewritten.\n"
"          Never overwrites a key. Prints every file written (absolute paths) and\n"
"          the MASA TLS names; --json: the whole lab, \"added\": the new serials.\n"
"          Progress on stderr: on a terminal one line updated in place, else a line\n"
"          every 1000 devices. -q, --quiet: only errors (--json still prints).\n" },
	{ "init", cmd_init,
"     init --domain NAME --dir DIR --manufacturer-ca FILE [--listen ADDR:PORT]\n"
"          [--san NAME|IP]... [--key-type T] [--ca-key pkcs11:URI]\n"
"     init --reissue-registrar-cert --dir DIR [--san NAME|IP]...\n"
"          [--ca-key pkcs11:URI] [--reload PIDFILE]\n"
"          Create an owner domain in DIR: domain-ca.pem/.key, the registrar's TLS\n"
"          certificate registrar.pem/.key, a copy of the manufacturer CA as\n"
"          manufacturer-ca.pem, an empty registry.db and a ready-to-run\n"
"          latchkeyd.conf. --listen is ADDR:PORT or [V6ADDR]:PORT (default\n"
"          " CTL_DEFAULT_LISTEN "). The certificate's subjectAltName: the --listen host\n"
"          unless a wildcard (0.0.0.0, ::), every --san (repeatable: a DNS name, or\n"
"          an IPv4 or IPv6 address; never 0.0.0.0 or ::) and registrar.NAME; without\n"
"          --san also localhost, and for a wildcard --listen this host's names\n"
"          (localhost, 127.0.0.1, ::1 and its host name; a note says so). The CRL\n"
"          and OCSP URLs of latchkeyd.conf use the --listen host, for a wildcard the\n"
"          first --san, else the host name. Prints the names. Refuses to overwrite\n"
"          any of these files.\n"
"          --ca-key pkcs11:token=T;object=O?pin-source=FILE[&module-path=SO] (an\n"
"          RFC 7512 URI) generates the domain CA's key inside that PKCS#11 token\n"
"          (EC P-256, sensitive, never extractable; e.g. SoftHSM2,\n"
"          /usr/lib/softhsm/libsofthsm2.so) instead of domain-ca.key, and writes\n"
"          the URI as ca-key into latchkeyd.conf; --key-type then applies to the\n"
"          registrar's key. The PIN only by pin-source, a file of mode 0600 that\n"
"          only root reads (pin-value is refused: the URI is written and printed);\n"
"          an existing key of that name is never replaced. The token must be\n"
"          usable by latchkeyd's signer-user (SoftHSM2: its token directory).\n"
"          --reissue-registrar-cert upgrades DIR's registrar.pem (an older init's,\n"
"          without id-kp-cmcRA): a new one with the same subject and key, the old kept\n"
"          as registrar.pem.old. Its subjectAltName: with --san, those names and\n"
"          registrar.NAME; else the old one, an unspecified address replaced by\n"
"          this host's names. A domain CA key in a token: --ca-key names it (the\n"
"          ca-key of latchkeyd.conf). It also renews a certificate that nears its\n"
"          expiry (latchkeyd warns expiry-warn-days before); --reload PIDFILE then\n"
"          sends SIGHUP to the latchkeyd of that pid-file (latchkeyd.conf(5)), which\n"
"          serves the new certificate without dropping a connection (under\n"
"          systemd: systemctl reload latchkeyd).\n" },
	{ "ca-rollover", cmd_ca_rollover,
"     ca-rollover --dir DIR [--config FILE] [--force] [--reload PIDFILE]\n"
"          Roll the domain CA over to a new key (RFC 7030 4.1.3): a new key of the\n"
"          same type and a new self-signed CA certificate with the same subject\n"
"          replace DIR/domain-ca.pem/.key; the old CA moves to\n"
"          domain-ca-previous.pem/.key, and domain-ca-rollover.pem holds the link\n"
"          certificates NewWithOld and OldWithNew (RFC 4210 4.4), valid until the\n"
"          old CA expires. latchkeyd.conf (--config; default DIR/latchkeyd.conf)\n"
"          gets previous-ca-cert, previous-ca-key and rollover-certs. After the\n"
"          reload (--reload PIDFILE sends SIGHUP, as init does) latchkeyd issues\n"
"          from the new CA, cacerts serves the new CA, both link certificates and\n"
"          the old CA, LDevIDs of either CA authenticate and renew, and each CA has\n"
"          its CRL (the old one at /.well-known/latchkey/crl, which its LDevIDs\n"
"          name, the new one at /.well-known/latchkey/crl/KEYID) and its OCSP\n"
"          answers. The registry's certificates are marked as the old CA's and the\n"
"          rollover is audited. A further rollover drops the previous CA: refused\n"
"          while LDevIDs of it are neither expired nor revoked, unless --force.\n"
"          The registry: DIR/registry.db, unless --db or LATCHKEY_DB names one.\n" },
	{ "crl", cmd_crl,
"     crl [--file F] [--pem]\n"
"          Show the domain's CRL as latchkeyd last wrote it (default: crl.der beside\n"
"          the registry; latchkeyd's crl-file): issuer, thisUpdate, nextUpdate, CRL\n"
"          number and every revoked LDevID with date and reason (RFC 5280). --pem\n"
"          prints the CRL itself in PEM instead. latchkeyd also serves it at\n"
"          /.well-known/latchkey/crl (DER, application/pkix-crl).\n" },
	{ "claim", cmd_claim,
"     claim SERIAL... | --file F [--manufacturer FILE|sha256:HEX]\n"
"          Claim devices for this domain, so that they may enroll. With --file, one\n"
"          serial per line ('#' comments and blank lines ignored; '-' is standard\n"
"          input). --manufacturer: only an IDevID chaining to that manufacturer\n"
"          anchor (the root certificate in FILE, or its SHA-256 fingerprint) matches\n"
"          the claim; given for a claimed serial, it replaces the claim's. Prints\n"
"          \"claimed S\" or \"already claimed S\" for each serial. A device whose\n"
"          binding was revoked is refused (exit 1): claim does not re-admit it, readmit\n"
"          does. A pending or denied request of the serial (see pending) is removed.\n" },
	{ "unclaim", cmd_unclaim,
"     unclaim SERIAL...\n"
"          Withdraw claims. Prints \"unclaimed S\" or \"not claimed S\". An existing\n"
"          binding is not affected; use revoke.\n" },
	{ "list", cmd_list,
"     list [--state active|revoked] [--serial S] [--since TIME]\n"
"          Bindings (serial, state, creation time in UTC, authorization, number of\n"
"          certificates) and pending claims (claims with no active binding; not\n"
"          shown with --state). TIME is Unix seconds, YYYY-MM-DD or\n"
"          YYYY-MM-DDTHH:MM:SSZ (UTC).\n"
"          --json: {\"bindings\":[...],\"claims\":[...]}.\n" },
	{ "show", cmd_show,
"     show SERIAL\n"
"          Every binding of SERIAL with its certificates (serial, validity,\n"
"          revocation) and its audit history. Fails with \"unknown serial S\" when\n"
"          the registry knows nothing of SERIAL.\n" },
	{ "revoke", cmd_revoke,
"     revoke SERIAL --reason R\n"
"          Revoke the active binding of SERIAL and all its certificates, and remove\n"
"          its claim. R is an RFC 5280 CRLReason name, in any case: unspecified,\n"
"          keyCompromise, cACompromise, affiliationChanged, superseded,\n"
"          cessationOfOperation, privilegeWithdrawn, aACompromise; recorded and\n"
"          printed in that spelling. Not certificateHold (a revocation is final)\n"
"          nor removeFromCRL (delta CRLs only, RFC 5280 5.3.1): usage error.\n"
"          The device stays refused on every path (claim, auto-accept, voucher)\n"
"          until readmit.\n" },
	{ "readmit", cmd_readmit,
"     readmit SERIAL [--reason R] [--manufacturer FILE|sha256:HEX]\n"
"          Let a device whose binding was revoked enroll again: the revoked binding\n"
"          is marked re-admitted (by you, with R) and the serial is claimed\n"
"          (--manufacturer as for claim); audited as \"readmit\". The next\n"
"          enrollment makes a new binding; its IDevID may differ from the old one.\n"
"          Fails (exit 1) when SERIAL has no revoked binding left to re-admit.\n" },
	{ "pending", cmd_pending,
"     pending\n"
"          Devices waiting for an administrator: with \"pending = yes\" in\n"
"          latchkeyd.conf an unclaimed device whose IDevID chains to a manufacturer\n"
"          anchor gets HTTP 202 with Retry-After instead of 403 and is listed here\n"
"          until approved, denied or claimed: serial, state (pending or denied),\n"
"          manufacturer (the anchor's name), first and last request (UTC), the\n"
"          last request's peer address and the number of requests; -v adds the\n"
"          manufacturer fingerprint and the IDevID's. --json: {\"pending\":[...]}\n"
"          with manufacturer (sha256:HEX), manufacturer_name, idevid_fp, times as\n"
"          first_seen/last_seen (and _at, Unix seconds), and for a denied device\n"
"          denied, denied_by and reason.\n" },
	{ "approve", cmd_approve,
"     approve SERIAL... [--reason R]\n"
"          Approve pending devices: each SERIAL is claimed for the manufacturer its\n"
"          IDevID chains to (as claim --manufacturer) and leaves the list; the\n"
"          device enrolls at its next request. A denied device may be approved.\n"
"          Audited as \"approve\" (with R). Prints \"approved S: claimed for\n"
"          manufacturer ...\" for each; a serial with no pending request is an\n"
"          error (exit 1), as is one whose binding was revoked (see readmit).\n"
"          --json: {\"approved\":[...]}.\n" },
	{ "deny", cmd_deny,
"     deny SERIAL... [--reason R]\n"
"          Deny pending devices: latchkeyd refuses their enrollment with 403\n"
"          \"denied by an administrator: R\" from then on, until approved or\n"
"          claimed. Denying again replaces R. Audited as \"deny\" (with R). Prints\n"
"          \"denied S\" for each; a serial with no pending request is an error\n"
"          (exit 1). --json: {\"denied\":[...]}.\n" },
	{ "audit", cmd_audit,
"     audit [--since TIME] [--action NAME[,NAME...]]... | --head\n"
"     audit --verify [--head SEQ:HASH] [--checkpoints FILE] [--ca FILE]\n"
"          Print the audit log (entries at or after TIME; TIME as for list),\n"
"          oldest first. --action (repeatable, or a comma list) keeps only the\n"
"          entries with one of these actions (enroll, reenroll, claim, unclaim,\n"
"          revoke, readmit, voucher, pending, approve, deny, ...). --json:\n"
"          {\"entries\":[...]}.\n"
"          --head prints the chain's head instead, one line \"SEQ:sha256:HEX\"\n"
"          (the newest entry's id and hash; \"0:none\" when empty): note it\n"
"          outside the registry.\n"
"          --verify recomputes the hash chain and checks every checkpoint latchkeyd\n"
"          stored: its signature by the domain CA (--ca, default domain-ca.pem\n"
"          beside the registry) and that the chain still holds its entry with its\n"
"          hash, which shows entries deleted below it or rewritten before it, even\n"
"          when the chain was re-hashed. --head SEQ:HASH (as --head printed it) and\n"
"          --checkpoints FILE (latchkeyd's audit-checkpoint-file, or a log extract)\n"
"          check against heads kept outside the database, which still show a writer\n"
"          who also rewrote the registry's checkpoints; either implies --verify.\n"
"          Prints \"audit log intact (N entries, K checkpoints verified)\" and exits\n"
"          0, or one line saying what is wrong (\"audit log broken at entry ID\",\n"
"          \"audit log truncated: ...\", \"audit log rewritten: ...\", \"... forged\n"
"          or damaged ...\") and exits 1.\n" },
	{ "backup", cmd_backup,
"     backup [--force] FILE\n"
"          Copy the registry (--db) to FILE while latchkeyd runs: SQLite's online\n"
"          backup, one consistent snapshot (every committed enrollment up to its\n"
"          start), written to a temporary file beside FILE (mode 0600), synced,\n"
"          then renamed; one self-contained file in WAL mode, checkpointed (no\n"
"          -wal/-shm). Refuses an existing FILE (exit 1) unless --force. Prints\n"
"          \"backup PATH (audit head SEQ:sha256:HEX, N entries)\"; --json:\n"
"          {\"backup\":PATH,\"audit_head\":\"SEQ:sha256:HEX\",\"entries\":N}.\n"
"          Check a copy with 'latchkeyctl --db FILE audit --verify'.\n"
"          Restore: stop latchkeyd; copy FILE over registry.db; remove\n"
"          registry.db-wal and registry.db-shm; move latchkeyd's\n"
"          audit-checkpoint-file (audit-checkpoints.log) aside, as its\n"
"          checkpoints after the backup show the restore as a truncation and\n"
"          latchkeyd would sign no new head; when latchkeyd starts as root,\n"
"          chown latchkey registry.db (the workers' user) and keep it mode 0600;\n"
"          start latchkeyd. What happened after the backup is lost: redo the\n"
"          revocations and claims made since (see audit --since on the old\n"
"          registry if it is still readable); devices enrolled since enroll again.\n" },
	{ "posture", cmd_posture,
"     posture show SERIAL\n"
"          The device's latest posture verdict (latchkeyd's posture-policy):\n"
"          compliant or noncompliant, when it was received and made, the LDevID\n"
"          that signed it, how many packages and files it listed, and each reason\n"
"          on a line of its own. --json: {\"serial\",\"compliant\",\"reasons\":[...],\n"
"          \"report\",\"received\",\"received_at\",\"report_time\",\"ldevid_serial\",\n"
"          \"packages\",\"files\"}. Exit 1 when the device never reported.\n"
"     posture diff SERIAL\n"
"          What changed between the device's last two reports: \"+ NAME VERSION\n"
"          ARCH\" added, \"- ...\" removed, \"~ NAME FROM -> TO\" upgraded or\n"
"          downgraded, \"~ file PATH OLD -> NEW\" (hash prefixes). --json:\n"
"          {\"added\":[...],\"removed\":[...],\"changed\":[...],\"files\":[...],\n"
"          \"from_report\",\"to_report\",...}. Exit 1 with fewer than two reports.\n" },
	{ "masa", cmd_masa,
"     masa authorize (--serial S ... | --file F) --domain-ca FILE [--masa-db PATH]\n"
"          MASA sales records (RFC 8995): the owner domain whose CA certificate is\n"
"          FILE may obtain vouchers for these serials (--file: one serial a line).\n"
"          PATH is the MASA role's masa-db (default $LATCHKEY_MASA_DB or\n"
"          " CTL_DEFAULT_MASA_DB "); created when missing. Audited there.\n" },
	{ "update-signer", cmd_update_signer,
"     update-signer --dir DIR --name NAME --crl-url URL --out PREFIX [--ocsp-url URL]\n"
"                   [--days N]\n"
"          Issue an update-signing certificate from the domain CA in DIR (domain-ca.pem,\n"
"          domain-ca.key): subject CN=update-signer:NAME, extendedKeyUsage codeSigning\n"
"          only, CRL distribution point URL (required: devices refuse a signer whose\n"
"          revocation they cannot check; use latchkeyd's http-listen CRL URL), OCSP URL,\n"
"          N days (default 365). Writes PREFIX.key (P-256, 0600) and PREFIX.pem and\n"
"          records the certificate in the registry as the binding\n"
"          update-signer:NAME: 'latchkeyctl revoke update-signer:NAME --reason R'\n"
"          puts it on the domain CRL and OCSP, and devices refuse what it signed.\n"
"          --json: {\"signer\",\"cert\",\"key\",\"cert_serial\",\"fingerprint\"}.\n" },
	{ "update-sign", cmd_update_sign,
"     update-sign --cert C --key K --manifest M.json --out M.cms [--force]\n"
"          Check the update manifest M.json (see latchkey update --help for its\n"
"          members) and sign it: a CMS SignedData (RFC 5652, DER) with the manifest\n"
"          as content and C included. C must be an update-signing certificate.\n" },
	{ "help", cmd_help,
"     help [COMMAND]\n"
"          This text, or the text of one command.\n" },
};

static const struct ctl_cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

static void
help_full(FILE *fp)
{
	size_t i;

	fputs(help_head, fp);
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (i > 0)
			fputc('\n', fp);
		fputs(ctl_cmds[i].help, fp);
	}
	fputs(help_tail, fp);
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		CTL_COMMON_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl ctl;
	const struct ctl_cmd *c;
	int ch;

	memset(&ctl, 0, sizeof(ctl));
	ctl.db = ctl_getenv("LATCHKEY_DB", CTL_DEFAULT_DB);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'D':
			ctl.db = optarg;
			break;
		case 'j':
			ctl.json = 1;
			break;
		case 'v':
			ctl.verbose++;
			break;
		case 'h':
			help_full(stdout);
			return 0;
		case 'V':
			printf("latchkeyctl %s\n", LATCHKEY_VERSION);
			return 0;
		case ':':
			return ctl_usage("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return ctl_usage("unknown option -%c; see 'latchkeyctl --help'",
				    optopt);
			return ctl_usage("unknown option %s; see 'latchkeyctl --help'",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage("no command given; see 'latchkeyctl --help'");
	if ((c = cmd_find(argv[optind])) == NULL)
		return ctl_usage("unknown command '%s'; see 'latchkeyctl --help'", argv[optind]);
	ctl.help = c->help;
	return c->fn(&ctl, argc - optind, argv + optind);
}
