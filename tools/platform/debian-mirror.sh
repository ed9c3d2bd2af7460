# shellcheck shell=bash
# debian_mirror [SUITE]: the main Debian archive apt uses on this host, for
# debootstrap. The URI of the first enabled "deb" source (one-line or deb822
# format) whose suites include SUITE, or, without SUITE, a plain release name
# (not -updates, not -security). Prints nothing on a host that is not Debian.
# Sourced by tools/platform/lib-rootfs.sh (for rootfs.sh and build-image.sh).
debian_mirror() {
  grep -qs '^ID=debian' /etc/os-release || return 0
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v want="${1:-}" '
    function wanted(s,   n, a, i) {
      n = split(s, a, " ")
      for (i = 1; i <= n; i++) if (want != "" ? a[i] == want : a[i] ~ /^[a-z]+$/) return 1
      return 0
    }
    function flush() {
      if (types ~ /(^| )deb( |$)/ && enabled != "no" && wanted(suites) && uris != "" && uris !~ /security/) {
        split(uris, u, " "); print u[1]; found = 1; exit
      }
      types = ""; suites = ""; uris = ""; enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^[ \t]*#/) next
      key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types") types = val
      else if (key == "uris") uris = val
      else if (key == "suites") suites = val
      else if (key == "enabled") enabled = tolower(val)
      next
    }
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if (wanted($(i + 1)) && $i !~ /security/) { print $i; found = 1; exit }
    }
    END { if (!found) flush() }
  ' "${files[@]}" 2>/dev/null | head -n1
}
