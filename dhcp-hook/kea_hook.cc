// kea_hook.cc: liblatchkey_kea.so, the ISC Kea 2.2 hook library (hooks API 20200).
//
// A thin shim: the fixed extern "C" surface (version, load, unload,
// multi_threading_compatible and the callouts) unpacks Kea's arguments and calls the C
// core in dhcpopt.c, which has no Kea types. No exception leaves this file. See
// dhcp-hook/README.md for the parameters, the options and the plan for the revoked class.

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <hooks/hooks.h>
#include <dhcp/dhcp4.h>
#include <dhcp/dhcp6.h>
#include <dhcp/option.h>
#include <dhcp/pkt4.h>
#include <dhcp/pkt6.h>
#include <cc/data.h>
#include <log/logger.h>
#include <log/macros.h>
#include <log/message_initializer.h>

extern "C" {
#include "dhcp-hook/dhcpopt.h"
#include "dhcp-hook/revoked.h"
#include "dhcp-hook/revoked_db.h"
}

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::dhcp::HWAddrPtr;
using isc::dhcp::Option;
using isc::dhcp::OptionBuffer;
using isc::dhcp::OptionCollection;
using isc::dhcp::OptionPtr;
using isc::dhcp::Pkt4Ptr;
using isc::dhcp::Pkt6Ptr;
using isc::hooks::CalloutHandle;
using isc::hooks::LibraryHandle;

