/*
 * The cross-node shortcut's attachments: its programs on a device with tcx
 * where the kernel has it (clsact otherwise), recorded in mc_tc_att so that a
 * later agent adopts them and --uninstall removes only what meshcut made.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crossnode/tc_nl.h"
#include "log.h"

#define CLSACT_HANDLE 0x6d63u    /* "mc" */
#define CLSACT_PRIO_LAST 0xffffu /* after every other filter of the hook */
#define CLSACT_PRIO_TRIES 16
#define OUR_PROG_PREFIX "mc_tc_from_"

const char *tc_role_name(uint32_t role)
{
	return role == MC_TC_ROLE_OVL ? "overlay" : "pod";
}

static const char *mode_name(uint32_t mode)
{
	return mode == MC_TC_MODE_TCX ? "tcx" : "clsact";
}

void tc_link_pin_path(const char *dir, int ifindex, char *buf, size_t len)
{
	snprintf(buf, len, "%s/link_%d", dir, ifindex);
}

int tc_link(int ifindex, struct mc_link *out)
{
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	rc = mc_nl_get_link(NULL, ifindex, out);
	/* a reply for another ifindex: gone, as tc's own lookup always said
	 * (tc_check_records forgets a record on -ENODEV only) */
	return rc == -EPROTO ? -ENODEV : rc;
}

/* ------------------------------------------------------------ programs */

static int prog_info_by_id(uint32_t id, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);
	int fd = bpf_prog_get_fd_by_id(id), rc;

	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	rc = bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
	close(fd);
	return rc;
}

/* a program meshcut's tc shortcut loaded (this agent or an earlier one) */
static bool prog_is_ours(uint32_t id)
{
	struct bpf_prog_info info;

	return id && prog_info_by_id(id, &info) == 0 &&
	       !strncmp(info.name, OUR_PROG_PREFIX, strlen(OUR_PROG_PREFIX));
}

static uint32_t prog_id_of_fd(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int role_prog_fd(struct mc_tc *t, uint32_t role)
{
	return bpf_program__fd(role == MC_TC_ROLE_OVL ? t->skel->progs.mc_tc_from_ovl
						       : t->skel->progs.mc_tc_from_pod);
}

/* tcx link info: the 6.1 UAPI header has no tcx member; it sits where the
 * netns member does ({ifindex, attach_type}) */
struct tcx_link_info {
	uint32_t type, id, prog_id;
	uint32_t ifindex, attach_type;
};

static int tcx_link_info(int fd, struct tcx_link_info *out)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	out->type = info.type;
	out->id = info.id;
	out->prog_id = info.prog_id;
	out->ifindex = info.netns.netns_ino;
	out->attach_type = info.netns.attach_type;
	return 0;
}

/* ------------------------------------------------------------ clsact */

struct count_ctx {
	const struct mc_tc_att *skip; /* our own filter */
	int n;
};

static int count_filter(const struct tc_nl_filter *f, void *vctx)
{
	struct count_ctx *c = vctx;

	if (!f->handle)
		return 0; /* a classifier instance, not a filter */
	if (c->skip && f->prio == c->skip->prio && f->handle == c->skip->handle)
		return 0;
	c->n++;
	return 0;
}

/* filters of other owners on a clsact parent of the device */
static int foreign_filters(int ifindex, uint32_t parent, const struct mc_tc_att *ours)
{
	struct count_ctx c = {.skip = ours};

	if (tc_nl_filters(ifindex, parent, count_filter, &c))
		return 0; /* no clsact qdisc there */
	return c.n;
}

static int clsact_attach(int ifindex, int prog_fd, struct mc_tc_att *rec)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int err, i;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	rec->created_qdisc = err == 0;
	for (i = 0; i < CLSACT_PRIO_TRIES; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd, .handle = CLSACT_HANDLE,
				    .priority = CLSACT_PRIO_LAST - (unsigned)i);

		err = bpf_tc_attach(&hook, &o);
		if (!err) {
			rec->mode = MC_TC_MODE_CLSACT;
			rec->handle = CLSACT_HANDLE;
			rec->prio = o.priority;
			rec->prog_id = o.prog_id;
			return 0;
		}
		if (err != -EEXIST && err != -EINVAL)
			break;
	}
	if (rec->created_qdisc) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, both, .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		bpf_tc_hook_destroy(&both);
	}
	return err;
}

/* the prog id at our clsact slot, 0 when there is none */
static uint32_t clsact_prog_id(int ifindex, const struct mc_tc_att *rec)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = rec->handle, .priority = rec->prio);

	return bpf_tc_query(&hook, &o) ? 0 : o.prog_id;
}

