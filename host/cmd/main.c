// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * main.c - the psoffload command: the broker daemon and its subcommands.
 *
 * `psoffload NAME ...` runs the subcommand NAME from the table below;
 * anything else is the broker's own command line.  The broker's settings
 * come from one table (broker_opts): its rows are the command-line options
 * and the keys of the configuration file (util/conf.h), and say which a
 * reload (SIGHUP) may change while the broker runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/broker.h"
#include "daemon/ctlsock.h"
#include "daemon/metrics.h"
#include "ctl/profile.h"
#include "cmd/capacity_opts.h"
#include "cmd/check_cmd.h"
#include "cmd/client.h"
#include "cmd/reload.h"
#include "cmd/ha_cmd.h"
#include "util/conf.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/opts.h"
#include "cmd/lists.h"
#include "cmd/stats.h"
#include "cmd/events_cmd.h"
#include "cmd/status.h"
#include "store/store.h"
#include "ha/ha.h"

/* The Makefile's: VERSION and `git describe`, and SYSCONFDIR. */
#ifndef PSO_VERSION
#define PSO_VERSION "unknown"
#endif
#ifndef PSO_SYSCONFDIR
#define PSO_SYSCONFDIR "/etc"
#endif
#define PSO_CONFIG_DEFAULT PSO_SYSCONFDIR "/psoffload/psoffload.conf"

