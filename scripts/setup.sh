#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine with Go:
# Xvfb and xdotool for the demo's window tests, iproute2 for the LAN tests in
# network namespaces, avahi and a dbus-daemon as the standard mDNS peer of the
# DNS-SD interop tests, coturn and iptables for the NAT and TURN tests,
# Node.js for the js/wasm signaling client test, PostgreSQL for the store
# tests, and Chromium for the browser tests (internal/browser drives it headless).
# Safe to re-run: it installs only what is missing.
set -euo pipefail

need=()
command -v xvfb-run >/dev/null 2>&1 || need+=(xvfb xauth)
# xdotool types into the demo's window under Xvfb (keyboard test).
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# avahi (with a private dbus-daemon) is the standard mDNS peer of the DNS-SD tests.
command -v avahi-daemon >/dev/null 2>&1 || need+=(avahi-daemon)
command -v avahi-browse >/dev/null 2>&1 || need+=(avahi-utils)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
# Node.js runs the signaling client compiled to js/wasm (its WebSocket global
# needs Node 20.10 or later; the test skips with a message on older ones).
command -v node >/dev/null 2>&1 || need+=(nodejs)
# coturn is the TURN server of the mesh's NAT and relay tests, which build
# NATs in network namespaces with iptables.
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# The lossy LAN tests (demo-game TestLANLossyMatch) drop random packets on a
# bridge with iptables' statistic match, which needs br_netfilter: kmod's
# modprobe loads it when the kernel has not yet.
[ -d /proc/sys/net/bridge ] || command -v modprobe >/dev/null 2>&1 || need+=(kmod)
# PostgreSQL's server binaries (initdb, pg_ctl): the store tests start a
# throwaway server of their own on a free port (internal/pgtest).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# Chromium, headless, is the browser peer of the browser tests (internal/browser).
command -v chromium >/dev/null 2>&1 || need+=(chromium)

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
if ((${#need[@]})); then
	echo "setup: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d /proc/sys/net/bridge ] && command -v modprobe >/dev/null 2>&1; then
	$sudo modprobe br_netfilter 2>/dev/null || echo "setup: could not load br_netfilter: the lossy LAN tests will skip" >&2
fi