namespace {

// Log messages. Debian's Kea 2.2 ships no kea-msg-compiler, so the message IDs and texts
// are registered by hand (MessageInitializer; Kea loads the dictionary after dlopen()).
const isc::log::MessageID LATCHKEY_LOAD_OK = "LATCHKEY_LOAD_OK";
const isc::log::MessageID LATCHKEY_LOAD_FAILED = "LATCHKEY_LOAD_FAILED";
const isc::log::MessageID LATCHKEY_SIZE_WARNING = "LATCHKEY_SIZE_WARNING";
const isc::log::MessageID LATCHKEY_REVOKED_LOADED = "LATCHKEY_REVOKED_LOADED";
const isc::log::MessageID LATCHKEY_REVOKED_FAILED = "LATCHKEY_REVOKED_FAILED";
const isc::log::MessageID LATCHKEY_REVOKED_CLASSIFIED = "LATCHKEY_REVOKED_CLASSIFIED";
const isc::log::MessageID LATCHKEY_UNLOAD = "LATCHKEY_UNLOAD";
const isc::log::MessageID LATCHKEY_OPTIONS_ADDED = "LATCHKEY_OPTIONS_ADDED";
const isc::log::MessageID LATCHKEY_OPTIONS_TRIMMED = "LATCHKEY_OPTIONS_TRIMMED";
const isc::log::MessageID LATCHKEY_CALLOUT_FAILED = "LATCHKEY_CALLOUT_FAILED";
const isc::log::MessageID LATCHKEY_NONCOMPLIANT_LOADED = "LATCHKEY_NONCOMPLIANT_LOADED";
const isc::log::MessageID LATCHKEY_NONCOMPLIANT_FAILED = "LATCHKEY_NONCOMPLIANT_FAILED";
const isc::log::MessageID LATCHKEY_NONCOMPLIANT_CLASSIFIED =
    "LATCHKEY_NONCOMPLIANT_CLASSIFIED";

const char *latchkey_messages[] = {
	"LATCHKEY_LOAD_OK", "latchkey hook loaded: %1 registrar URI(s), %2 posture URI(s), "
	    "%3 update URI(s), enterprise %4; option data: 143/136 %5, 125 %6, 17 %7 octets",
	"LATCHKEY_LOAD_FAILED", "latchkey hook not loaded: %1",
	"LATCHKEY_SIZE_WARNING", "latchkey hook: %1",
	"LATCHKEY_REVOKED_LOADED", "latchkey hook: %1 revoked network identifier(s) from "
	    "registry %2 (read in %3 ms); their clients go into class %4",
	"LATCHKEY_REVOKED_FAILED", "latchkey hook: cannot read the revoked network identifiers: "
	    "%1; keeping the previous %2",
	"LATCHKEY_REVOKED_CLASSIFIED", "latchkey: %1 of %2 is revoked: query put into class %3 "
	    "(transaction %4)",
	"LATCHKEY_NONCOMPLIANT_LOADED", "latchkey hook: %1 noncompliant network identifier(s) "
	    "from registry %2 (read in %3 ms); their clients go into class %4",
	"LATCHKEY_NONCOMPLIANT_FAILED", "latchkey hook: cannot read the noncompliant network "
	    "identifiers: %1; keeping the previous %2",
	"LATCHKEY_NONCOMPLIANT_CLASSIFIED", "latchkey: %1 of %2 is noncompliant: query put "
	    "into class %3 (transaction %4)",
	"LATCHKEY_UNLOAD", "latchkey hook unloaded",
	"LATCHKEY_OPTIONS_ADDED", "latchkey: added %1 to %2 (transaction %3)",
	"LATCHKEY_OPTIONS_TRIMMED", "latchkey: left out part of the options from %1 "
	    "(transaction %2): the client accepts at most %3 octets",
	"LATCHKEY_CALLOUT_FAILED", "latchkey: %1 callout failed: %2",
	NULL
};

const isc::log::MessageInitializer latchkey_message_init(latchkey_messages);
isc::log::Logger latchkey_logger("latchkey-hooks");

const int DBG_PACKET = 40;	// Kea's DBGLVL_PKT_HANDLING (per-packet detail)

// The configuration, built in load() and only read afterwards. Kea runs load() and
// unload() while no callout is running (it stops its packet threads first), so callouts
// on any number of threads see it immutable.
struct dhcpopt_config *config;
std::string revoked_class;
std::string only_class;
std::string noncompliant_class;	// issue #20: latest posture verdict noncompliant
#define NONCOMPLIANT_CLASS_DEFAULT "latchkey-noncompliant"

// Our four options, built once per configuration and shared by every answer, as Kea
// shares its configured options: packing only reads them.
OptionPtr prebuilt[4];

void
prebuild_options()
{
	static const struct {
		Option::Universe	u;
		uint16_t		code;
		enum dhcpopt_encoded	which;
	} o[4] = {
		{ Option::V4, DHCPOPT_V4_SZTP_REDIRECT, DHCPOPT_ENC_V4_SZTP },
		{ Option::V4, DHCPOPT_V4_VIVSO, DHCPOPT_ENC_V4_VENDOR },
		{ Option::V6, DHCPOPT_V6_SZTP_REDIRECT, DHCPOPT_ENC_V6_SZTP },
		{ Option::V6, DHCPOPT_V6_VENDOR_OPTS, DHCPOPT_ENC_V6_VENDOR },
	};
	size_t len;

	for (const auto &x : o) {
		const uint8_t *d = dhcpopt_config_encoded(config, x.which, &len);

		prebuilt[x.which].reset(new Option(x.u, x.code, OptionBuffer(d, d + len)));
	}
}

// The revoked identifiers (revoked.h): an immutable snapshot replaced by the watcher's
// thread when the registry changes (an SQLite file: checked every REVOKED_POLL_MS; a
// PostgreSQL registry: on its NOTIFY, and every REVOKED_DB_REFRESH_MS); callouts take a
// reference to the snapshot they look at. NULL when no "registry" is configured.
struct revoked_watch *watch;
struct revoked_db_listen *listener;	// PostgreSQL: the watcher's change source
std::string registry_path;	// the loader's argument: lives as long as watch
// The noncompliant identifiers (issue #20): a second snapshot of the same kind, loaded by
// revoked_db_load_noncompliant() and watched the same way (its own thread and listener).
struct revoked_watch *nc_watch;
struct revoked_db_listen *nc_listener;
std::string registry_name;	// for the log: never a password

const char *const known_parameters[] = {
	"registrar-uris", "posture-uris", "update-uris", "vendor-enterprise",
	"ca-fingerprint", "registry", "revoked-class", "only-class", "noncompliant-class",
};

// A configuration error: the message names the parameter.
struct param_error : std::runtime_error {
	explicit param_error(const std::string &m) : std::runtime_error(m) {}
};

std::string
type_name(const ConstElementPtr &e)
{
	return Element::typeToName(static_cast<Element::types>(e->getType()));
}

void
load_uri_list(LibraryHandle &handle, const char *name, enum dhcpopt_uri_list which)
{
	ConstElementPtr e = handle.getParameter(name);
	char err[256];

	if (!e)
		return;
	if (e->getType() != Element::list)
		throw param_error(std::string("parameter '") + name + "' must be a list of "
		    "strings, not " + type_name(e));
	for (size_t i = 0; i < e->size(); i++) {
		ConstElementPtr item = e->get(static_cast<int>(i));
		std::string where = std::string("parameter '") + name + "' item " +
		    std::to_string(i + 1);
		if (!item || item->getType() != Element::string)
			throw param_error(where + " must be a string");
		if (dhcpopt_config_add_uri(config, which, item->stringValue().c_str(), err,
		    sizeof(err)) == -1)
			throw param_error(where + ": " + err);
	}
}

// The string parameter name, or NULL when absent; throws when it is not a string.
ConstElementPtr
string_param(LibraryHandle &handle, const char *name)
{
	ConstElementPtr e = handle.getParameter(name);

	if (e && e->getType() != Element::string)
		throw param_error(std::string("parameter '") + name + "' must be a string, not " +
		    type_name(e));
	return e;
}

// From the noncompliant watcher's thread.
void
nc_watch_notify(void *arg, const struct revoked_event *ev)
{
	try {
		if (ev->reloaded) {
			char ms[32];

			snprintf(ms, sizeof(ms), "%.1f", ev->load_ms);
			LOG_INFO(latchkey_logger, LATCHKEY_NONCOMPLIANT_LOADED).arg(ev->count)
			    .arg(registry_name).arg(std::string(ms)).arg(noncompliant_class);
		} else if (ev->failed) {
			LOG_ERROR(latchkey_logger, LATCHKEY_NONCOMPLIANT_FAILED)
			    .arg(std::string(ev->msg))
			    .arg(std::to_string(ev->count) + " identifier(s)");
		}
	} catch (...) {
	}
}

// From the watcher's thread (Kea's logger is thread-safe).
void
watch_notify(void *arg, const struct revoked_event *ev)
{
	try {
		if (ev->reloaded) {
			char ms[32];

			snprintf(ms, sizeof(ms), "%.1f", ev->load_ms);
			LOG_INFO(latchkey_logger, LATCHKEY_REVOKED_LOADED).arg(ev->count)
			    .arg(registry_name).arg(std::string(ms)).arg(revoked_class);
		} else if (ev->failed) {
			LOG_ERROR(latchkey_logger, LATCHKEY_REVOKED_FAILED)
			    .arg(std::string(ev->msg))
			    .arg(std::to_string(ev->count) + " identifier(s)");
		}
	} catch (...) {
	}
}

// Open the registry read-only, load the snapshot once now (an unreadable registry is
// logged and the snapshot starts empty), then watch it from a thread of its own.
void
start_watch(const char *path)
{
	char err[512], name[512];
	std::string wal;
	int64_t t0;

	registry_path = path;
	registry_name = revoked_db_name(path, name, sizeof(name));
	if (revoked_db_is_pg(path)) {
		if ((listener = revoked_db_listen_new(path)) == NULL)
			throw std::bad_alloc();
		watch = revoked_watch_new_source(revoked_db_listen_wait, listener,
		    revoked_db_load, const_cast<char *>(registry_path.c_str()), REVOKED_POLL_MS,
		    REVOKED_DB_REFRESH_MS, watch_notify, NULL, err, sizeof(err));
	} else {
		wal = registry_path + "-wal";
		const char *files[] = { registry_path.c_str(), wal.c_str() };
		watch = revoked_watch_new(files, 2, revoked_db_load,
		    const_cast<char *>(registry_path.c_str()), REVOKED_POLL_MS, watch_notify,
		    NULL, err, sizeof(err));
	}
	if (watch == NULL)
		throw param_error(std::string("parameter 'registry': ") + err);
	t0 = revoked_now_ms();
	if (revoked_watch_poll(watch, t0, 1, err, sizeof(err)) == -1) {
		LOG_ERROR(latchkey_logger, LATCHKEY_REVOKED_FAILED).arg(std::string(err))
		    .arg("empty set");
	} else {
		struct revoked_set *s = revoked_watch_acquire(watch);
		LOG_INFO(latchkey_logger, LATCHKEY_REVOKED_LOADED).arg(revoked_set_count(s))
		    .arg(registry_name).arg(revoked_now_ms() - t0).arg(revoked_class);
		revoked_set_release(s);
	}
	if (revoked_watch_start(watch, err, sizeof(err)) == -1)
		throw param_error(std::string("parameter 'registry': ") + err);

	// the noncompliant class: the same registry, its own snapshot and watcher
	if (revoked_db_is_pg(path)) {
		if ((nc_listener = revoked_db_listen_new(path)) == NULL)
			throw std::bad_alloc();
		nc_watch = revoked_watch_new_source(revoked_db_listen_wait, nc_listener,
		    revoked_db_load_noncompliant, const_cast<char *>(registry_path.c_str()),
		    REVOKED_POLL_MS, REVOKED_DB_REFRESH_MS, nc_watch_notify, NULL, err,
		    sizeof(err));
	} else {
		const char *files[] = { registry_path.c_str(), wal.c_str() };
		nc_watch = revoked_watch_new(files, 2, revoked_db_load_noncompliant,
		    const_cast<char *>(registry_path.c_str()), REVOKED_POLL_MS, nc_watch_notify,
		    NULL, err, sizeof(err));
	}
	if (nc_watch == NULL)
		throw param_error(std::string("parameter 'registry': ") + err);
	t0 = revoked_now_ms();
	if (revoked_watch_poll(nc_watch, t0, 1, err, sizeof(err)) == -1) {
		LOG_ERROR(latchkey_logger, LATCHKEY_NONCOMPLIANT_FAILED).arg(std::string(err))
		    .arg("empty set");
	} else {
		struct revoked_set *s = revoked_watch_acquire(nc_watch);
		LOG_INFO(latchkey_logger, LATCHKEY_NONCOMPLIANT_LOADED)
		    .arg(revoked_set_count(s)).arg(registry_name)
		    .arg(revoked_now_ms() - t0).arg(noncompliant_class);
		revoked_set_release(s);
	}
	if (revoked_watch_start(nc_watch, err, sizeof(err)) == -1)
		throw param_error(std::string("parameter 'registry': ") + err);
}

// "noncompliant-class": the rule of revoked-class (dhcpopt_config_set_revoked_class):
// 1..DHCPOPT_CLASS_MAX printable characters, no leading or trailing space.
std::string
class_param(const std::string &v, const char *name)
{
	bool ok = !v.empty() && v.size() <= DHCPOPT_CLASS_MAX && v.front() != ' ' &&
	    v.back() != ' ';

	for (unsigned char c : v)
		ok = ok && c >= 0x20 && c < 0x7f;
	if (!ok)
		throw param_error(std::string("parameter '") + name + "': 1 to " +
		    std::to_string(DHCPOPT_CLASS_MAX) + " printable characters without leading "
		    "or trailing space");
	return v;
}

void
load_config(LibraryHandle &handle)
{
	ConstElementPtr e;
	char err[256], warn[256];
	size_t n143, n125, n17;

	for (const std::string &name : handle.getParameterNames()) {
		bool known = false;
		for (const char *k : known_parameters)
			known = known || name == k;
		if (!known)
			throw param_error("unknown parameter '" + name + "'");
	}
	if ((config = dhcpopt_config_new()) == NULL)
		throw std::bad_alloc();
	if (!handle.getParameter("registrar-uris"))
		throw param_error("parameter 'registrar-uris' (list of https URIs) is required");
	load_uri_list(handle, "registrar-uris", DHCPOPT_REGISTRAR);
	load_uri_list(handle, "posture-uris", DHCPOPT_POSTURE);
	load_uri_list(handle, "update-uris", DHCPOPT_UPDATE);
	if ((e = handle.getParameter("vendor-enterprise"))) {
		if (e->getType() != Element::integer)
			throw param_error(std::string("parameter 'vendor-enterprise' must be an "
			    "integer, not ") + type_name(e));
		if (dhcpopt_config_set_enterprise(config, e->intValue(), err, sizeof(err)) == -1)
			throw param_error(std::string("parameter 'vendor-enterprise': ") + err);
	}
	if ((e = string_param(handle, "ca-fingerprint")) &&
	    dhcpopt_config_set_fingerprint(config, e->stringValue().c_str(), err,
	    sizeof(err)) == -1)
		throw param_error(std::string("parameter 'ca-fingerprint': ") + err);
	if ((e = string_param(handle, "registry")) &&
	    dhcpopt_config_set_registry(config, e->stringValue().c_str(), err,
	    sizeof(err)) == -1)
		throw param_error(std::string("parameter 'registry': ") + err);
	if ((e = string_param(handle, "revoked-class")) &&
	    dhcpopt_config_set_revoked_class(config, e->stringValue().c_str(), err,
	    sizeof(err)) == -1)
		throw param_error(std::string("parameter 'revoked-class': ") + err);
	if ((e = string_param(handle, "only-class")) &&
	    dhcpopt_config_set_only_class(config, e->stringValue().c_str(), err,
	    sizeof(err)) == -1)
		throw param_error(std::string("parameter 'only-class': ") + err);
	if (dhcpopt_config_finish(config, warn, sizeof(warn), err, sizeof(err)) == -1)
		throw param_error(err);
	if (warn[0] != '\0') {
		LOG_WARN(latchkey_logger, LATCHKEY_SIZE_WARNING).arg(std::string(warn));
	}

	noncompliant_class = NONCOMPLIANT_CLASS_DEFAULT;
	if ((e = string_param(handle, "noncompliant-class")))
		noncompliant_class = class_param(e->stringValue(), "noncompliant-class");
	if (noncompliant_class == dhcpopt_config_revoked_class(config))
		throw param_error("parameters 'noncompliant-class' and 'revoked-class' name the "
		    "same class");

	prebuild_options();
	revoked_class = dhcpopt_config_revoked_class(config);
	only_class = dhcpopt_config_only_class(config) ? dhcpopt_config_only_class(config) : "";
	dhcpopt_config_encoded(config, DHCPOPT_ENC_V4_SZTP, &n143);
	dhcpopt_config_encoded(config, DHCPOPT_ENC_V4_VENDOR, &n125);
	dhcpopt_config_encoded(config, DHCPOPT_ENC_V6_VENDOR, &n17);
	LOG_INFO(latchkey_logger, LATCHKEY_LOAD_OK)
	    .arg(dhcpopt_config_uris(config, DHCPOPT_REGISTRAR)->n)
	    .arg(dhcpopt_config_uris(config, DHCPOPT_POSTURE)->n)
	    .arg(dhcpopt_config_uris(config, DHCPOPT_UPDATE)->n)
	    .arg(dhcpopt_config_enterprise(config)).arg(n143).arg(n125).arg(n17);
	if (dhcpopt_config_registry(config) != NULL)
		start_watch(dhcpopt_config_registry(config));
}

void
free_config()
{
	revoked_watch_free(watch);	// stops and joins the thread first
	watch = NULL;
	revoked_db_listen_free(listener);	// after the thread that uses it
	listener = NULL;
	revoked_watch_free(nc_watch);
	nc_watch = NULL;
	revoked_db_listen_free(nc_listener);
	nc_listener = NULL;
	noncompliant_class.clear();
	registry_path.clear();
	registry_name.clear();
	for (auto &o : prebuilt)
		o.reset();
	dhcpopt_config_free(config);
	config = NULL;
	revoked_class.clear();
	only_class.clear();
}


// The packet's option code as Kea holds it, or null. getOption() would copy it first
// while Kea copies the options of packets handed to hooks; these callouts only read.
template <class P>
OptionPtr
peek(const P &pkt, uint16_t code)
{
	const auto it = pkt->options_.find(code);

	return it == pkt->options_.end() ? OptionPtr() : it->second;
}

// Option 57 of a DHCPv4 query (RFC 2132 §9.10), 0 when absent or malformed.
size_t
client_max_size(const Pkt4Ptr &query)
{
	OptionPtr o = peek(query, isc::dhcp::DHO_DHCP_MAX_MESSAGE_SIZE);

	if (!o)
		return 0;
	std::vector<uint8_t> d = o->toBinary(false);
	return d.size() == 2 ? (static_cast<size_t>(d[0]) << 8 | d[1]) : 0;
}

std::string
added_text(unsigned bits, const char *sztp, const char *vendor)
{
	std::string s;

	if (bits & DHCPOPT_ADD_SZTP)
		s = sztp;
	if (bits & DHCPOPT_ADD_VENDOR)
		s += std::string(s.empty() ? "" : ", ") + vendor;
	return s;
}

// A reference to the current snapshot for the length of one callout.
struct snapshot_ref {
	struct revoked_set *s;
	explicit snapshot_ref(struct revoked_watch *w) : s(revoked_watch_acquire(w)) {}
	~snapshot_ref() { revoked_set_release(s); }
	snapshot_ref(const snapshot_ref &) = delete;
	snapshot_ref &operator=(const snapshot_ref &) = delete;
};

bool
skip_callout(CalloutHandle &handle)
{
	CalloutHandle::CalloutNextStep st = handle.getStatus();

	// An earlier hook dropped the packet or took over packing it: leave it alone.
	return config == NULL || st == CalloutHandle::NEXT_STEP_DROP ||
	    st == CalloutHandle::NEXT_STEP_SKIP;
}

// True when one of the response's option 17 instances carries our enterprise number.
bool
has_our_vendor6(const Pkt6Ptr &response)
{
	uint32_t ours = dhcpopt_config_enterprise(config), ent;

	for (const auto &it : response->getOptions(DHCPOPT_V6_VENDOR_OPTS)) {
		if (!it.second)
			continue;
		std::vector<uint8_t> d = it.second->toBinary(false);
		if (dhcpopt_vendor6_enterprise(d.data(), d.size(), &ent) == 0 && ent == ours)
			return true;
	}
	return false;
}

// What the two families differ in: Kea's argument names, the answer types, our option
// codes, how a response says it already holds a vendor option, and which identifiers of
// a query are looked up in the revoked snapshot. add_options() and classify_revoked()
// below are the callout bodies both share; the C core (dhcpopt_select) decides per packet.
struct family4 {
	typedef Pkt4Ptr pkt_ptr;
	static constexpr int number = 4;
	static constexpr const char *query_arg = "query4";
	static constexpr const char *response_arg = "response4";
	static constexpr Option::Universe universe = Option::V4;
	static constexpr uint16_t sztp_code = DHCPOPT_V4_SZTP_REDIRECT;
	static constexpr uint16_t vendor_code = DHCPOPT_V4_VIVSO;
	static constexpr enum dhcpopt_encoded sztp_enc = DHCPOPT_ENC_V4_SZTP;
	static constexpr enum dhcpopt_encoded vendor_enc = DHCPOPT_ENC_V4_VENDOR;
	static constexpr const char *sztp_name = "option 143";
	static constexpr const char *vendor_name = "option 125";