#define STR(x) STR_(x)
#define STR_(x) #x

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the name */
	const char *args;			/* in the usage line */
	const char *summary;
} commands[] = {
	{ "status", pso_cmd_status, "[--json]",
	  "per interface: mode in force and why, programs, tables" },
	{ "stats", pso_cmd_stats, "[--json] [--watch=S]", "the running broker's counters" },
	{ "clients", pso_cmd_clients, "[--state=S]", "connected clients by client id" },
	{ "sessions", pso_cmd_sessions, "[--state=S]", "every session, kept ones too" },
	{ "topics", pso_cmd_topics, "[--match=F]", "topics by name, with their traffic" },
	{ "subscriptions", pso_cmd_subscriptions, "[TOPIC]", "who subscribes to what" },
	{ "events", pso_cmd_events, "[--follow] [--json] [--reason=R]",
	  "the data plane's recent drops and refusals" },
	{ "pub", pso_cmd_pub, "[OPTIONS]", "publish (see psoffload pub --help)" },
	{ "sub", pso_cmd_sub, "[OPTIONS]", "subscribe (see psoffload sub --help)" },
	{ "check", pso_cmd_check, "[OPTIONS] OBJECT",
	  "does a BPF object fit a NIC's offload limits" },
	{ "reload", pso_cmd_reload, "[--name=NAME]",
	  "the running broker re-reads its configuration" },
	{ "restart", pso_cmd_restart, "[--name=NAME]",
	  "hand over to a fresh exec of the binary, data plane running" },
	{ "ha", pso_cmd_ha, "step-down [--name=NAME]",
	  "a group's leader hands over to another member" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void broker_head(FILE *f)
{
	char line[64];
	size_t i;

	fprintf(f, "usage: psoffload %-28s %s\n", "[OPTIONS] [IFACE...]",
		"run the broker on these interfaces");
	for (i = 0; i < N_COMMANDS; i++) {
		snprintf(line, sizeof(line), "%s %s", commands[i].name, commands[i].args);
		fprintf(f, "       psoffload %-28s %s\n", line, commands[i].summary);
	}
	fprintf(f, "\nBroker options:\n");
}

struct broker_args {
	struct pso_broker_cfg cfg;
	int verbosity;
	const char *config;
};

static const struct pso_opt_name mode_names[] = {
	{ "auto", PSO_MODE_AUTO },
	{ "hw", PSO_MODE_HW },
	{ "drv", PSO_MODE_DRV },
	{ "skb", PSO_MODE_SKB },
	{ 0 },
};

/* xdp-loader's spellings */
static const struct pso_opt_name mode_aliases[] = {
	{ "native", PSO_MODE_DRV },
	{ "generic", PSO_MODE_SKB },
	{ "offload", PSO_MODE_HW },
	{ 0 },
};

static int check_name(const char *arg, char *why, size_t whylen)
{
	if (pso_ctl_name_valid(arg))
		return 0;
	snprintf(why, whylen, "use letters, digits, '.', '_' and '-' (at most %d)", PSO_CTL_NAME_MAX);
	return -EINVAL;
}

static int check_metrics(const char *arg, char *why, size_t whylen)
{
	struct sockaddr_storage ss;

	if (!pso_metrics_parse_addr(arg, &ss))
		return 0;
	snprintf(why, whylen, "use ADDR:PORT, [ADDR6]:PORT or :PORT");
	return -EINVAL;
}

static int check_store(const char *arg, char *why, size_t whylen)
{
	return pso_store_spec_check(arg, why, whylen);
}

/* --trusted=CIDR,...: every network must parse. */
static int check_trusted(const char *arg, char *why, size_t whylen)
{
	struct pso_cidr nets[PSO_MAX_TRUSTED];
	int n;

	if (!pso_cidr_parse_list(arg, nets, PSO_MAX_TRUSTED, &n))
		return 0;
	snprintf(why, whylen, "use ADDRESS/PREFIX,... (at most %d, host bits zero), "
		 "e.g. 10.0.0.0/8,fd00::/8", PSO_MAX_TRUSTED);
	return -EINVAL;
}

/* --vip=ADDR/PREFIX@IFACE,...: every address must parse. */
static int check_vips(const char *arg, char *why, size_t whylen)
{
	struct pso_vip v[PSO_VIP_MAX];
	int n;

	return pso_vip_parse_list(arg, v, PSO_VIP_MAX, &n, why, whylen);
}

static const struct pso_opt_name qosm1_names[] = {
	{ "predefined", PSO_QOSM1_PREDEFINED },
	{ "all", PSO_QOSM1_ALL },
	{ "none", PSO_QOSM1_NONE },
	{ 0 },
};

#define BROKER(f) PSO_OPT_FIELD(struct broker_args, f)
#define BROKER_SIZE(f) BROKER(cfg.sizes.f)
#define LIVE PSO_OPT_F_LIVE

/* Every broker setting.  .flags: LIVE, a reload changes it in the running
 * broker (pso_broker_reconfigure); PSO_OPT_F_IFACE, an [interface NAME]
 * section may set it too; PSO_OPT_F_CLI_ONLY, no key in the file. */
static const struct pso_opt broker_opts[] = {
	{ "mode", 'm', PSO_OPT_ENUM, BROKER(cfg.mode), .names = mode_names,
	  .aliases = mode_aliases, .arg = "MODE",
	  .flags = PSO_OPT_F_IFACE,
	  .help = "auto|hw|drv|skb: where XDP runs (default auto: hw where\n"
		  "the NIC offloads, else drv where the driver has native\n"
		  "XDP, else skb; each step down is logged with its reason)" },
	{ "port", 'p', PSO_OPT_UINT, BROKER(cfg.udp_port), .min = 1, .max = 65535, .arg = "N",
	  .help = "MQTT-SN UDP port (default " STR(PSO_DEFAULT_UDP_PORT) ")" },
	{ "predefined", 'P', PSO_OPT_STRING, BROKER(cfg.predefined_path), .arg = "FILE",
	  .flags = LIVE,
	  .help = "predefined topics, one \"id name\" per line" },
	{ "qos-m1", 0, PSO_OPT_ENUM, BROKER(cfg.qosm1), .names = qosm1_names, .arg = "POLICY",
	  .flags = LIVE,
	  .help = "predefined|all|none: topics QoS -1 may publish to:\n"
		  "predefined ids and short names, any, or none\n(default predefined)" },
	{ "gw-id", 0, PSO_OPT_UINT, BROKER(cfg.gw_id), .min = 0, .max = 255, .arg = "N",
	  .flags = LIVE,
	  .help = "gateway id in GWINFO/ADVERTISE (default 1)" },
	{ "advertise", 0, PSO_OPT_UINT, BROKER(cfg.advertise_s), .min = 0, .max = 65535,
	  .unit = "seconds", .arg = "SEC", .flags = LIVE,
	  .help = "send ADVERTISE every SEC seconds on every interface,\n"
		  "IPv4 broadcast and IPv6 ff02::1 (default off)" },
	{ "session-expiry", 0, PSO_OPT_UINT, BROKER(cfg.session_expiry_s), .min = 0,
	  .max = 4294967, .unit = "seconds", .arg = "SEC", .flags = LIVE,
	  .help = "how long a session kept by a CONNECT without\nCleanSession outlives its connection (default 3600)" },
	{ "topic-idle", 0, PSO_OPT_UINT, BROKER(cfg.topic_idle_s), .min = 0,
	  .max = 4294967, .unit = "seconds", .arg = "SEC", .flags = LIVE,
	  .help = "free a registered topic nobody uses (no subscriber,\n"
		  "no retained message, its id known to no session) after\n"
		  "SEC idle, its id reused later; 0 never (default 600)" },
	{ "retry-interval", 0, PSO_OPT_UINT, BROKER(cfg.retry_s), .min = 1, .max = 3600,
	  .unit = "seconds", .arg = "SEC", .flags = LIVE,
	  .help = "QoS 1/2 deliveries: resend an unacknowledged one\nevery SEC seconds (T_RETRY, default 10)" },
	{ "retries", 0, PSO_OPT_UINT, BROKER(cfg.retries), .min = 0, .max = 100, .arg = "N",
	  .flags = LIVE,
	  .help = "QoS 1/2 deliveries: give up after N resends\n(N_RETRY, default 3)" },
	{ "trusted", 0, PSO_OPT_STRING, BROKER(cfg.trusted_list), .check = check_trusted, .flags = LIVE,
	  .arg = "CIDR,...",
	  .help = "networks whose clients need not prove their address\n"
		  "(loopback always is; see docs/SECURITY.md)" },
	{ "unvalidated-expiry", 0, PSO_OPT_UINT, BROKER(cfg.unvalidated_s), .min = 1,
	  .max = 3600, .unit = "seconds", .arg = "SEC",
	  .help = "end a session whose address is not proven within\nSEC seconds (default 30)" },
	{ "adopt-grace", 0, PSO_OPT_UINT, BROKER(cfg.adopt_grace_s), .min = 1, .max = 4294967,
	  .unit = "seconds", .arg = "SEC",
	  .help = "after a restart or crash without a store: the adopted\n"
		  "data plane's clients and subscribers that no session\n"
		  "claims are removed when silent for SEC (default 90)" },
	/* Capacities (capacity_opts.h): the data plane's table sizes. */
	PSO_CAPACITY_OPTS(BROKER_SIZE),
	/* Limits (proto/quota.c, docs/DESIGN.md "Limits"); 0 is none.  Each
	 * is read where it is applied, so a reload changes it live. */
	{ "max-keepalive", 0, PSO_OPT_UINT, BROKER(cfg.lim.max_keepalive_s), .flags = LIVE, .min = 0,
	  .max = 65535, .unit = "seconds", .arg = "SEC",
	  .help = "a CONNECT's keep-alive of 0 or above SEC gets SEC,\n"
		  "and so does a sleep: the client is lost 1.5 x SEC after\n"
		  "its last message (default 3600)" },
	{ "max-client-subscriptions", 0, PSO_OPT_UINT, BROKER(cfg.lim.subscriptions), .flags = LIVE,
	  .min = 0, .max = 1000000, .arg = "N", .help = "subscriptions per client (default 256)" },
	{ "max-holds", 0, PSO_OPT_UINT, BROKER(cfg.lim.holds), .flags = LIVE, .min = 0, .max = 65536, .arg = "N",
	  .help = "topics a client's subscriptions may take a subscriber\n"
		  "slot in; a filter counts every topic it matches, later\n"
		  "ones too (default 1024)" },
	{ "max-registrations", 0, PSO_OPT_UINT, BROKER(cfg.lim.registrations), .flags = LIVE, .min = 0,
	  .max = 65536, .arg = "N",
	  .help = "topics one client session may create (default 1024)" },
	{ "max-retained", 0, PSO_OPT_UINT, BROKER(cfg.lim.retained), .flags = LIVE, .min = 0,
	  .max = 1LL << 40, .unit = "bytes", .arg = "BYTES",
	  .help = "bytes of retained messages one client may store\n(default 1048576)" },
	{ "max-outbox", 0, PSO_OPT_UINT, BROKER(cfg.lim.outbox), .flags = LIVE, .min = 0, .max = 1000000,
	  .arg = "N", .help = "QoS 1/2 deliveries owed one client, in flight and\nwaiting (default 64)" },
	{ "max-sleep-buffer", 0, PSO_OPT_UINT, BROKER(cfg.lim.sleep_buffer), .flags = LIVE, .min = 0,
	  .max = 1000000, .arg = "N",
	  .help = "QoS 0 publishes kept for one sleeping client, the\noldest dropped (default 64)" },
	{ "max-retained-total", 0, PSO_OPT_UINT, BROKER(cfg.lim.retained_total), .flags = LIVE, .min = 0,
	  .max = 1LL << 40, .unit = "bytes", .arg = "BYTES",
	  .help = "bytes of retained messages in all (default 67108864)" },
	{ "max-buffered-total", 0, PSO_OPT_UINT, BROKER(cfg.lim.buffered_total), .flags = LIVE, .min = 0,
	  .max = 100000000, .arg = "N",
	  .help = "messages in every outbox and sleep buffer together\n(default 65536)" },
	{ "connect-rate", 0, PSO_OPT_UINT, BROKER(cfg.lim.connect_rate), .flags = LIVE, .min = 0,
	  .max = 1000000, .unit = "per second", .arg = "N",
	  .help = "CONNECTs a second from one source (IPv4 address,\n"
		  "IPv6 /64), in bursts of N; the rest dropped unanswered\n(default 50)" },
	{ "control-rate", 0, PSO_OPT_UINT, BROKER(cfg.lim.control_rate), .flags = LIVE, .min = 0,
	  .max = 1000000, .unit = "per second", .arg = "N",
	  .help = "other control messages a second from one source\n"
		  "(all but PUBLISH and its acknowledgements), in bursts\n"
		  "of N; the rest dropped unanswered (default 500)" },
	{ "max-publish-rate", 0, PSO_OPT_UINT, BROKER(cfg.max_publish_rate), .min = 0,
	  .max = 1000000000, .unit = "publishes a second", .arg = "N",
	  .help = "forward at most N QoS 0 publishes a second from\n"
		  "each connected client in the data plane; the rest are\n"
		  "dropped and counted (xdp_drop_rate); 0: no limit\n"
		  "(default " STR(PSO_DEFAULT_MAX_PUBLISH_RATE) ")" },
	{ "publish-burst", 0, PSO_OPT_UINT, BROKER(cfg.publish_burst), .min = 0,
	  .max = 1000000000, .arg = "N",
	  .help = "a client idle for a while may send N publishes at\n"
		  "once before --max-publish-rate holds (default: N of\n"
		  "--max-publish-rate, one second's worth)" },
	{ "placement-interval", 0, PSO_OPT_UINT, BROKER(cfg.placement_ms), .min = 10,
	  .max = 3600000, .unit = "ms", .arg = "MS", .flags = LIVE,
	  .help = "hw mode: how often the busiest topics are re-placed\n"
		  "in the NIC's small topic table (default 1000)" },
	{ "event-rate", 0, PSO_OPT_UINT, BROKER(cfg.event_rate), .min = 0, .flags = LIVE,
	  .max = PSO_EVENT_RATE_MAX, .arg = "N",
	  .help = "data-plane events (drops, refusals, copies not made)\n"
		  "each CPU may report per second; the rest are counted\n"
		  "as event_suppressed; 0: none (default " STR(PSO_EVENT_RATE_DEFAULT) ")" },
	{ "pin-dir", 0, PSO_OPT_STRING, BROKER(cfg.pin_dir), .arg = "DIR",
	  .help = "where the maps are pinned (default " PSO_PIN_DIR_DEFAULT ");\n"
		  "under /sys/fs/bpf with no bpffs there (ip netns exec),\n"
		  "the broker mounts one; one broker per directory, by\n"
		  "its full path: a lock in " PSO_RUN_DIR " says whose" },
	{ "name", 'n', PSO_OPT_STRING, BROKER(cfg.name), .check = check_name, .arg = "NAME",
	  .help = "the broker's name: its control socket is\n"
		  PSO_CTL_DIR "/NAME.sock (default: the pin\n"
		  "directory's last component, psoffload)" },
	{ "store", 0, PSO_OPT_STRING, BROKER(cfg.store), .check = check_store, .arg = "SPEC",
	  .help = "where sessions, registrations and retained messages\n"
		  "outlive the broker: sqlite:PATH (created if missing),\n"
		  "etcd:http://HOST:PORT[,...] (an etcd 3.4 cluster the\n"
		  "brokers of a group share, keys under /psoffload/default/)\n"
		  "or none (default sqlite:" PSO_STORE_DIR "/state.db;\n"
		  "a broker named otherwise: " PSO_STORE_DIR "/NAME.db)" },
	{ "store-reset", 0, PSO_OPT_FLAG, BROKER(cfg.store_reset), .flags = PSO_OPT_F_CLI_ONLY,
	  .help = "set the store file aside (renamed, never deleted) and\n"
		  "start empty: the way to start over a store that is\n"
		  "corrupt, not psoffload's or of a newer version" },
	{ "ha-group", 0, PSO_OPT_STRING, BROKER(cfg.ha_group), .check = check_name, .arg = "NAME",
	  .help = "be a member of the broker group NAME, which shares\n"
		  "its etcd store (--store=etcd:...): one leader serves,\n"
		  "the others are hot standbys that take over when its\n"
		  "lease ends (default: no group)" },
	{ "vip", 0, PSO_OPT_STRING, BROKER(cfg.vips), .check = check_vips,
	  .arg = "ADDR/PREFIX@IFACE,...",
	  .help = "the group's virtual addresses, IPv4 or IPv6, which\n"
		  "its leader holds and announces (gratuitous ARP,\n"
		  "unsolicited neighbour advertisement); clients use them" },
	{ "ha-lease-ttl", 0, PSO_OPT_UINT, BROKER(cfg.ha_ttl_s), .min = 2, .max = 60,
	  .unit = "seconds", .arg = "SEC",
	  .help = "the leader's lease: a standby takes over at most SEC\n"
		  "after the leader is gone; shorter fails over sooner but\n"
		  "a store or network stall that long costs a failover\n"
		  "(default " STR(PSO_HA_TTL_DEFAULT) ")" },
	{ "metrics", 0, PSO_OPT_STRING, BROKER(cfg.metrics_addr), .check = check_metrics,
	  .arg = "ADDR:PORT",
	  .help = "serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		  "(:PORT: every address; default off)" },
	{ "metrics-topics", 0, PSO_OPT_UINT, BROKER(cfg.metrics_topics), .min = 0, .max = 10000, .flags = LIVE,
	  .arg = "N", .help = "per-topic metrics for the N busiest topics\n"
			      "(default " STR(PSO_METRICS_TOPICS_DEFAULT) ")" },
	{ "profiles-dir", 0, PSO_OPT_STRING, BROKER(cfg.profiles_dir), .arg = "DIR",
	  .help = "NIC profiles (default: nic-profiles/ beside the build)" },
	{ "verbose", 'v', PSO_OPT_COUNTER, BROKER(verbosity), .flags = LIVE,
	  .help = "more log lines; twice: libbpf debug output\n(in the file: verbose = 0, 1 or 2)" },
	{ "config", 'c', PSO_OPT_STRING, BROKER(config), .arg = "FILE", .flags = PSO_OPT_F_CLI_ONLY,
	  .help = "settings file (default " PSO_CONFIG_DEFAULT ";\n"
		  "that one may be missing); the command line wins" },
	{ "version", 'V', PSO_OPT_VERSION, .flags = PSO_OPT_F_CLI_ONLY, .help = "the version" },
	{ "help", 'h', PSO_OPT_HELP, .flags = PSO_OPT_F_CLI_ONLY, .help = "this text" },
	{ 0 },
};

#define N_BROKER_OPTS (sizeof(broker_opts) / sizeof(broker_opts[0]) - 1)

static const struct pso_opt_spec broker_spec = {
	.prog = "psoffload",
	.opts = broker_opts,
	.print_head = broker_head,
	.version = PSO_VERSION,
	.tail = "\nThe interfaces: the IFACE operands, else the [interface NAME] sections of the\n"
		"settings file.  Runs until SIGINT or SIGTERM, then sends every connected\n"
		"client a DISCONNECT (paced, 1 s at most), writes its store (the sessions\n"
		"that outlive a DISCONNECT are kept, offline) and detaches everything it\n"
		"attached; SIGHUP (psoffload reload) re-reads the settings file and applies\n"
		"what can change live; SIGUSR2 (psoffload restart) execs the binary at its\n"
		"path again, which adopts the running data plane and the store's sessions\n"
		"(nothing detached, no client told); a broker started over a dead one's\n"
		"pins adopts them too.  Under systemd (Type=notify) it reports READY,\n"
		"STATUS and the watchdog.  Exit status: 0 stopped cleanly, 1 could not\n"
		"start or failed, 2 bad command line or settings file.\n",
};

static void broker_defaults(struct broker_args *a)
{
	*a = (struct broker_args){
		.cfg = {
			.udp_port = PSO_DEFAULT_UDP_PORT,
			.mode = PSO_MODE_AUTO,
			.qosm1 = PSO_QOSM1_PREDEFINED,
			.pin_dir = PSO_PIN_DIR_DEFAULT,
			.gw_id = 1,
			.placement_ms = 1000, .session_expiry_s = 3600, .topic_idle_s = 600,
			.retry_s = 10, .retries = 3, .unvalidated_s = 30, .adopt_grace_s = 90,
			.max_publish_rate = PSO_DEFAULT_MAX_PUBLISH_RATE,
			.build = PSO_VERSION,
			.event_rate = PSO_EVENT_RATE_DEFAULT,
			.lim = PSO_LIMITS_DEFAULT,
			.metrics_topics = PSO_METRICS_TOPICS_DEFAULT,
			.ha_ttl_s = PSO_HA_TTL_DEFAULT,
		},
	};
}

/* The broker's interfaces and the mode each asks for. */
struct iface_list {
	int n;
	char **names;
	enum pso_mode *modes;
};

static void iface_list_free(struct iface_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->modes);
	memset(l, 0, sizeof(*l));
}

static bool iface_list_equal(const struct iface_list *a, const struct iface_list *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->names[i], b->names[i]) || a->modes[i] != b->modes[i])
			return false;
	return true;
}

