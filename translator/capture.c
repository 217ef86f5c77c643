// SPDX-License-Identifier: GPL-2.0
/*
 * The capture front end: the real iptables-legacy-restore parses the rules
 * (every extension through its own libxtables plugin) and hands the kernel
 * its tables, except that the kernel is the xtables shim in capture mode,
 * which writes each committed table to a private directory:
 *
 *   $IPT2BPF_CAPTURE_DIR/tables        committed table names, in order
 *   $IPT2BPF_CAPTURE_DIR/<table>.blob  struct ipt_replace + entries, as sent
 *
 * No shell is involved and no kernel state is touched: the shim answers
 * every IPT_SO_* itself, so this works without privileges.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "util.h"

#define SHIM_NAME	  "libipt2bpf-shim.so"
#define SHIM_INSTALLED	  "../lib/ipt2bpf/" SHIM_NAME /* relative to the executable's dir */
#define RESTORE_DEFAULT	  "iptables-legacy-restore"
#define ENV_SHIM	  "IPT2BPF_SHIM"
#define ENV_RESTORE	  "IPT2BPF_IPTABLES_RESTORE"
#define ENV_SHIM_MODE	  "IPT2BPF_SHIM_MODE"
#define ENV_CAPTURE_DIR	  "IPT2BPF_CAPTURE_DIR"
#define ENV_LD_PRELOAD	  "LD_PRELOAD"
#define ENV_XT_LOCKFILE	  "XTABLES_LOCKFILE"
#define TABLES_FILE	  "tables"
#define BLOB_SUFFIX	  ".blob"
#define SHIM_LOCK	  "xtables.lock"	   /* where the shim puts the lock */
#define SHIM_LOADED	  "shim-loaded"		   /* the shim's constructor creates it */
#define NO_SHIM_LOCK	  "no-shim/xtables.lock" /* a lock iptables cannot take alone */

extern char **environ;

static void freestrv(char ***v)
{
	if (!*v)
		return;
	for (char **p = *v; *p; p++)
		free(*p);
	free(*v);
}

#define _cleanup_strv_ __attribute__((cleanup(freestrv)))

/* ---------------------------------------------------------------- blobs */

static int read_all(int fd, const char *path, void **data, size_t *len,
		    struct ipt2bpf_diag *diag)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t off = 0;

	if (fstat(fd, &st) < 0)
		return ipt2bpf_diag_set(diag, -errno, "blob %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ipt2bpf_diag_set(diag, -EINVAL, "blob %s: not a regular file", path);
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		return ipt2bpf_diag_set(diag, -ENOMEM, "blob %s: %jd bytes: out of memory", path,
					(intmax_t)st.st_size);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ipt2bpf_diag_set(diag, -errno, "blob %s: %s", path, strerror(errno));
		if (n == 0)
			return ipt2bpf_diag_set(diag, -EIO, "blob %s: file shrank while reading",
						path);
		off += n;
	}
	*data = TAKE_PTR(buf);
	*len = off;
	return 0;
}

int ipt2bpf_blob_read(const char *path, struct ipt2bpf_blob *b, struct ipt2bpf_diag *diag)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ void *data = NULL;
	struct ipt_replace *repl;
	size_t len = 0, namelen;
	int err;

	memset(b, 0, sizeof(*b));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ipt2bpf_diag_set(diag, -errno, "blob %s: %s", path, strerror(errno));
	err = read_all(fd, path, &data, &len, diag);
	if (err)
		return err;
	if (len < sizeof(struct ipt_replace))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"blob %s: %zu bytes, shorter than struct ipt_replace (%zu)",
					path, len, sizeof(struct ipt_replace));
	repl = data;
	if (repl->size != len - sizeof(*repl))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"blob %s: ipt_replace.size is %u but %zu bytes of entries "
					"follow the header",
					path, repl->size, len - sizeof(*repl));
	namelen = strnlen(repl->name, sizeof(repl->name));
	if (namelen == 0 || namelen == sizeof(repl->name))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"blob %s: table name is empty or not NUL-terminated", path);
	if (repl->num_entries == 0 ||
	    repl->num_entries > repl->size / (sizeof(struct ipt_entry) +
					      sizeof(struct xt_entry_target)))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"blob %s: %u entries cannot fit in %u bytes", path,
					repl->num_entries, repl->size);
	memcpy(b->table, repl->name, sizeof(b->table));
	b->repl = TAKE_PTR(data);
	b->len = len;
	return 0;
}

