#!/bin/bash
# g. A typo on line 3 of broken.yaml: the start fails with exit status 2, the journal names
#    FILE:3, and RestartPreventExitStatus= keeps it from restarting (state failed, not
#    activating/auto-restart).
set -u; . "$SD_LIB"
U=cppicorn@broken.service
conf broken <<CONF
app: hello:app
chdir: $SD_EXAMPLES
wrokers: 2
CONF
mark=$(journal_mark)
sc start $U 2>/dev/null; rc=$?
failed() { [ "$(prop $U ActiveState)" = failed ]; }
wait_for 10 failed
j=$(journal "$mark" -u $U -o cat)
line=$(echo "$j" | grep -m1 "broken.yaml:3")
check g-start-fails $([ $rc != 0 ] && [ "$(prop $U ActiveState)" = failed ] && [ "$(prop $U ExecMainStatus)" = 2 ] && \
    [ "$(prop $U NRestarts)" = 0 ]; echo $?) \
    "start rc=$rc ActiveState=$(prop $U ActiveState) SubState=$(prop $U SubState) Result=$(prop $U Result) ExecMainStatus=$(prop $U ExecMainStatus) NRestarts=$(prop $U NRestarts)"
check g-journal-file-line $([ -n "$line" ]; echo $?) "journal: '${line:-no line mentioning broken.yaml:3}'"
# Under journald the error line carries an error priority (<3>), so `journalctl -p err` and
# `systemctl status` flag it.
prio=$(journal "$mark" -u $U -o json --output-fields=PRIORITY,MESSAGE | grep -m1 'broken.yaml:3' | grep -o '"PRIORITY":"[0-9]"')
check g-journal-priority-err $([ "$prio" = '"PRIORITY":"3"' ]; echo $?) "config error logged with ${prio:-no priority}"

# An app that cannot load: exit 4, no restart either.
U=cppicorn@noapp.service
conf noapp <<CONF
app: nosuchmodule:app
chdir: $SD_EXAMPLES
workers: 2
CONF
mark=$(journal_mark)
sc start $U 2>/dev/null; rc=$?
wait_for 10 failed          # (failed() reads $U: now the noapp unit)
line=$(journal "$mark" -u $U -o cat | grep -m1 -i 'nosuchmodule')
check g-app-load-fails $([ $rc != 0 ] && [ "$(prop $U ActiveState)" = failed ] && [ "$(prop $U ExecMainStatus)" = 4 ] && \
    [ "$(prop $U NRestarts)" = 0 ]; echo $?) \
    "start rc=$rc ActiveState=$(prop $U ActiveState) ExecMainStatus=$(prop $U ExecMainStatus) NRestarts=$(prop $U NRestarts); journal: '${line:-nothing about nosuchmodule}'"
