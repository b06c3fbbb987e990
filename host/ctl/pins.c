// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pins.c - pso_meta and the pinned links of a pin directory (see pins.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ctl/pins.h"

#ifndef PSO_ABI_HASH
#define PSO_ABI_HASH 0u
#endif

uint32_t pso_abi_hash(void)
{
	return PSO_ABI_HASH;
}

static void meta_path(const char *pin_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pin_dir, PSO_META_PIN);
}

int pso_meta_read(const char *pin_dir, struct pso_meta *m, char *err, size_t errlen)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), key = 0;
	char path[512];
	int fd, ret = 0;

	meta_path(pin_dir, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	memset(m, 0, sizeof(*m));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_ARRAY ||
	    info.key_size != sizeof(key) || info.value_size != sizeof(*m) ||
	    bpf_map_lookup_elem(fd, &key, m) || memcmp(m->magic, PSO_META_MAGIC, sizeof(m->magic)) ||
	    m->meta_version != PSO_META_VERSION) {
		snprintf(err, errlen, "%s is not a psoffload data plane's (or of an unknown version); "
			 "refusing to adopt it: stop what uses it, or pick another --pin-dir", path);
		ret = -EPROTO;
	}
	close(fd);
	return ret;
}

int pso_meta_write(const char *pin_dir, const struct pso_meta *m, char *err, size_t errlen)
{
	char path[512];
	__u32 key = 0;
	int fd, ret = 0;

	meta_path(pin_dir, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, PSO_META_PIN, sizeof(key), sizeof(*m), 1, NULL);
		if (fd < 0 || bpf_obj_pin(fd, path)) {
			ret = -errno;
			snprintf(err, errlen, "cannot pin %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return ret;
		}
	}
	if (bpf_map_update_elem(fd, &key, m, BPF_ANY)) {
		ret = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	}
	close(fd);
	return ret;
}

void pso_meta_init(struct pso_meta *m, const char *build, uint32_t topics, uint32_t clients,
		   uint32_t subscriptions)
{
	struct timespec ts;

	memset(m, 0, sizeof(*m));
	memcpy(m->magic, PSO_META_MAGIC, sizeof(m->magic));
	m->meta_version = PSO_META_VERSION;
	m->abi_hash = pso_abi_hash();
	snprintf(m->build, sizeof(m->build), "%s", build ? build : "?");
	m->topics = topics;
	m->clients = clients;
	m->subscriptions = subscriptions;
	m->client_slots = PSO_CLIENT_SLOTS;
	m->port_slots = PSO_PORT_SLOTS;
	m->pid = (__u32)getpid();
	clock_gettime(CLOCK_REALTIME, &ts);
	m->created_ms = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pso_link_pin_path(const char *pin_dir, const char *kind, const char *ifname, char *buf,
		       size_t len)
{
	/* bpffs refuses dots in names; no interface name has a ':'. */
	int n = snprintf(buf, len, "%s/link_%s:", pin_dir, kind);

	for (const char *c = ifname; n > 0 && (size_t)n + 1 < len && *c; c++)
		buf[n++] = *c == '.' ? ':' : *c;
	if (n > 0 && (size_t)n < len)
		buf[n] = '\0';
}

int pso_link_open(const char *path, bool tcx, int ifindex, uint32_t *prog_id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EPROTO;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    info.type != (tcx ? PSO_BPF_LINK_TYPE_TCX : BPF_LINK_TYPE_XDP)) {
		close(fd);
		return -EPROTO;
	}
	/* tcx's link info starts with the ifindex as XDP's does; a link whose
	 * device went away reads 0. */
	if ((int)info.xdp.ifindex != ifindex) {
		close(fd);
		unlink(path);
		return -ESTALE;
	}
	*prog_id = info.prog_id;
	return fd;
}

bool pso_prog_uses_map(uint32_t prog_id, int map_fd, char *name, size_t namelen)
{
	struct bpf_prog_info info = {};
	struct bpf_map_info minfo = {};
	__u32 len = sizeof(info), mlen = sizeof(minfo), ids[64];
	bool found = false;
	int fd = bpf_prog_get_fd_by_id(prog_id);

	if (name && namelen)
		name[0] = '\0';
	if (fd < 0 || bpf_obj_get_info_by_fd(map_fd, &minfo, &mlen)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		if (name && namelen)
			snprintf(name, namelen, "%s", info.name);
		for (__u32 i = 0; i < info.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++)
			found |= ids[i] == minfo.id;
	}
	close(fd);
	return found;
}

bool pso_tcx_disabled(void)
{
	const char *v = getenv("PSOFFLOAD_NO_TCX");

	return v && v[0] && strcmp(v, "0");
}

int pso_tcx_create(int prog_fd, int ifindex)
{
	int fd;

	if (pso_tcx_disabled())
		return -EINVAL;
	fd = bpf_link_create(prog_fd, ifindex, PSO_BPF_TCX_INGRESS, NULL);
	return fd < 0 ? -errno : fd;
}