/* The command line, as parsed once: each reload applies it again. */
struct broker_cmd {
	int argc;
	char **argv;
	int first;			/* the first IFACE operand */
	struct broker_args cli;		/* the command line over the defaults */
	uint64_t given;			/* the rows it sets */
	const char *config;		/* the settings file */
	bool config_given;		/* --config: it must be there */
};

/*
 * The defaults, then the settings file, then the command line, into a;
 * the interfaces into ifs (the operands, else the file's sections; each
 * with the mode of its section unless --mode was given).  0, or an exit
 * code with one line in err.  *found: the file was there.
 */
static int settle(const struct broker_cmd *c, struct broker_args *a, struct iface_list *ifs,
		  bool *found, char *err, size_t errlen)
{
	static char profiles[512];
	struct pso_conf conf;
	int ret = 0, n;

	broker_defaults(a);
	memset(ifs, 0, sizeof(*ifs));
	if (pso_conf_merge(c->config, c->config_given, broker_opts, a, sizeof(*a), &c->cli,
			   c->given, &conf, found, err, errlen))
		return PSO_EXIT_USAGE;

	if (a->cfg.publish_burst && !a->cfg.max_publish_rate) {
		snprintf(err, errlen, "--publish-burst needs a --max-publish-rate above 0");
		ret = PSO_EXIT_USAGE;
		goto out;
	}
	if (!a->cfg.profiles_dir) {
		if (!profiles[0] && pso_profile_dir_default(profiles, sizeof(profiles))) {
			snprintf(err, errlen, "cannot find nic-profiles/; use --profiles-dir");
			ret = PSO_EXIT_USAGE;
			goto out;
		}
		a->cfg.profiles_dir = profiles;
	}

	n = c->first < c->argc ? c->argc - c->first : conf.nifaces;
	if (!n) {
		snprintf(err, errlen, "no interface given (name one, or an [interface NAME] section in %s)",
			 c->config);
		ret = PSO_EXIT_USAGE;
		goto out;
	}
	if (a->cfg.vips && !a->cfg.ha_group) {
		snprintf(err, errlen, "--vip needs --ha-group: a virtual address belongs to a "
			 "group's leader");
		ret = PSO_EXIT_USAGE;
		goto out;
	}
	if (a->cfg.ha_group && (!a->cfg.store || strncmp(a->cfg.store, "etcd:", 5))) {
		snprintf(err, errlen, "--ha-group needs the store the group shares: "
			 "--store=etcd:URL[,URL...]");
		ret = PSO_EXIT_USAGE;
		goto out;
	}
	ifs->names = calloc(n, sizeof(*ifs->names));
	ifs->modes = calloc(n, sizeof(*ifs->modes));
	if (!ifs->names || !ifs->modes) {
		snprintf(err, errlen, "out of memory");
		ret = PSO_EXIT_FAILURE;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *name = c->first < c->argc ? c->argv[c->first + i] : conf.ifaces[i].name;
		const struct pso_conf_iface *f = pso_conf_iface(&conf, name);
		struct broker_args mine = *a;

		ifs->names[i] = strdup(name);
		if (!ifs->names[i]) {
			snprintf(err, errlen, "out of memory");
			ret = PSO_EXIT_FAILURE;
			goto out;
		}
		ifs->n = i + 1;
		if (f)
			pso_conf_iface_apply(f, broker_opts, &mine, c->given);
		ifs->modes[i] = mine.cfg.mode;
	}
	a->cfg.ifnames = (const char *const *)ifs->names;
	a->cfg.ifmodes = ifs->modes;
	a->cfg.nifnames = ifs->n;
out:
	pso_conf_free(&conf);
	if (ret)
		iface_list_free(ifs);
	return ret;
}

