/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege: bearmond started as root binds its listeners, opens its
 * store and loads its plugins, then becomes the configured user, keeping
 * only the capabilities its enabled plugins declare (struct
 * bm_plugin_desc.capabilities), with libcap. The calling (main) thread
 * keeps them across setuid (PR_SET_KEEPCAPS) and raises them as ambient,
 * so the collection, subscription and plugin-host processes it starts
 * afterwards have exactly them; threads already running (store, bus) lose
 * every capability with the uid change. Files made in data_dir as root so
 * far are handed to the user first.
 */
#define _GNU_SOURCE
#include "privdrop.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return lchown(path, chown_uid, chown_gid) ? -1 : 0;
}

void privdrop_names(uint64_t keep, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int c = 0; c < 64 && used < n; c++) {
		if (!(keep & (1ULL << c)))
			continue;
		char *name = cap_to_name(c);
		used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "",
					 name ? name : "?");
		cap_free(name);
	}
	if (!buf[0])
		snprintf(buf, n, "none");
}

/* permitted, effective and inheritable = keep; ambient raised for each. */
static int keep_caps(uint64_t keep, struct bm_err *err)
{
	cap_t caps = cap_init();
	cap_value_t list[64];
	int n = 0;
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (keep & (1ULL << c))
			list[n++] = c;
	if (!caps || (n && (cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) ||
			    cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) ||
			    cap_set_flag(caps, CAP_INHERITABLE, n, list, CAP_SET))) ||
	    cap_set_proc(caps)) {
		cap_free(caps);
		return bm_err_set(err, BM_EPERM, "keeping capabilities: %s", strerror(errno));
	}
	cap_free(caps);
	for (int i = 0; i < n; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, list[i], 0, 0))
			return bm_err_set(err, BM_EPERM, "ambient capability %d: %s", list[i],
					  strerror(errno));
	return 0;
}

int privdrop(const char *user, const char *data_dir, uint64_t keep, struct bm_err *err)
{
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return bm_err_set(err, BM_EINVAL, "user \"%s\": no such user", user);
	if (pw->pw_uid == 0)
		return 0; /* asked to stay root */
	chown_uid = pw->pw_uid;
	chown_gid = pw->pw_gid;
	if (nftw(data_dir, chown_one, 32, FTW_PHYS))
		return bm_err_set(err, BM_EIO, "handing data_dir %s to %s: %s", data_dir, user,
				  strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || initgroups(user, pw->pw_gid) ||
	    setgid(pw->pw_gid) || setuid(pw->pw_uid))
		return bm_err_set(err, BM_EPERM, "becoming %s: %s", user, strerror(errno));
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return keep_caps(keep, err);
}
