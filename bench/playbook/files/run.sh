#!/bin/sh
# muster bench: start the (imaginary) application
set -eu
exec /opt/muster-bench/bin/app --config /opt/muster-bench/app.conf "$@"
