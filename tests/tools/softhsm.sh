# tests/tools/softhsm.sh: a SoftHSM2 token for a test, in a directory of the test's own (never
# the system's token directory). Source it, then
#   softhsm_token DIR LABEL [PIN]   create DIR/softhsm2.conf (exported as SOFTHSM2_CONF),
#                                   the token LABEL in DIR/tokens (user PIN PIN, default
#                                   1234; SO PIN random) and DIR/pin (mode 0600, the PIN);
#                                   prints the RFC 7512 URI prefix of the token:
#                                   pkcs11:token=LABEL
#   softhsm_uri DIR LABEL OBJECT    the URI of a key OBJECT in that token, its PIN by
#                                   pin-source (DIR/pin) and the module by module-path
#   softhsm_give DIR USER           the token directory to USER (root only; a no-op else)
#   SOFTHSM_MODULE                  the module's path (Debian softhsm2)
# softhsm_available tells whether softhsm2-util, the module and OpenSSL's pkcs11 engine
# (libengine-pkcs11-openssl) are installed.
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
SOFTHSM_ENGINE=${SOFTHSM_ENGINE:-$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so}

softhsm_available() {
	command -v softhsm2-util >/dev/null 2>&1 && [ -r "$SOFTHSM_MODULE" ] &&
	    [ -r "$SOFTHSM_ENGINE" ]
}

softhsm_token() {
	local dir=$1 label=$2 pin=${3:-1234}
	mkdir -p "$dir/tokens" || return 1
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	    "$dir" >"$dir/softhsm2.conf" || return 1
	chmod 0644 "$dir/softhsm2.conf"
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	softhsm2-util --init-token --free --label "$label" --pin "$pin" \
	    --so-pin "so-$RANDOM$RANDOM" >/dev/null || return 1
	(umask 077 && printf '%s\n' "$pin" >"$dir/pin") || return 1
	echo "pkcs11:token=$label"
}

softhsm_uri() {
	echo "pkcs11:token=$2;object=$3?pin-source=$1/pin&module-path=$SOFTHSM_MODULE"
}

# softhsm_give DIR USER: the token directory to USER, who signs with its keys after a
# privilege drop (latchkeyd's signer-user for ca-key, its user for masa-key); root only.
softhsm_give() {
	[ "$(id -u)" = 0 ] || return 0
	chown -R "$2" "$1/tokens"
}
