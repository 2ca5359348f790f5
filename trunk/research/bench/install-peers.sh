#!/bin/sh
# Install the servers `make bench` compares against; never needed by `make test`.
#   nginx-rtmp:         Debian's nginx-light + libnginx-mod-rtmp (apt-get; root or sudo)
#   node-media-server:  npm, into trunk/objs/peers (the version of the published benchmark table)
# Usage: research/bench/install-peers.sh [nginx] [nms]   (both when no argument)
set -e
cd "$(dirname "$0")/../.."
NMS_VERSION="${NMS_VERSION:-4.4.3}"
want="${*:-nginx nms}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
for w in $want; do
    case "$w" in
    nginx)
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            nginx-light libnginx-mod-rtmp
        # the package starts a system nginx on port 80 where an init system runs; the bench
        # starts its own instance with its own conf and does not need that one
        ls /usr/lib/nginx/modules/ngx_rtmp_module.so ;;
    nms)
        command -v npm >/dev/null || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
        mkdir -p objs/peers
        npm install --prefix objs/peers --no-audit --no-fund "node-media-server@$NMS_VERSION"
        ls objs/peers/node_modules/node-media-server/bin/app.js ;;
    *)
        echo "unknown peer: $w (nginx, nms)" >&2; exit 2 ;;
    esac
done