static int clsact_detach(int ifindex, const struct mc_tc_att *rec)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = rec->handle, .priority = rec->prio);
	uint32_t id = clsact_prog_id(ifindex, rec);
	int err = 0;

	if (id && prog_is_ours(id))
		err = bpf_tc_detach(&hook, &o);
	else if (id)
		pr_warn("cross: the clsact filter at %s:%u of ifindex %d is not meshcut's any more: "
			"left alone", "ingress", rec->prio, ifindex);
	/* the qdisc goes only if meshcut created it and nothing else uses it */
	if (rec->created_qdisc && !foreign_filters(ifindex, MC_TC_CLSACT_INGRESS, NULL) &&
	    !foreign_filters(ifindex, MC_TC_CLSACT_EGRESS, NULL)) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, both, .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		bpf_tc_hook_destroy(&both);
	}
	return err;
}

static int clsact_update(int ifindex, struct mc_tc_att *rec, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd, .handle = rec->handle,
			    .priority = rec->prio, .flags = BPF_TC_F_REPLACE);
	int err = bpf_tc_attach(&hook, &o);

	if (!err)
		rec->prog_id = o.prog_id;
	return err;
}

/* ------------------------------------------------------------ tcx */

static int tcx_attach(const char *dir, int ifindex, int prog_fd, struct mc_tc_att *rec)
{
	char path[PATH_MAX];
	int fd, err;

	fd = bpf_link_create(prog_fd, ifindex, (enum bpf_attach_type)MC_BPF_TCX_INGRESS, NULL);
	if (fd < 0)
		return -errno;
	tc_link_pin_path(dir, ifindex, path, sizeof(path));
	unlink(path);
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		bpf_link_detach(fd);
		close(fd);
		return err;
	}
	close(fd); /* the pin holds it */
	rec->mode = MC_TC_MODE_TCX;
	rec->prog_id = prog_id_of_fd(prog_fd);
	return 0;
}