	static bool
	is_answer(uint8_t type)
	{
		return type == isc::dhcp::DHCPOFFER || type == isc::dhcp::DHCPACK;
	}

	// Any option 125 counts (we do not merge into another's); the size limit of the
	// query's client (option 57) decides what fits.
	static void
	describe(const Pkt4Ptr &query, const Pkt4Ptr &response, struct dhcpopt_pkt *p)
	{
		p->has_vendor = peek(response, DHCPOPT_V4_VIVSO) != nullptr;
		p->resp_len = response->len();
		p->client_max = client_max_size(query);
	}

	// A query whose hardware address (Ethernet) or client identifier (option 61,
	// RFC 2132 §9.14) belongs to a revoked device: what matched, or NULL.
	static const char *
	revoked_id(const struct revoked_set *s, const Pkt4Ptr &query)
	{
		HWAddrPtr hw = query->getHWAddr();
		if (hw && hw->hwaddr_.size() == REVOKED_MAC_LEN &&
		    revoked_set_contains(s, REVOKED_MAC, hw->hwaddr_.data(),
		    hw->hwaddr_.size()))
			return "MAC address";
		OptionPtr o = peek(query, isc::dhcp::DHO_DHCP_CLIENT_IDENTIFIER);
		if (o) {
			const OptionBuffer &d = o->getData();
			if (!d.empty() && revoked_set_contains(s, REVOKED_CLIENT_ID, d.data(),
			    d.size()))
				return "client identifier";
		}
		return NULL;
	}
};

struct family6 {
	typedef Pkt6Ptr pkt_ptr;
	static constexpr int number = 6;
	static constexpr const char *query_arg = "query6";
	static constexpr const char *response_arg = "response6";
	static constexpr Option::Universe universe = Option::V6;
	static constexpr uint16_t sztp_code = DHCPOPT_V6_SZTP_REDIRECT;
	static constexpr uint16_t vendor_code = DHCPOPT_V6_VENDOR_OPTS;
	static constexpr enum dhcpopt_encoded sztp_enc = DHCPOPT_ENC_V6_SZTP;
	static constexpr enum dhcpopt_encoded vendor_enc = DHCPOPT_ENC_V6_VENDOR;
	static constexpr const char *sztp_name = "option 136";
	static constexpr const char *vendor_name = "option 17";