/*
 * SIGHUP: read the settings again; hand the broker the live ones, keep the
 * others as they are and say, one line each, which changed and need a
 * restart.  A bad file changes nothing.
 */
static void reload(const struct broker_cmd *c, struct pso_broker *b, struct broker_args *cur,
		   const struct iface_list *cur_ifs)
{
	struct broker_args want, next;
	struct iface_list ifs;
	char err[512], was[256], now[256];
	int live = 0, restart = 0;
	bool found;

	if (settle(c, &want, &ifs, &found, err, sizeof(err))) {
		pso_err("reload: %s; nothing changed", err);
		return;
	}
	next = want;
	for (size_t i = 0; i < N_BROKER_OPTS; i++)
		if (!(broker_opts[i].flags & PSO_OPT_F_LIVE))
			pso_opt_copy(&broker_opts[i], &next, cur);
	next.cfg.ifnames = cur->cfg.ifnames;
	next.cfg.ifmodes = cur->cfg.ifmodes;
	next.cfg.nifnames = cur->cfg.nifnames;
	if (pso_broker_reconfigure(b, &next.cfg, err, sizeof(err))) {
		pso_err("reload: %s; nothing changed", err);
		iface_list_free(&ifs);
		return;
	}
	for (size_t i = 0; i < N_BROKER_OPTS; i++) {
		const struct pso_opt *opt = &broker_opts[i];

		if (opt->flags & PSO_OPT_F_CLI_ONLY || pso_opt_equal(opt, cur, &want))
			continue;
		pso_opt_format(opt, cur, was, sizeof(was));
		pso_opt_format(opt, &want, now, sizeof(now));
		if (opt->flags & PSO_OPT_F_LIVE) {
			pso_info("reload: %s %s -> %s", opt->name, was, now);
			live++;
		} else {
			pso_warn("reload: %s %s -> %s needs a restart; still %s", opt->name, was, now,
				 was);
			restart++;
		}
	}
	if (!iface_list_equal(cur_ifs, &ifs)) {
		pso_warn("reload: the interfaces or their modes changed: needs a restart");
		restart++;
	}
	iface_list_free(&ifs);
	pso_log_set_level(next.verbosity);
	*cur = next;
	pso_info("reload: %s%s: %d change%s applied, %d needing a restart", c->config,
		 found ? "" : " (not there: the defaults)", live, live == 1 ? "" : "s", restart);
}

