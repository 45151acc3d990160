/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmonctl replay: feed a timestamp,value CSV through an analyzer
 * plugin offline, with the plugin's own code behind a replay host API,
 * and write timestamp,value,anomaly_score with one row per input row.
 */
#ifndef BEARMON_CORE_REPLAY_H
#define BEARMON_CORE_REPLAY_H

/* The replay subcommand; argv[0] is "replay". Returns the exit status:
 * 0 done, 1 failure (input, plugin), 2 usage or config error. */
int replay_main(int argc, char **argv);

#endif
