/* SPDX-License-Identifier: Apache-2.0 */
/* A shared object that is not a bearmon plugin (no descriptor). */
int notaplugin_answer(void);
int notaplugin_answer(void) { return 42; }
