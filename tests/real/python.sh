#!/bin/sh
# python.sh WORKDIR — the Python workload, with Python's own small-object
# allocator off so that every object comes from malloc.
PYTHONMALLOC=malloc exec /usr/bin/python3 -s -S "$(dirname "$0")/workload.py"
