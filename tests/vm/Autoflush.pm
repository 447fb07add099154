# Loaded into prove inside the VM (PERL5OPT=-MAutoflush, by tests/vm/leg):
# its stdout is a file on the host, and a block-buffered prove shows nothing
# of a run that is killed at its timeout; line by line, the log shows where.
package Autoflush;
STDOUT->autoflush(1);
1;
