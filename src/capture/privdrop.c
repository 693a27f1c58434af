/* privdrop.c – gives up root and every capability once the capture sockets are open.
 *
 * The sockets and BPF programs keep working through their file descriptors; nothing
 * after set-up needs a privilege. Must run before any thread starts (capabilities are
 * per thread) and must not open anything. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "pktlog/capture.h"

/* The bounding set limits what any later execve could regain; dropping it needs
 * CAP_SETPCAP, so it happens while we may still have that. */
static void drop_bounding_set(void)
{
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
			break;   /* past the kernel's last capability */
}

/* chown dir and its entries (recursing `depth` more levels), not following links. */
static void hand_over(int parent, const char *name, uid_t uid, gid_t gid, int depth)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return;
	if (fchown(fd, uid, gid) != 0)
		pl_warn("data dir %s: cannot hand it to uid %u: %s", name, (unsigned)uid, strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR && depth > 0)
			hand_over(dirfd(d), e->d_name, uid, gid, depth - 1);
		else if (fchownat(dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
			pl_warn("data dir %s/%s: cannot hand it to uid %u: %s", name, e->d_name,
				(unsigned)uid, strerror(errno));
	}
	closedir(d);
}

static int switch_user(const char *user, const char *data_dir)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		pl_err("capture.user: no user \"%s\"%s%s", user, errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	if (geteuid() == pw->pw_uid && getegid() == pw->pw_gid)
		return 0;
	if (geteuid() != 0) {
		/* Started unprivileged with file capabilities: there is no root to give up. */
		pl_info("capture.user: not started as root, staying uid %u", (unsigned)geteuid());
		return 0;
	}
	if (data_dir)
		hand_over(AT_FDCWD, data_dir, pw->pw_uid, pw->pw_gid, 1);
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		pl_err("capture.user: cannot switch to user \"%s\": %s (switching needs root or "
		       "CAP_SETUID and CAP_SETGID; set capture.user: \"\" to keep the current user)",
		       user, strerror(errno));
		return -1;
	}
	return 0;
}

static int clear_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, data) != 0) {
		pl_err("cannot drop capabilities: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int pl_capture_drop_privileges(const char *user, const char *data_dir)
{
	drop_bounding_set();
	if (user && *user && switch_user(user, data_dir) != 0)
		return -1;
	if (clear_capabilities() != 0)
		return -1;
	/* Nothing may regain privileges through a set-uid or file-capability binary. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pl_info("running as uid %u gid %u with no capabilities", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}