	static bool
	is_answer(uint8_t type)
	{
		return type == DHCPV6_ADVERTISE || type == DHCPV6_REPLY;
	}

	// Only an option 17 of our enterprise counts; no size limit applies.
	static void
	describe(const Pkt6Ptr &, const Pkt6Ptr &response, struct dhcpopt_pkt *p)
	{
		p->has_vendor = has_our_vendor6(response);
	}

	// The client's DUID (option 1, RFC 8415 §21.2).
	static const char *
	revoked_id(const struct revoked_set *s, const Pkt6Ptr &query)
	{
		OptionPtr o = peek(query, D6O_CLIENTID);
		if (o) {
			const OptionBuffer &d = o->getData();
			if (!d.empty() && revoked_set_contains(s, REVOKED_DUID, d.data(), d.size()))
				return "DUID";
		}
		return NULL;
	}
};

// pkt4_send/pkt6_send: add our options to an answer (OFFER/ACK, ADVERTISE/REPLY) as
// dhcpopt_select() decides from the packet's facts.
template <class F>
void
add_options(CalloutHandle &handle)
{
	typename F::pkt_ptr query, response;
	struct dhcpopt_pkt p = {};
	unsigned bits;

	handle.getArgument(F::query_arg, query);
	handle.getArgument(F::response_arg, response);
	if (!query || !response)
		return;
	p.family = F::number;
	p.answer = F::is_answer(response->getType());
	if (!p.answer)
		return;
	p.in_only_class = !only_class.empty() && query->inClass(only_class);
	p.in_revoked = query->inClass(revoked_class);
	p.has_sztp = peek(response, F::sztp_code) != nullptr;
	F::describe(query, response, &p);
	bits = dhcpopt_select(config, &p);
	if (bits & DHCPOPT_ADD_SZTP)
		response->addOption(prebuilt[F::sztp_enc]);
	if (bits & DHCPOPT_ADD_VENDOR)
		response->addOption(prebuilt[F::vendor_enc]);
	if (bits & DHCPOPT_TRIMMED) {	// v4 only
		LOG_DEBUG(latchkey_logger, DBG_PACKET, LATCHKEY_OPTIONS_TRIMMED)
		    .arg(response->getName()).arg(response->getTransid())
		    .arg(p.client_max > DHCPOPT_V4_MIN_MSG ? p.client_max : DHCPOPT_V4_MIN_MSG);
	}
	if (bits & (DHCPOPT_ADD_SZTP | DHCPOPT_ADD_VENDOR)) {
		LOG_DEBUG(latchkey_logger, DBG_PACKET, LATCHKEY_OPTIONS_ADDED)
		    .arg(added_text(bits, F::sztp_name, F::vendor_name))
		    .arg(response->getName()).arg(response->getTransid());
	}
}

// pkt4_receive/pkt6_receive: a query from a revoked device (F::revoked_id) goes into
// revoked-class, before Kea selects the subnet and pool. Raw bytes are compared; nothing
// is formatted unless logged.
template <class F>
void
classify_revoked(CalloutHandle &handle)
{
	typename F::pkt_ptr query;
	const char *what;

	if (watch == NULL)
		return;
	handle.getArgument(F::query_arg, query);
	if (!query)
		return;
	{
		snapshot_ref ref(watch);
		what = revoked_set_count(ref.s) == 0 ? NULL : F::revoked_id(ref.s, query);
	}
	if (what != NULL) {
		query->addClass(revoked_class);
		LOG_DEBUG(latchkey_logger, DBG_PACKET, LATCHKEY_REVOKED_CLASSIFIED).arg(what)
		    .arg(query->getLabel()).arg(revoked_class).arg(query->getTransid());
	}
	// issue #20: the latest posture verdict was noncompliant (the same lookup, the
	// noncompliant snapshot)
	if (nc_watch == NULL)
		return;
	{
		snapshot_ref ref(nc_watch);
		what = revoked_set_count(ref.s) == 0 ? NULL : F::revoked_id(ref.s, query);
	}
	if (what == NULL)
		return;
	query->addClass(noncompliant_class);
	LOG_DEBUG(latchkey_logger, DBG_PACKET, LATCHKEY_NONCOMPLIANT_CLASSIFIED).arg(what)
	    .arg(query->getLabel()).arg(noncompliant_class).arg(query->getTransid());
}

// The frame of every callout: leave a packet an earlier hook dropped or took over alone,
// run body, and let no exception reach Kea (logged; the callout returns 1).
int
run_callout(CalloutHandle &handle, const char *name, void (*body)(CalloutHandle &))
{
	try {
		if (!skip_callout(handle))
			body(handle);
	} catch (const std::exception &ex) {
		try {
			LOG_ERROR(latchkey_logger, LATCHKEY_CALLOUT_FAILED).arg(std::string(name))
			    .arg(std::string(ex.what()));
		} catch (...) {
		}
		return 1;
	} catch (...) {
		return 1;
	}
	return 0;
}

} // namespace

