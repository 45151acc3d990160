/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posix_spawnp with the attributes and redirections the command-running
 * plugins share (cmdspawn.h).
 */
#define _GNU_SOURCE
#include "cmdspawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

/* target (0, 1 or 2) of the child onto fd, or onto /dev/null when fd < 0. */
static void redirect(posix_spawn_file_actions_t *fa, int target, int fd, int null_flags)
{
	if (fd >= 0)
		posix_spawn_file_actions_adddup2(fa, fd, target);
	else
		posix_spawn_file_actions_addopen(fa, target, "/dev/null", null_flags, 0);
}

int cmd_spawn(pid_t *pid, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	posix_spawn_file_actions_init(&fa);
	redirect(&fa, STDIN_FILENO, in_fd, O_RDONLY);
	redirect(&fa, STDOUT_FILENO, out_fd, O_WRONLY);
	redirect(&fa, STDERR_FILENO, err_fd, O_WRONLY);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all); /* bearmond ignores SIGPIPE; the child must not */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					  POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}
