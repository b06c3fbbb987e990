// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * rec_json.c - records as JSON objects (rec_json.h), with json-c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <json-c/json.h>
#include "store/rec_json.h"

/* ---- base64 ---------------------------------------------------------------------- */

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pso_b64_encode(const void *data, size_t n)
{
	const uint8_t *in = data;
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*o++ = b64_chars[(v >> 18) & 63];
		*o++ = b64_chars[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64_chars[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

uint8_t *pso_b64_decode(const char *text, size_t tlen, size_t *n)
{
	uint8_t *out;
	size_t o = 0;

	if (tlen % 4)
		return NULL;
	out = malloc(tlen / 4 * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < tlen; i += 4) {
		int v[4];

		for (int j = 0; j < 4; j++) {
			v[j] = b64_value(text[i + j]);
			/* '=' only as the last one or two of the last group */
			if (v[j] < 0 && !(text[i + j] == '=' && i + 4 == tlen && j >= 2))
				goto bad;
		}
		if (v[2] < 0 && v[3] >= 0)
			goto bad;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (v[3] >= 0)
			out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	out[o] = '\0';
	*n = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* ---- writing --------------------------------------------------------------------- */

static const char *const sub_kinds[] = { "name", "filter", "predefined", "short" };
static const char *const boxes[] = { "outbox", "sleep" };

static int add(struct json_object *o, const char *name, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_object_add(o, name, v) ? -ENOMEM : 0;
}

static int add_bytes(struct json_object *o, const char *name, const void *data, size_t n)
{
	char *b = pso_b64_encode(data, n);
	int ret;

	if (!b)
		return -ENOMEM;
	ret = add(o, name, json_object_new_string(b));
	free(b);
	return ret;
}

static int add_ids(struct json_object *o, const char *name, const uint16_t *ids, int n)
{
	struct json_object *a = json_object_new_array();
	int ret = add(o, name, a);

	for (int i = 0; !ret && i < n; i++)
		ret = json_object_array_add(a, json_object_new_int(ids[i])) ? -ENOMEM : 0;
	return ret;
}

static int add_addr(struct json_object *o, const char *name, const struct in6_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, a, text, sizeof(text));
	return add(o, name, json_object_new_string(text));
}

static int add_ep(struct json_object *o, const char *name, const struct pso_endpoint *ep)
{
	char text[80];

	return add(o, name, json_object_new_string(pso_endpoint_str(ep, text, sizeof(text))));
}

static int session_json(struct json_object *o, const struct pso_rec_session *r)
{
	bool fwd = r->fwd.node_len > 0;
	struct json_object *a;
	int ret = add(o, "client_id", json_object_new_string(r->id));

	if (!ret)
		ret = add(o, "clean", json_object_new_boolean(r->clean));
	if (!ret)
		ret = add(o, "connected", json_object_new_boolean(r->connected));
	if (!ret)
		ret = add(o, "asleep", json_object_new_boolean(r->asleep));
	if (!ret && r->connected && !fwd)
		ret = add_ep(o, "endpoint", &r->ep);
	if (!ret && r->connected)
		ret = add_addr(o, "local_addr", &r->local.ipi6_addr);
	if (!ret && r->connected)
		ret = add(o, "local_ifindex", json_object_new_int(r->local.ipi6_ifindex));
	if (!ret && fwd) {
		ret = add_ep(o, "forwarder", &r->fwd_ep);
		if (!ret)
			ret = add_bytes(o, "fwd_node", r->fwd.node, r->fwd.node_len);
		if (!ret)
			ret = add_addr(o, "fwd_local_addr", &r->fwd_local.ipi6_addr);
		if (!ret)
			ret = add(o, "fwd_local_ifindex", json_object_new_int(r->fwd_local.ipi6_ifindex));
	}
	if (!ret)
		ret = add(o, "fwd_ctrl", json_object_new_int(r->fwd.ctrl));
	if (!ret)
		ret = add(o, "keepalive_s", json_object_new_int(r->keepalive_s));
	if (!ret)
		ret = add(o, "sleep_s", json_object_new_int(r->sleep_s));
	if (!ret)
		ret = add(o, "next_msg_id", json_object_new_int(r->next_msg_id));
	if (!ret)
		ret = add(o, "lost_unix_ms", json_object_new_uint64(r->lost_unix_ms));
	if (!ret)
		ret = add_ids(o, "qos2_pending", r->qos2, r->nqos2);
	if (!ret && r->will_topic) {
		ret = add(o, "will_topic", json_object_new_string(r->will_topic));
		if (!ret)
			ret = add(o, "will_flags", json_object_new_int(r->will_flags));
		if (!ret)
			ret = add_bytes(o, "will_msg", r->will_msg, r->will_len);
	}
	if (!ret)
		ret = add_ids(o, "told", r->told, r->ntold);
	if (!ret && r->validation_len)
		ret = add_bytes(o, "validation", r->validation, r->validation_len);
	a = json_object_new_array();
	if (!ret)
		ret = add(o, "subscriptions", a);
	else
		json_object_put(a);
	for (int i = 0; !ret && i < r->nsubs; i++) {
		const struct pso_rec_sub *sub = &r->subs[i];
		struct json_object *so = json_object_new_object();

		ret = so && !json_object_array_add(a, so) ? 0 : -ENOMEM;
		if (!ret)
			ret = add(so, "kind", json_object_new_string(sub->kind < 4 ?
								     sub_kinds[sub->kind] : "?"));
		if (!ret && sub->filter)
			ret = add(so, "filter", json_object_new_string(sub->filter));
		if (!ret)
			ret = add(so, "topic_id", json_object_new_int(sub->topic_id));
		if (!ret)
			ret = add(so, "qos", json_object_new_int(sub->qos));
	}
	a = json_object_new_array();
	if (!ret)
		ret = add(o, "messages", a);
	else
		json_object_put(a);
	for (int i = 0; !ret && i < r->nmsgs; i++) {
		const struct pso_rec_msg *m = &r->msgs[i];
		struct json_object *mo = json_object_new_object();

		ret = mo && !json_object_array_add(a, mo) ? 0 : -ENOMEM;
		if (!ret)
			ret = add(mo, "box", json_object_new_string(boxes[m->box == PSO_BOX_SLEEP]));
		if (!ret)
			ret = add(mo, "state", json_object_new_int(m->state));
		if (!ret)
			ret = add(mo, "sent_before", json_object_new_boolean(m->sent_before));
		if (!ret)
			ret = add(mo, "msg_id", json_object_new_int(m->msg_id));
		if (!ret)
			ret = add(mo, "flags", json_object_new_int(m->flags));
		if (!ret)
			ret = add(mo, "topic_field", json_object_new_int(m->topic_field));
		if (!ret)
			ret = add_bytes(mo, "payload", m->data, m->len);
	}
	return ret;
}

int pso_rec_to_json(const struct pso_rec *rec, char **out, size_t *len)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	int ret;

	if (!o)
		return -ENOMEM;
	switch (rec->kind) {
	case PSO_REC_TOPIC:
		ret = add(o, "id", json_object_new_int(rec->t.id));
		if (!ret)
			ret = add(o, "name", json_object_new_string(rec->t.name ? rec->t.name : ""));
		break;
	case PSO_REC_RETAINED:
		ret = add(o, "topic_id", json_object_new_int(rec->r.topic_id));
		if (!ret)
			ret = add(o, "flags", json_object_new_int(rec->r.flags));
		if (!ret)
			ret = add_bytes(o, "payload", rec->r.data, rec->r.len);
		break;
	case PSO_REC_SESSION:
		ret = session_json(o, &rec->s);
		break;
	default:
		ret = -EINVAL;
	}
	if (!ret) {
		size_t n;

		text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
		*out = text ? strndup(text, n) : NULL;
		*len = n;
		ret = *out ? 0 : -ENOMEM;
	}
	json_object_put(o);
	return ret;
}

/* ---- reading --------------------------------------------------------------------- */

static struct json_object *field(struct json_object *o, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(o, name, &v) ? v : NULL;
}

static int get_int(struct json_object *o, const char *name, int64_t lo, int64_t hi, int64_t *v)
{
	struct json_object *f = field(o, name);

	if (!f) {
		*v = 0;
		return 0;
	}
	if (!json_object_is_type(f, json_type_int))
		return -EINVAL;
	*v = json_object_get_int64(f);
	return *v < lo || *v > hi ? -EINVAL : 0;
}

static bool get_bool(struct json_object *o, const char *name)
{
	struct json_object *f = field(o, name);

	return f && json_object_get_boolean(f);
}

static const char *get_str(struct json_object *o, const char *name)
{
	struct json_object *f = field(o, name);

	return f && json_object_is_type(f, json_type_string) ? json_object_get_string(f) : NULL;
}

/* An absent field: NULL, 0 bytes, 0. */
static int get_bytes(struct json_object *o, const char *name, uint8_t **data, size_t *n)
{
	struct json_object *f = field(o, name);

	*data = NULL;
	*n = 0;
	if (!f)
		return 0;
	if (!json_object_is_type(f, json_type_string))
		return -EINVAL;
	*data = pso_b64_decode(json_object_get_string(f), (size_t)json_object_get_string_len(f), n);
	return *data ? 0 : -EINVAL;
}

static int get_ids(struct json_object *o, const char *name, uint16_t *fixed, int cap,
		   uint16_t **ids, int *n)
{
	struct json_object *a = field(o, name);
	size_t len;

	*n = 0;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -EINVAL;
	len = json_object_array_length(a);
	if (cap && len > (size_t)cap)
		return -EINVAL;
	if (!fixed && len) {
		*ids = calloc(len, sizeof(**ids));
		if (!*ids)
			return -ENOMEM;
		fixed = *ids;
	}
	for (size_t i = 0; i < len; i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		int64_t id = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || id < 0 || id > 0xffff)
			return -EINVAL;
		fixed[i] = (uint16_t)id;
	}
	*n = (int)len;
	return 0;
}

static int ep_parse(const char *t, struct pso_endpoint *ep)
{
	char buf[80], *colon;

	memset(ep, 0, sizeof(*ep));
	if (!t || strlen(t) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", t);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	ep->port = htons((uint16_t)atoi(colon + 1));
	if (buf[0] == '[') {
		size_t n = strlen(buf);

		if (n < 3 || buf[n - 1] != ']')
			return -EINVAL;
		buf[n - 1] = '\0';
		ep->family = PSO_AF_INET6;
		return inet_pton(AF_INET6, buf + 1, ep->addr) == 1 ? 0 : -EINVAL;
	}
	ep->family = PSO_AF_INET;
	return inet_pton(AF_INET, buf, ep->addr) == 1 ? 0 : -EINVAL;
}

static int addr_parse(const char *t, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	return !t || inet_pton(AF_INET6, t, a) == 1 ? 0 : -EINVAL;
}

static int sub_kind(const char *t)
{
	for (int i = 0; t && i < 4; i++)
		if (!strcmp(t, sub_kinds[i]))
			return i;
	return -1;
}

static int session_from(struct json_object *o, struct pso_rec_session *r)
{
	const char *id = get_str(o, "client_id"), *t;
	struct json_object *a;
	int64_t v;
	size_t n;
	int ret;

	if (!id || strlen(id) > MQTTSN_CLIENT_ID_MAX)
		return -EINVAL;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->clean = get_bool(o, "clean");
	r->connected = get_bool(o, "connected");
	r->asleep = get_bool(o, "asleep");
	if ((t = get_str(o, "endpoint")) && ep_parse(t, &r->ep))
		return -EINVAL;
	if (addr_parse(get_str(o, "local_addr"), &r->local.ipi6_addr))
		return -EINVAL;
	ret = get_int(o, "local_ifindex", 0, INT32_MAX, &v);
	r->local.ipi6_ifindex = (unsigned int)v;
	if (!ret && (t = get_str(o, "forwarder"))) {
		uint8_t *node;

		if (ep_parse(t, &r->fwd_ep) || get_bytes(o, "fwd_node", &node, &n))
			return -EINVAL;
		if (!n || n > MQTTSN_NODE_ID_MAX) {
			free(node);
			return -EINVAL;
		}
		memcpy(r->fwd.node, node, n);
		r->fwd.node_len = (uint8_t)n;
		free(node);
		if (addr_parse(get_str(o, "fwd_local_addr"), &r->fwd_local.ipi6_addr))
			return -EINVAL;
		ret = get_int(o, "fwd_local_ifindex", 0, INT32_MAX, &v);
		r->fwd_local.ipi6_ifindex = (unsigned int)v;
	}
	if (!ret)
		ret = get_int(o, "fwd_ctrl", 0, 255, &v);
	r->fwd.ctrl = (uint8_t)v;
	if (!ret)
		ret = get_int(o, "keepalive_s", 0, 0xffff, &v);
	r->keepalive_s = (uint16_t)v;
	if (!ret)
		ret = get_int(o, "sleep_s", 0, 0xffff, &v);
	r->sleep_s = (uint16_t)v;
	if (!ret)
		ret = get_int(o, "next_msg_id", 0, 0xffff, &v);
	r->next_msg_id = (uint16_t)v;
	if (!ret)
		ret = get_int(o, "lost_unix_ms", 0, INT64_MAX, &v);
	r->lost_unix_ms = (uint64_t)v;
	if (!ret)
		ret = get_ids(o, "qos2_pending", r->qos2, 16, NULL, &r->nqos2);
	if (!ret && (t = get_str(o, "will_topic"))) {
		r->will_topic = strdup(t);
		if (!r->will_topic)
			return -ENOMEM;
		ret = get_int(o, "will_flags", 0, 255, &v);
		r->will_flags = (uint8_t)v;
		if (!ret)
			ret = get_bytes(o, "will_msg", &r->will_msg, &r->will_len);
	}
	if (!ret)
		ret = get_ids(o, "told", NULL, 0, &r->told, &r->ntold);
	if (!ret)
		ret = get_bytes(o, "validation", &r->validation, &r->validation_len);
	if (ret)
		return ret;
	a = field(o, "subscriptions");
	if (a && json_object_is_type(a, json_type_array) && json_object_array_length(a)) {
		n = json_object_array_length(a);
		r->subs = calloc(n, sizeof(*r->subs));
		if (!r->subs)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			struct json_object *so = json_object_array_get_idx(a, i);
			struct pso_rec_sub *sub = &r->subs[i];
			int kind = sub_kind(get_str(so, "kind"));

			r->nsubs = (int)i + 1;
			if (kind < 0)
				return -EINVAL;
			sub->kind = (uint8_t)kind;
			if ((t = get_str(so, "filter")) && !(sub->filter = strdup(t)))
				return -ENOMEM;
			if (get_int(so, "topic_id", 0, 0xffff, &v))
				return -EINVAL;
			sub->topic_id = (uint16_t)v;
			if (get_int(so, "qos", 0, 3, &v))
				return -EINVAL;
			sub->qos = (uint8_t)v;
		}
	}
	a = field(o, "messages");
	if (a && json_object_is_type(a, json_type_array) && json_object_array_length(a)) {
		n = json_object_array_length(a);
		r->msgs = calloc(n, sizeof(*r->msgs));
		if (!r->msgs)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			struct json_object *mo = json_object_array_get_idx(a, i);
			struct pso_rec_msg *m = &r->msgs[i];

			r->nmsgs = (int)i + 1;
			t = get_str(mo, "box");
			m->box = t && !strcmp(t, "sleep") ? PSO_BOX_SLEEP : PSO_BOX_OUTBOX;
			if (get_int(mo, "state", 0, 255, &v))
				return -EINVAL;
			m->state = (uint8_t)v;
			m->sent_before = get_bool(mo, "sent_before");
			if (get_int(mo, "msg_id", 0, 0xffff, &v))
				return -EINVAL;
			m->msg_id = (uint16_t)v;
			if (get_int(mo, "flags", 0, 255, &v))
				return -EINVAL;
			m->flags = (uint8_t)v;
			if (get_int(mo, "topic_field", 0, 0xffff, &v))
				return -EINVAL;
			m->topic_field = (uint16_t)v;
			if (get_bytes(mo, "payload", &m->data, &m->len) || !m->data)
				return -EINVAL;
		}
	}
	return 0;
}

int pso_rec_from_json(enum pso_rec_kind kind, const char *text, size_t len, struct pso_rec *rec)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	const char *name;
	int64_t v;
	int ret = -EINVAL;

	memset(rec, 0, sizeof(*rec));
	rec->kind = kind;
	if (tok)
		json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	switch (kind) {
	case PSO_REC_TOPIC:
		name = get_str(o, "name");
		if (get_int(o, "id", 1, 0xffff, &v) || !v || !name || !*name)
			break;
		rec->t.id = (uint16_t)v;
		rec->t.name = strdup(name);
		ret = rec->t.name ? 0 : -ENOMEM;
		break;
	case PSO_REC_RETAINED:
		if (get_int(o, "topic_id", 1, 0xffff, &v) || !v)
			break;
		rec->r.topic_id = (uint16_t)v;
		if (get_int(o, "flags", 0, 255, &v))
			break;
		rec->r.flags = (uint8_t)v;
		if (get_bytes(o, "payload", &rec->r.data, &rec->r.len) || !rec->r.data)
			break;
		ret = 0;
		break;
	case PSO_REC_SESSION:
		ret = session_from(o, &rec->s);
		break;
	}
out:
	json_object_put(o);
	if (ret)
		pso_rec_free(rec);
	rec->kind = kind;
	return ret;
}