/* is the pinned tcx link still attached to this very device? */
static bool tcx_attached(const char *dir, int ifindex)
{
	struct tcx_link_info li = {0};
	char path[PATH_MAX];
	bool ok;
	int fd;

	tc_link_pin_path(dir, ifindex, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	ok = tcx_link_info(fd, &li) == 0 && li.type == MC_BPF_LINK_TYPE_TCX &&
	     li.ifindex == (uint32_t)ifindex && li.attach_type == MC_BPF_TCX_INGRESS;
	close(fd);
	return ok;
}

int tc_tcx_detach(const char *dir, int ifindex)
{
	char path[PATH_MAX];
	int fd, err = 0;

	tc_link_pin_path(dir, ifindex, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	/* a link of a deleted device is already detached (EINVAL/ENOLINK) */
	if (bpf_link_detach(fd) && errno != EINVAL && errno != ENOLINK && errno != ENOENT)
		err = -errno;
	close(fd);
	unlink(path);
	return err;
}

static int tcx_update(const char *dir, int ifindex, struct mc_tc_att *rec, int prog_fd)
{
	char path[PATH_MAX];
	int fd, err;

	tc_link_pin_path(dir, ifindex, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
	close(fd);
	if (!err)
		rec->prog_id = prog_id_of_fd(prog_fd);
	return err;
}

/* ------------------------------------------------------------ attachments */

/* detach what the record says meshcut attached (only that), from a device
 * that still exists; the record itself is not touched */
int tc_detach_record(const char *dir, int ifindex, const struct mc_tc_att *rec)
{
	struct mc_link l;

	if (rec->mode == MC_TC_MODE_TCX)
		return tc_tcx_detach(dir, ifindex); /* the link knows its device */
	if (tc_link(ifindex, &l) || strncmp(l.name, rec->name, sizeof(l.name)))
		return 0; /* the device went, and its filters with it */
	return clsact_detach(ifindex, rec);
}

static bool record_live(struct mc_tc *t, int ifindex, const struct mc_tc_att *rec)
{
	uint32_t id;

	if (rec->mode == MC_TC_MODE_TCX)
		return tcx_attached(t->dir, ifindex);
	id = clsact_prog_id(ifindex, rec);
	return id && prog_is_ours(id);
}

/* attach role's program to the device, tcx where the kernel has it. With
 * clsact filters of other owners on the hook, clsact behind them instead:
 * tcx programs run before every clsact filter, and a redirect ends the hook,
 * so those filters would stop seeing the packets meshcut redirects. */
static int attach_dev(struct mc_tc *t, int ifindex, uint32_t role, const char *name,
		      struct mc_tc_att *rec)
{
	int prog_fd = role_prog_fd(t, role), err = -EOPNOTSUPP;
	int foreign = foreign_filters(ifindex, MC_TC_CLSACT_INGRESS, NULL);

	memset(rec, 0, sizeof(*rec));
	rec->role = role;
	rec->node_netns = t->node_netns;
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	if (t->tcx >= 0 && !foreign) {
		err = tcx_attach(t->dir, ifindex, prog_fd, rec);
		if (!err) {
			t->tcx = 1;
		} else if (t->tcx == 0 && (err == -EINVAL || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */)) {
			pr_info("cross: this kernel has no tcx links (%s): using clsact", strerror(-err));
			t->tcx = -1;
		} else {
			return err;
		}
	}
	if (err) {
		err = clsact_attach(ifindex, prog_fd, rec);
		if (err)
			return err;
	}
	if (bpf_map_update_elem(MFD(t, mc_tc_att), &ifindex, rec, BPF_ANY)) {
		err = -errno;
		tc_detach_record(t->dir, ifindex, rec);
		return err;
	}
	pr_info("cross: %s program attached to %s (ifindex %d) with %s%s", tc_role_name(role), name,
		ifindex, mode_name(rec->mode),
		rec->mode == MC_TC_MODE_CLSACT && foreign ? " behind the filters already there" : "");
	return 0;
}

/* our program on the device, attached now or kept from before (updated to
 * this agent's program) */
int tc_ensure_attached(struct mc_tc *t, int ifindex, uint32_t role, const char *name,
		       struct mc_tc_att *out)
{
	struct mc_tc_att rec;
	int prog_fd = role_prog_fd(t, role), err;

	if (bpf_map_lookup_elem(MFD(t, mc_tc_att), &ifindex, &rec) == 0) {
		if (rec.role == role && !strncmp(rec.name, name, sizeof(rec.name)) &&
		    record_live(t, ifindex, &rec)) {
			if (rec.prog_id != prog_id_of_fd(prog_fd)) {
				err = rec.mode == MC_TC_MODE_TCX ? tcx_update(t->dir, ifindex, &rec, prog_fd)
								 : clsact_update(ifindex, &rec, prog_fd);
				if (err) {
					pr_warn("cross: update the program on %s: %s", name, strerror(-err));
					return err;
				}
				bpf_map_update_elem(MFD(t, mc_tc_att), &ifindex, &rec, BPF_ANY);
			}
			*out = rec;
			return 0;
		}
		tc_detach_record(t->dir, ifindex, &rec);
		bpf_map_delete_elem(MFD(t, mc_tc_att), &ifindex);
	}
	err = attach_dev(t, ifindex, role, name, &rec);
	if (!err)
		*out = rec;
	return err;
}

/* meshcut lets go of a device: endpoints first (no new flow is taken for
 * it), then the program, then the record */
void tc_release_dev(struct mc_tc *t, int ifindex, const struct mc_tc_att *rec, const char *why)
{
	tc_handover_flows_of(t, ifindex);
	tc_delete_eps_of(t, ifindex);
	if (rec->role == MC_TC_ROLE_OVL)
		bpf_map_delete_elem(MFD(t, mc_tc_ovls), &ifindex);
	if (tc_detach_record(t->dir, ifindex, rec))
		pr_warn("cross: detach from %s (ifindex %d) failed", rec->name, ifindex);
	else
		pr_info("cross: %s program detached from %s (ifindex %d): %s", tc_role_name(rec->role),
			rec->name, ifindex, why);
	bpf_map_delete_elem(MFD(t, mc_tc_att), &ifindex);
}

/* the device is gone: its attachments went with it */
void tc_forget_dev(struct mc_tc *t, int ifindex)
{
	struct mc_tc_att rec;
	char path[PATH_MAX];

	if (bpf_map_lookup_elem(MFD(t, mc_tc_att), &ifindex, &rec))
		return;
	tc_handover_flows_of(t, ifindex);
	tc_delete_eps_of(t, ifindex);
	if (rec.role == MC_TC_ROLE_OVL)
		bpf_map_delete_elem(MFD(t, mc_tc_ovls), &ifindex);
	tc_link_pin_path(t->dir, ifindex, path, sizeof(path));
	unlink(path);
	bpf_map_delete_elem(MFD(t, mc_tc_att), &ifindex);
	pr_info("cross: %s device %s (ifindex %d) is gone", tc_role_name(rec.role), rec.name, ifindex);
}

/* every record, copied (callers may delete while walking) into t->recs_buf:
 * callers hold t->lock */
size_t tc_all_records(struct mc_tc *t, struct att_entry **out)
{
	int cur, next, *prev = NULL;
	size_t n = 0;

	while (n < MC_TC_MAX_ATT && bpf_map_get_next_key(MFD(t, mc_tc_att), prev, &next) == 0) {
		cur = next;
		prev = &cur;
		t->recs_buf[n].ifindex = cur;
		if (bpf_map_lookup_elem(MFD(t, mc_tc_att), &cur, &t->recs_buf[n].rec) == 0)
			n++;
	}
	*out = t->recs_buf;
	return n;
}