extern "C" {

int
version()
{
	return KEA_HOOKS_VERSION;
}

int
load(LibraryHandle &handle)
{
	try {
		free_config();
		load_config(handle);
		return 0;
	} catch (const std::exception &ex) {
		try {
			LOG_ERROR(latchkey_logger, LATCHKEY_LOAD_FAILED).arg(std::string(ex.what()));
		} catch (...) {
		}
	} catch (...) {
		try {
			LOG_ERROR(latchkey_logger, LATCHKEY_LOAD_FAILED)
			    .arg(std::string("unexpected error"));
		} catch (...) {
		}
	}
	free_config();
	return 1;
}

int
unload()
{
	try {
		free_config();
		LOG_INFO(latchkey_logger, LATCHKEY_UNLOAD);
	} catch (...) {
	}
	return 0;
}

// Callouts only read the configuration built by load() and change the packet they were
// handed, so any number of packet threads may run them at once. The revoked snapshot keeps
// this true: it is immutable, replaced under a mutex by the watcher's thread, and each
// callout holds a reference to the one it looks at.
int
multi_threading_compatible()
{
	return 1;
}

int
pkt4_send(CalloutHandle &handle)
{
	return run_callout(handle, "pkt4_send", add_options<family4>);
}

int
pkt6_send(CalloutHandle &handle)
{
	return run_callout(handle, "pkt6_send", add_options<family6>);
}

// Revoked devices into revoked-class, early enough to steer subnet and pool selection
// (a snapshot lookup, never a database query per packet).
int
pkt4_receive(CalloutHandle &handle)
{
	return run_callout(handle, "pkt4_receive", classify_revoked<family4>);
}

int
pkt6_receive(CalloutHandle &handle)
{
	return run_callout(handle, "pkt6_receive", classify_revoked<family6>);
}

} // extern "C"
