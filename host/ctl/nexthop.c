// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nexthop.c - egress interface and next-hop MAC of a subscriber, from the
 * kernel's routes and neighbours (see nexthop.h).
 *
 * Two rtnetlink sockets, both bound to the namespace pso_nh_open() ran in:
 * - a libnl cache manager follows links, addresses, routes (IPv4 and IPv6),
 *   policy rules and neighbours from the kernel's notifications;
 * - a request socket asks the kernel which route it would use (RTM_GETROUTE,
 *   as `ip route get`, so policy routing and multipath choice are the
 *   kernel's own) and asks it to resolve neighbours (NTF_USE, as `ip neigh
 *   ... use`).
 * Routes are asked for rather than matched against the route cache, so the
 * answer is the kernel's; the route and rule caches are kept only so that a
 * change in them is reported.
 */
#include "ctl/nexthop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

/* Bursts of notifications (a link going down takes its routes and
 * neighbours with it) must not overrun the manager's socket; when they do
 * anyway, pso_nh_process() refills the caches. */
#define PSO_NH_RCVBUF (4 << 20)

/* States in which the kernel itself would transmit to the cached lladdr. */
#define NUD_RESOLVED (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		      NUD_PERMANENT | NUD_NOARP)
/* States that need no kick: valid, or a resolution already under way. */
#define NUD_NO_TRIGGER (NUD_REACHABLE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | \
			NUD_NOARP | NUD_INCOMPLETE)

struct pso_nh {
	struct nl_cache_mngr *mngr;
	struct nl_sock *sk;		/* requests and refills */
	struct nl_cache *links, *addrs, *routes, *rules, *neighs;
	pso_nh_change_fn fn;
	void *ctx;
	bool changed;
	/* pso_nh_prefer(): AF_INET (4 bytes) or AF_INET6 */
	struct { int family; uint8_t addr[16]; } prefer[PSO_NH_PREFER_MAX];
	int nprefer;
};

/* libnl speaks its own error codes; the project speaks errno. */
static int nlerr(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:			 return 0;
	case NLE_NOMEM:		 return -ENOMEM;
	case NLE_PERM:		 return -EPERM;
	case NLE_AGAIN:		 return -EAGAIN;
	case NLE_INTR:		 return -EINTR;
	case NLE_INVAL:		 return -EINVAL;
	case NLE_EXIST:		 return -EEXIST;
	case NLE_BUSY:		 return -EBUSY;
	case NLE_RANGE:		 return -ERANGE;
	case NLE_NODEV:		 return -ENODEV;
	case NLE_NOADDR:	 return -EADDRNOTAVAIL;
	case NLE_OBJ_NOTFOUND:
	case NLE_NOCACHE:	 return -ENOENT;
	case NLE_OPNOTSUPP:	 return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:	 return -EAFNOSUPPORT;
	case NLE_PROTO_MISMATCH: return -EPROTO;
	case NLE_BAD_SOCK:	 return -EBADF;
	case NLE_MSGSIZE:	 return -EMSGSIZE;
	case NLE_DUMP_INTR:	 return -EAGAIN;
	default:		 return -EIO;
	}
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static bool is_mac(const struct nl_addr *a)
{
	return a && nl_addr_get_len(a) == 6 && !nl_addr_iszero(a);
}

static int neigh_state(struct rtnl_neigh *n)
{
	int state = n ? rtnl_neigh_get_state(n) : -1;

	return state < 0 ? NUD_NONE : state;	/* -1: not reported */
}

static bool neigh_resolved(struct rtnl_neigh *n)
{
	return n && (neigh_state(n) & NUD_RESOLVED) && is_mac(rtnl_neigh_get_lladdr(n));
}

static bool neigh_failed(struct rtnl_neigh *n)
{
	return n && (neigh_state(n) & NUD_FAILED);
}

static void on_change(struct nl_cache *cache, struct nl_object *obj, int act, void *arg)
{
	struct pso_nh *nh = arg;

	(void)cache, (void)obj, (void)act;
	nh->changed = true;
}

/*
 * Neighbours change state all the time (REACHABLE ages to STALE, is probed,
 * confirmed) without the answer of a lookup changing.  What changes it:
 * becoming resolved or not, a new MAC, and a resolution ending in FAILED
 * (the caller may then give up or try again).  Bridge FDB entries share the
 * table and never matter.
 */
static void on_neigh_change(struct nl_cache *cache, struct nl_object *old_obj,
			    struct nl_object *new_obj, uint64_t diff, int act, void *arg)
{
	struct rtnl_neigh *o = (struct rtnl_neigh *)old_obj, *n = (struct rtnl_neigh *)new_obj;
	struct rtnl_neigh *any = n ? n : o;
	struct pso_nh *nh = arg;
	bool ro, rn;
	int family;

	(void)cache, (void)diff, (void)act;
	if (!any)
		return;
	family = rtnl_neigh_get_family(any);
	if (family != AF_INET && family != AF_INET6)
		return;
	ro = neigh_resolved(o);
	rn = neigh_resolved(n);
	if (ro != rn ||
	    (rn && nl_addr_cmp(rtnl_neigh_get_lladdr(o), rtnl_neigh_get_lladdr(n))) ||
	    (neigh_failed(n) && !neigh_failed(o)))
		nh->changed = true;
}

static int set_rcvbuf(int fd, int size)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == 0)
		return 0;
	/* Without CAP_NET_ADMIN: as much as net.core.rmem_max allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0)
		return 0;
	return -errno;
}

int pso_nh_open(struct pso_nh **result, pso_nh_change_fn fn, void *ctx)
{
	struct nl_cache *neighs = NULL;
	struct pso_nh *nh;
	int err;

	nh = calloc(1, sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	nh->fn = fn;
	nh->ctx = ctx;

	nh->sk = nl_socket_alloc();
	if (!nh->sk) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = nlerr(nl_connect(nh->sk, NETLINK_ROUTE));
	if (err)
		goto cleanup;

	/* No NL_AUTO_PROVIDE: providing caches is process-global state, and
	 * two pso_nh (tests, several namespaces) would fight over it. */
	err = nlerr(nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, 0, &nh->mngr));
	if (err)
		goto cleanup;
	err = set_rcvbuf(nl_cache_mngr_get_fd(nh->mngr), PSO_NH_RCVBUF);
	if (err)
		goto cleanup;

	err = nlerr(nl_cache_mngr_add(nh->mngr, "route/link", on_change, nh, &nh->links));
	if (!err)
		err = nlerr(nl_cache_mngr_add(nh->mngr, "route/addr", on_change, nh, &nh->addrs));
	/* One route cache holds both families: it dumps AF_UNSPEC and joins
	 * the IPv4 and IPv6 route groups. */
	if (!err)
		err = nlerr(nl_cache_mngr_add(nh->mngr, "route/route", on_change, nh, &nh->routes));
	if (!err)
		err = nlerr(nl_cache_mngr_add(nh->mngr, "route/rule", on_change, nh, &nh->rules));
	if (err)
		goto cleanup;
	/* The v2 callback sees the old and the new object, to tell a MAC
	 * change from a neighbour merely aging. */
	err = nlerr(nl_cache_alloc_name("route/neigh", &neighs));
	if (err)
		goto cleanup;
	err = nlerr(nl_cache_mngr_add_cache_v2(nh->mngr, neighs, on_neigh_change, nh));
	if (err) {
		nl_cache_free(neighs);
		goto cleanup;
	}
	nh->neighs = neighs;

	nh->changed = false;	/* the initial fill is not a change */
	*result = nh;
	return 0;

cleanup:
	pso_nh_close(nh);
	return err;
}

void pso_nh_close(struct pso_nh *nh)
{
	if (!nh)
		return;
	/* The manager frees the caches it holds. */
	nl_cache_mngr_free(nh->mngr);
	nl_socket_free(nh->sk);
	free(nh);
}

int pso_nh_fd(const struct pso_nh *nh)
{
	return nl_cache_mngr_get_fd(nh->mngr);
}

/* After an overrun the caches missed events: read what is queued (it is
 * older than the dump that follows), then dump everything again. */
static int resync(struct pso_nh *nh)
{
	struct nl_cache *caches[] = { nh->links, nh->addrs, nh->routes, nh->rules, nh->neighs };
	int err;

	for (int i = 0; i < 64; i++) {
		err = nl_cache_mngr_data_ready(nh->mngr);
		if (err >= 0)
			break;
	}
	for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
		err = nlerr(nl_cache_refill(nh->sk, caches[i]));
		if (err)
			return err;
	}
	nh->changed = true;
	return 0;
}

int pso_nh_process(struct pso_nh *nh)
{
	int err;

	err = nl_cache_mngr_data_ready(nh->mngr);
	/* The kernel's ENOBUFS (dropped notifications) arrives as NLE_NOMEM. */
	if (err == -NLE_NOMEM)
		err = resync(nh);
	else
		err = err < 0 ? nlerr(err) : 0;
	if (nh->changed) {
		nh->changed = false;
		if (nh->fn)
			nh->fn(nh->ctx);
	}
	return err;
}

struct route_reply {
	struct rtnl_route *route;
	int error;		/* the kernel's, a negative errno */
};

static int route_reply_valid(struct nl_msg *msg, void *arg)
{
	struct route_reply *r = arg;
	struct nlmsghdr *hdr = nlmsg_hdr(msg);
	int err;

	if (hdr->nlmsg_type != RTM_NEWROUTE || r->route)
		return NL_SKIP;
	err = rtnl_route_parse(hdr, &r->route);
	if (err < 0)
		r->error = nlerr(err);
	return NL_OK;
}

static int route_reply_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct route_reply *r = arg;

	(void)nla;
	r->error = e->error;
	return NL_STOP;
}

/* RTM_GETROUTE for one address, as `ip route get ADDR [oif DEV]`. */
static int route_get(struct pso_nh *nh, int family, const uint8_t *addr, int ifindex,
		     struct rtnl_route **route)
{
	struct rtmsg rtm = {
		.rtm_family = family,
		.rtm_dst_len = addr_len(family) * 8,
	};
	struct route_reply r = {};
	struct nl_msg *msg;
	struct nl_cb *cb;
	int err;

	msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, addr_len(family), addr) < 0 ||
	    (ifindex > 0 && nla_put_u32(msg, RTA_OIF, ifindex) < 0)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	err = nl_send_auto(nh->sk, msg);
	nlmsg_free(msg);
	if (err < 0)
		return nlerr(err);

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, route_reply_valid, &r);
	nl_cb_err(cb, NL_CB_CUSTOM, route_reply_error, &r);
	err = nl_recvmsgs(nh->sk, cb);
	nl_cb_put(cb);
	/* A reply is followed by the ACK the socket asks for; an error is the
	 * ACK. */
	if (r.route && !r.error && err >= 0)
		err = nl_wait_for_ack(nh->sk);
	if (r.error || err < 0 || !r.route) {
		if (r.route)
			rtnl_route_put(r.route);
		if (r.error)
			return r.error;
		return err < 0 ? nlerr(err) : -EIO;
	}
	*route = r.route;
	return 0;
}

/* Ask the kernel to resolve dst on ifindex, as `ip neigh replace DST dev
 * DEV nud none use`: NTF_USE makes it act as if a packet were queued
 * (ARP request / neighbour solicitation, or re-confirming a STALE entry).
 * NUD_NONE, unlike ip's default NUD_PERMANENT, leaves a created entry
 * subject to garbage collection. */
static int neigh_trigger(struct pso_nh *nh, int ifindex, struct nl_addr *dst)
{
	struct rtnl_neigh *req;
	int err;

	req = rtnl_neigh_alloc();
	if (!req)
		return -ENOMEM;
	rtnl_neigh_set_ifindex(req, ifindex);
	err = nlerr(rtnl_neigh_set_dst(req, dst));
	if (!err) {
		rtnl_neigh_set_state(req, NUD_NONE);
		rtnl_neigh_set_flags(req, NTF_USE);
		err = nlerr(rtnl_neigh_add(nh->sk, req, NLM_F_CREATE | NLM_F_REPLACE));
	}
	rtnl_neigh_put(req);
	return err;
}

/*
 * The link itself: its AF_UNSPEC object.  The kernel also sends per-family
 * RTM_NEWLINK (IPv6's, when the link comes up) that libnl caches as objects
 * of their own under the same ifindex, and rtnl_link_get() may return one of
 * those, frozen at the time it was sent.
 */
static struct rtnl_link *link_get(struct nl_cache *links, int ifindex)
{
	for (struct nl_object *obj = nl_cache_get_first(links); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj;

		if (rtnl_link_get_ifindex(link) == ifindex &&
		    rtnl_link_get_family(link) == AF_UNSPEC) {
			nl_object_get(obj);
			return link;
		}
	}
	return NULL;
}

static int neigh_lookup(struct pso_nh *nh, struct pso_nexthop *out)
{
	struct rtnl_neigh *neigh;
	struct nl_addr *dst;
	int err = 0;

	dst = nl_addr_build(out->nh_family, out->nh_addr, addr_len(out->nh_family));
	if (!dst)
		return -ENOMEM;
	neigh = rtnl_neigh_get(nh->neighs, out->ifindex, dst);
	if (neigh_resolved(neigh)) {
		memcpy(out->mac, nl_addr_get_binary_addr(rtnl_neigh_get_lladdr(neigh)), 6);
		out->resolved = true;
	}
	out->failed = neigh_failed(neigh);
	if (!(neigh_state(neigh) & NUD_NO_TRIGGER))
		err = neigh_trigger(nh, out->ifindex, dst);
	if (neigh)
		rtnl_neigh_put(neigh);
	nl_addr_put(dst);
	/* A failed kick does not make a known MAC wrong. */
	return out->resolved ? 0 : err;
}

int pso_nh_lookup_dev(struct pso_nh *nh, int family, const uint8_t addr[16], int ifindex,
		      struct pso_nexthop *out)
{
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *hop;
	struct rtnl_link *link;
	struct nl_addr *gw;
	int err;

	memset(out, 0, sizeof(*out));
	if (!addr_len(family))
		return -EAFNOSUPPORT;
	err = route_get(nh, family, addr, ifindex, &route);
	switch (err) {
	case 0:
		break;
	case -ENETUNREACH:
	case -EHOSTUNREACH:	/* unreachable route */
	case -EACCES:		/* prohibit route */
	case -EINVAL:		/* blackhole route */
		return -ENETUNREACH;
	default:
		return err;
	}

	switch (rtnl_route_get_type(route)) {
	case RTN_UNICAST:
		break;
	case RTN_LOCAL:
	case RTN_BROADCAST:
	case RTN_ANYCAST:
	case RTN_MULTICAST:
		err = -EADDRNOTAVAIL;
		goto out;
	default:
		err = -ENETUNREACH;
		goto out;
	}
	hop = rtnl_route_nexthop_n(route, 0);
	if (!hop || rtnl_route_nh_get_ifindex(hop) <= 0) {
		err = -ENETUNREACH;
		goto out;
	}
	out->ifindex = rtnl_route_nh_get_ifindex(hop);

	/* The neighbour is the gateway (RTA_VIA may name one of the other
	 * family), or the destination itself when it is on the link. */
	gw = rtnl_route_nh_get_gateway(hop);
	if (!gw)
		gw = rtnl_route_nh_get_via(hop);
	if (gw && addr_len(nl_addr_get_family(gw)) == (int)nl_addr_get_len(gw)) {
		out->nh_family = nl_addr_get_family(gw);
		memcpy(out->nh_addr, nl_addr_get_binary_addr(gw), nl_addr_get_len(gw));
	} else {
		out->nh_family = family;
		memcpy(out->nh_addr, addr, addr_len(family));
	}

	/* Nothing to resolve on links without Ethernet addresses (tun,
	 * wireguard, ppp): the data plane cannot forward there. */
	link = link_get(nh->links, out->ifindex);
	if (link) {
		struct nl_addr *mac = rtnl_link_get_addr(link);
		bool eth = mac && nl_addr_get_len(mac) == 6;

		rtnl_link_put(link);
		if (!eth) {
			err = -EOPNOTSUPP;
			goto out;
		}
	}
	err = neigh_lookup(nh, out);
out:
	rtnl_route_put(route);
	return err;
}

int pso_nh_lookup(struct pso_nh *nh, int family, const uint8_t addr[16], struct pso_nexthop *out)
{
	return pso_nh_lookup_dev(nh, family, addr, 0, out);
}

/* Better address for pso_link_info: of two candidates, the one a reader
 * would call the link's address, then the lowest, so the answer does not
 * depend on the order of notifications. */
static bool addr_better(const uint8_t *cand, bool cand_pref, const uint8_t *cur, bool cur_pref,
			bool have, int len)
{
	if (!have)
		return true;
	if (cand_pref != cur_pref)
		return cand_pref;
	return memcmp(cand, cur, len) < 0;
}

int pso_nh_prefer(struct pso_nh *nh, int family, const uint8_t addr[16])
{
	for (int i = 0; i < nh->nprefer; i++)
		if (nh->prefer[i].family == family &&
		    !memcmp(nh->prefer[i].addr, addr, family == AF_INET ? 4 : 16))
			return 0;
	if (nh->nprefer == PSO_NH_PREFER_MAX)
		return -E2BIG;
	nh->prefer[nh->nprefer].family = family;
	memcpy(nh->prefer[nh->nprefer].addr, addr, 16);
	nh->nprefer++;
	return 0;
}

static bool preferred(const struct pso_nh *nh, int family, const uint8_t *addr)
{
	for (int i = 0; i < nh->nprefer; i++)
		if (nh->prefer[i].family == family &&
		    !memcmp(nh->prefer[i].addr, addr, family == AF_INET ? 4 : 16))
			return true;
	return false;
}

int pso_nh_link(struct pso_nh *nh, int ifindex, struct pso_link_info *out)
{
	bool vip4 = false, vip6 = false;
	bool pref4 = false, pref6 = false;
	struct rtnl_link *link;
	struct nl_object *obj;
	struct nl_addr *mac;
	unsigned int flags;

	memset(out, 0, sizeof(*out));
	link = link_get(nh->links, ifindex);
	if (!link)
		return -ENODEV;
	out->ifindex = ifindex;
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link) ?: "");
	flags = rtnl_link_get_flags(link);
	/* IFF_RUNNING follows the operational state, which the kernel settles
	 * (and notifies) a little after the carrier flag itself. */
	out->up = (flags & IFF_UP) && (flags & IFF_RUNNING);
	out->mtu = rtnl_link_get_mtu(link);
	mac = rtnl_link_get_addr(link);
	if (mac && nl_addr_get_len(mac) == 6)
		memcpy(out->mac, nl_addr_get_binary_addr(mac), 6);
	rtnl_link_put(link);

	for (obj = nl_cache_get_first(nh->addrs); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *a = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(a);
		unsigned int aflags = rtnl_addr_get_flags(a);
		bool pref;

		if (rtnl_addr_get_ifindex(a) != ifindex || !local)
			continue;
		switch (rtnl_addr_get_family(a)) {
		case AF_INET:
			if (nl_addr_get_len(local) != 4)
				break;
			pref = !(aflags & IFA_F_SECONDARY);
			if (vip4)
				break;
			vip4 = preferred(nh, AF_INET, nl_addr_get_binary_addr(local));
			if (vip4 || addr_better(nl_addr_get_binary_addr(local), pref, out->ip4, pref4,
						out->has_ip4, 4)) {
				memcpy(out->ip4, nl_addr_get_binary_addr(local), 4);
				pref4 = pref;
				out->has_ip4 = true;
			}
			break;
		case AF_INET6:
			/* Global scope only, and usable: not still in or failed
			 * by duplicate address detection. */
			if (nl_addr_get_len(local) != 16 ||
			    rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE ||
			    (aflags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
				break;
			pref = !(aflags & (IFA_F_DEPRECATED | IFA_F_TEMPORARY));
			if (vip6)
				break;
			vip6 = preferred(nh, AF_INET6, nl_addr_get_binary_addr(local));
			if (vip6 || addr_better(nl_addr_get_binary_addr(local), pref, out->ip6, pref6,
						out->has_ip6, 16)) {
				memcpy(out->ip6, nl_addr_get_binary_addr(local), 16);
				pref6 = pref;
				out->has_ip6 = true;
			}
			break;
		}
	}
	return 0;
}
