#!/bin/sh
# run-suite.sh: run one Criterion suite for Automake's TAP driver. The TAP
# report goes to stdout; Criterion's own lines (including its "Synthesis"
# line) go to stderr, which the driver copies into the suite's .log file.
suite=$1
shift
exec "$suite" --tap=/dev/stdout -j1 "$@"
