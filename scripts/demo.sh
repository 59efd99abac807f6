#!/usr/bin/env bash
# Runs the demo on embedded defaults, with no server and no configuration.
#
# With a display: the game window opens on the menu; Enter plays against bots
# (each seat a rollback session over the network simulator), F3 shows the
# network overlay, F5/F6 inject lag and loss.
#
# With no display (a server, a container, CI): installs Xvfb if needed
# (scripts/setup.sh), plays a 4-bot match in the real window under Xvfb and
# saves a screenshot of it, then plays the same match headless and prints its
# result as one JSON line. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
	exec go run ./demo-game "$@"
fi

./scripts/setup.sh
bin=$(mktemp -d)/demo-game
go build -o "$bin" ./demo-game
shot=${SCREENSHOT:-$PWD/demo-screenshot.png}
echo "demo: no display; playing 4 bots under Xvfb for 10 s of game time (50 ms lag, 5% loss)" >&2
xvfb-run -a -s "-screen 0 1024x768x24" "$bin" -bot -players 4 -overlay \
	-lag 50ms -loss 0.05 -duration 10s -screenshot "$shot" "$@"
echo "demo: screenshot of the match written to $shot" >&2
echo "demo: the same match without a window, as fast as it runs:" >&2
"$bin" -headless -bot -fast -players 4 -lag 50ms -loss 0.05 -duration 60s "$@"
