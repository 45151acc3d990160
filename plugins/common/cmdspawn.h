/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Starting a command for the plugins that run them (collector/exec,
 * notifier/exec): argv with no shell, in a process group of its own (a
 * timeout kills the group: everything the command started), signals
 * unblocked and at their defaults, no descriptor of bearmond's but the
 * three it is given. Compiled into each user from cmdspawn.c.
 */
#ifndef BEARMON_PLUGINS_CMDSPAWN_H
#define BEARMON_PLUGINS_CMDSPAWN_H

#include <sys/types.h>

/*
 * Start argv[0] (looked up in PATH) with environment envp, its stdin,
 * stdout and stderr on in_fd, out_fd and err_fd (-1: /dev/null). 0 with
 * *pid, or an errno value.
 */
int cmd_spawn(pid_t *pid, char *const argv[], char *const envp[], int in_fd, int out_fd,
	      int err_fd);

#endif /* BEARMON_PLUGINS_CMDSPAWN_H */
