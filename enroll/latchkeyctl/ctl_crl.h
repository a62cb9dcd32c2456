/* ctl_crl: `latchkeyctl crl`, the CRL that latchkeyd keeps current, shown or exported. */
#ifndef LATCHKEY_CTL_CRL_H
#define LATCHKEY_CTL_CRL_H

/* argv[0] is "crl"; db is the registry path (the CRL file defaults to crl.der beside it). */
int	ctl_crl_main(const char *db, int json, int argc, char **argv);

#define CTL_CRL_HELP \
"     crl [--file F] [--pem]\n" \
"          Show the domain's CRL as latchkeyd last wrote it (default: crl.der beside\n" \
"          the registry; latchkeyd's crl-file): issuer, thisUpdate, nextUpdate, CRL\n" \
"          number and every revoked LDevID with date and reason (RFC 5280). --pem\n" \
"          prints the CRL itself in PEM instead. latchkeyd also serves it at\n" \
"          /.well-known/latchkey/crl (DER, application/pkix-crl).\n"

#endif
