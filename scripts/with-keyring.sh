#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked GNOME Keyring, so keychain code is
# tested against a real Secret Service and never touches the user's own keyring.
# On systems without D-Bus (macOS, Windows) the OS keychain is used directly.
set -euo pipefail
if [ "$(uname -s)" != "Linux" ]; then exec "$@"; fi
if ! command -v dbus-run-session >/dev/null || ! command -v gnome-keyring-daemon >/dev/null; then
  echo "with-keyring: needs dbus-run-session and gnome-keyring-daemon (Debian: apt-get install dbus-x11 gnome-keyring)" >&2
  exit 1
fi
# A fresh keyring folder each run: an existing login keyring with another password would prompt.
keyrings=$(mktemp -d)
trap 'rm -rf "$keyrings"' EXIT
export XDG_DATA_HOME="$keyrings"
export AETHER_KEYRING_PASSWORD="${AETHER_KEYRING_PASSWORD:-aether-test-keyring}"
dbus-run-session -- bash -c '
  printf %s "$AETHER_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec "$@"
' with-keyring "$@" 2> >(grep -v "Failed to set fd limit" >&2)
