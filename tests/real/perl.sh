#!/bin/sh
# perl.sh WORKDIR — the Perl workload.
exec /usr/bin/perl "$(dirname "$0")/workload.pl"