static int run_broker(int argc, char **argv)
{
	struct broker_cmd c = { .argc = argc, .argv = argv };
	struct broker_args a;
	struct iface_list ifs;
	struct pso_broker *b;
	bool found;
	int ret;
	char err[512];

	broker_defaults(&c.cli);
	ret = pso_opts_parse_given(&broker_spec, argc, argv, &c.cli, &c.first, &c.given);
	if (ret != PSO_OPTS_RUN)
		return ret;
	c.config_given = c.cli.config != NULL;
	c.config = c.config_given ? c.cli.config : PSO_CONFIG_DEFAULT;
	ret = settle(&c, &a, &ifs, &found, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%spsoffload: %s\n", pso_log_sd_prefix(PSO_LOG_ERR), err);
		return ret;
	}
	pso_log_set_level(a.verbosity);
	if (found)
		pso_info("settings from %s and the command line", c.config);

	ret = pso_broker_start(&b, &a.cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%spsoffload: %s\n", pso_log_sd_prefix(PSO_LOG_ERR), err);
		iface_list_free(&ifs);
		return PSO_EXIT_FAILURE;
	}
	while ((ret = pso_broker_run(b)) == PSO_BROKER_RELOAD || ret == PSO_BROKER_RESTART) {
		if (ret == PSO_BROKER_RESTART) {
			/* Returns only when the exec failed: serve on. */
			pso_broker_exec(b, argv, err, sizeof(err));
			pso_err("%s", err);
			pso_broker_reloaded(b);
			continue;
		}
		pso_broker_reloading(b);
		reload(&c, b, &a, &ifs);
		pso_broker_reloaded(b);
	}
	pso_broker_stop(b);
	iface_list_free(&ifs);
	pso_info("stopped; everything detached");
	return ret ? PSO_EXIT_FAILURE : PSO_EXIT_OK;
}

int main(int argc, char **argv)
{
	size_t i;

	for (i = 0; argc > 1 && i < N_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return run_broker(argc, argv);
}
