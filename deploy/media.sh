#!/bin/sh
# `make run`'s Janus and coturn (deploy/Procfile.dev), configured by deploy/video_dev.py.
# With video off it idles, so honcho keeps the other processes running.
cd "$(dirname "$0")/.." || exit 1
if [ ! -f var/video/enabled ]; then
  echo "video off: $(cat var/video/off-reason 2>/dev/null)"
  exec sleep infinity
fi
case "$1" in
  janus) exec janus -C var/video/janus/janus.jcfg -F var/video/janus ;;
  turn) exec turnserver -c var/video/turnserver.conf --pidfile var/video/turnserver.pid ;;
  *) echo "usage: $0 janus|turn" >&2; exit 2 ;;
esac