void ipt2bpf_blob_release(struct ipt2bpf_blob *b)
{
	if (!b)
		return;
	free(b->repl);
	memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- finding things */

/* The directory of /proc/self/exe, or -errno. */
static int exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	return 0;
}

/* $IPT2BPF_SHIM, else next to the executable (build tree), else the installed layout. */
static int find_shim(char out[PATH_MAX], struct ipt2bpf_diag *diag)
{
	const char *env = getenv(ENV_SHIM);
	char dir[PATH_MAX], cand[PATH_MAX + sizeof(SHIM_INSTALLED) + 1];
	const char *rel[] = {SHIM_NAME, SHIM_INSTALLED};
	int err;

	if (env && *env) {
		if (!realpath(env, out))
			return ipt2bpf_diag_set(diag, -errno, "%s=%s: %s", ENV_SHIM, env,
						strerror(errno));
		return 0;
	}
	err = exe_dir(dir, sizeof(dir));
	if (err)
		return ipt2bpf_diag_set(diag, err, "cannot locate the xtables shim: /proc/self/exe: %s",
					strerror(-err));
	for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
		snprintf(cand, sizeof(cand), "%s/%s", dir, rel[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, out))
			return 0;
	}
	return ipt2bpf_diag_set(diag, -ENOENT,
				"cannot find the xtables shim: no %s/%s nor %s/%s; set %s", dir,
				SHIM_NAME, dir, SHIM_INSTALLED, ENV_SHIM);
}

/*
 * iptables-legacy-restore lives in /usr/sbin, which is not on an ordinary
 * user's PATH on Debian: look there too.
 */
static int find_restore(char *out, size_t len, struct ipt2bpf_diag *diag)
{
	const char *env = getenv(ENV_RESTORE);
	const char *name = env && *env ? env : RESTORE_DEFAULT;
	const char *path = getenv("PATH");
	_cleanup_free_ char *dirs = NULL;
	char *save;

	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return ipt2bpf_diag_set(diag, -errno, "cannot run %s: %s", name,
						strerror(errno));
		snprintf(out, len, "%s", name);
		return 0;
	}
	if (asprintf(&dirs, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin") < 0) {
		dirs = NULL;
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	}
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(out, len, "%s/%s", *d ? d : ".", name) >= len)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return ipt2bpf_diag_set(diag, -ENOENT,
				"cannot find %s in PATH, /usr/sbin or /sbin (install iptables, "
				"or set %s)",
				name, ENV_RESTORE);
}

/* ---------------------------------------------------------------- running it */

static bool env_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(entry, name, n) && entry[n] == '=';
}

/*
 * The child's environment: ours, with the shim preloaded first (an existing
 * LD_PRELOAD is kept after it), capture mode on, and our private directory.
 * XTABLES_LOCKFILE names a lock in a directory that does not exist: the shim
 * moves the lock to DIR/xtables.lock, but an iptables that did not load the
 * shim (static, setuid, wrong architecture) stops there, before it reaches
 * the kernel.
 */
static char **child_env(const char *shim, const char *dir)
{
	const char *preload = getenv(ENV_LD_PRELOAD);
	_cleanup_strv_ char **env = NULL;
	size_t n = 0, i = 0;

	for (char **e = environ; e && *e; e++)
		n++;
	env = calloc(n + 5, sizeof(*env));
	if (!env)
		return NULL;
	for (char **e = environ; e && *e; e++) {
		if (env_is(*e, ENV_LD_PRELOAD) || env_is(*e, ENV_SHIM_MODE) ||
		    env_is(*e, ENV_CAPTURE_DIR) || env_is(*e, ENV_XT_LOCKFILE))
			continue;
		if (!(env[i++] = strdup(*e)))
			return NULL;
	}
	if (asprintf(&env[i++], "%s=%s%s%s", ENV_LD_PRELOAD, shim, preload && *preload ? ":" : "",
		     preload ? preload : "") < 0 ||
	    asprintf(&env[i++], "%s=capture", ENV_SHIM_MODE) < 0 ||
	    asprintf(&env[i++], "%s=%s", ENV_CAPTURE_DIR, dir) < 0 ||
	    asprintf(&env[i++], "%s=%s/%s", ENV_XT_LOCKFILE, dir, NO_SHIM_LOCK) < 0) {
		env[i - 1] = NULL;
		return NULL;
	}
	return TAKE_PTR(env);
}

/* The shim creates its lock file whenever iptables takes the lock. */
static bool shim_was_there(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, SHIM_LOADED);
	if (access(path, F_OK) == 0)
		return true;
	snprintf(path, sizeof(path), "%s/%s", dir, SHIM_LOCK);
	return access(path, F_OK) == 0;
}

static int run_restore(const char *restore, const char *shim, const char *dir, int rules_fd,
		       const char *rules, struct ipt2bpf_diag *diag)
{
	char *argv[] = {(char *)restore, "--counters", NULL};
	_cleanup_strv_ char **env = child_env(shim, dir);
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err, status;

	if (!env)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	/* Rules on stdin (a path starting with '-' would be an option);
	 * iptables' stdout goes to our stderr, next to its error messages. */
	if (posix_spawn_file_actions_init(&fa))
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	err = posix_spawn_file_actions_adddup2(&fa, rules_fd, STDIN_FILENO);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	if (!err)
		err = posix_spawn(&pid, restore, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return ipt2bpf_diag_set(diag, -err, "cannot run %s: %s", restore, strerror(err));

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return ipt2bpf_diag_set(diag, -errno, "waiting for %s: %s", restore,
						strerror(errno));
	/* Success without the shim is harmless: nothing was committed. */
	if (status != 0 && !shim_was_there(dir))
		return ipt2bpf_diag_set(diag, -ENOEXEC,
					"%s did not run with the xtables shim %s (see messages "
					"above; a static or setuid binary? see %s)",
					restore, shim, ENV_RESTORE);
	if (WIFSIGNALED(status))
		return ipt2bpf_diag_set(diag, -EIO, "%s died of signal %d (%s) on %s", restore,
					WTERMSIG(status), strsignal(WTERMSIG(status)), rules);
	if (WEXITSTATUS(status))
		return ipt2bpf_diag_set(diag, -EINVAL, "iptables-legacy-restore rejected %s (exit %d)",
					rules, WEXITSTATUS(status));
	return 0;
}

/* ---------------------------------------------------------------- temp dir */

static void remove_dir(char **dir)
{
	DIR *d;
	struct dirent *de;

	if (!*dir)
		return;
	d = opendir(*dir);
	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(*dir);
	free(*dir);
	*dir = NULL;
}

#define _cleanup_tmpdir_ __attribute__((cleanup(remove_dir)))

static int make_dir(char **out, struct ipt2bpf_diag *diag)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/ipt2bpf-capture.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	if (!mkdtemp(dir)) {
		int err = -errno;

		ipt2bpf_diag_set(diag, err, "cannot create a capture directory %s: %s", dir,
				 strerror(-err));
		free(dir);
		return err;
	}
	*out = dir;
	return 0;
}

/* ---------------------------------------------------------------- capture */

static int read_blobs(const char *dir, struct ipt2bpf_blob *blobs, unsigned int max,
		      unsigned int *n, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX], line[XT_TABLE_MAXNAMELEN + 2];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, TABLES_FILE);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT) /* nothing committed: an empty rule file */
			return 0;
		return ipt2bpf_diag_set(diag, -errno, "capture: %s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		if (*n >= max) {
			err = ipt2bpf_diag_set(diag, -E2BIG,
					       "capture: more than %u tables committed", max);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s%s", dir, line, BLOB_SUFFIX);
		err = ipt2bpf_blob_read(path, &blobs[*n], diag);
		if (err)
			break;
		if (strcmp(blobs[*n].table, line)) {
			err = ipt2bpf_diag_set(diag, -EINVAL, "capture: %s holds table '%s'", path,
					       blobs[*n].table);
			ipt2bpf_blob_release(&blobs[*n]);
			break;
		}
		(*n)++;
	}
	fclose(f);
	return err;
}

int ipt2bpf_capture(const char *rules_path, struct ipt2bpf_blob *blobs, unsigned int max,
		    unsigned int *n, struct ipt2bpf_diag *diag)
{
	char shim[PATH_MAX], restore[PATH_MAX];
	_cleanup_tmpdir_ char *dir = NULL;
	_cleanup_close_ int rules_fd = -1;
	int err;

	*n = 0;
	rules_fd = open(rules_path, O_RDONLY | O_CLOEXEC);
	if (rules_fd < 0)
		return ipt2bpf_diag_set(diag, -errno, "%s: %s", rules_path, strerror(errno));
	err = find_shim(shim, diag);
	if (!err)
		err = find_restore(restore, sizeof(restore), diag);
	if (!err)
		err = make_dir(&dir, diag);
	if (!err)
		err = run_restore(restore, shim, dir, rules_fd, rules_path, diag);
	if (!err)
		err = read_blobs(dir, blobs, max, n, diag);
	if (err) {
		while (*n)
			ipt2bpf_blob_release(&blobs[--*n]);
	}
	return err;
}
