#!/usr/bin/env bash
# check-imports.sh enforces the package layering that docs/ARCHITECTURE.md
# ("Packages and who may import whom") describes: dependencies point inwards,
# towards the pure domain in events/. Keep the RULES table below in step with
# that document's table.
#
# How the table is read:
#   - Every package of the module belongs to the longest RULES entry that is
#     its path or a parent of it ("infra/outbox/x" belongs to infra/outbox;
#     the module root package is the entry "."). A package that matches no
#     entry is not constrained.
#   - A package may import any package of its own entry, plus packages whose
#     entry is listed as allowed. "X/..." allows every entry at or under X.
#     "*" allows anything.
#   - Only non-test imports are checked: tests may use helpers such as
#     infra/testenv without that becoming a production dependency.
#
# Usage: check-imports.sh [MODULE_DIR]   (default: this repository's root)
# Prints each violation and exits 1 if there is any.
set -euo pipefail

# entry | internal imports allowed besides the entry itself
RULES='
.           | *
cmd         | *
events      |
configs     |
projections | events
handlers    | events configs projections handlers/services/...
handlers/services | events configs projections
handlers/httpapi | events handlers configs handlers/httpapi/openapi handlers/httpapi/flatjson handlers/httpapi/web
handlers/httpapi/web |
handlers/httpapi/openapi | handlers/httpapi/flatjson
handlers/httpapi/flatjson |
infra       | events configs infra/...
infra/sqlstore    | events configs
infra/outbox      | events configs infra/sqlstore infra/redisstream
infra/redisstream |
infra/httpserver  | configs
infra/runtime     | *
infra/metrics     | events configs handlers infra/...
infra/testenv     |
'
# Deliberate: handlers reads through projections (see ARCHITECTURE.md's
# "Deviation" note), and infra/runtime, which assembles processes, is the
# only infra package that may import handlers and projections, besides
# infra/metrics, which reads the outcome counters handlers keep.

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$dir"

module="$(go list -m)"
# -e: a package that does not compile yet still reports its imports, so the
# layering is checked even while code is half-written.
listing="$(go list -e -f '{{.ImportPath}} {{join .Imports " "}}' ./...)"

declare -A allowed=() # entry -> allowed list
entries=()
while IFS='|' read -r entry allow; do
  entry="$(echo "$entry" | xargs)"
  allow="$(echo "$allow" | xargs)"
  [[ -z "$entry" ]] && continue
  entries+=("$entry")
  allowed["$entry"]="$allow"
done <<<"$RULES"

# rel PKG: path relative to the module root ("." for the root package); fails
# for packages of other modules and the standard library.
rel() {
  if [[ "$1" == "$module" ]]; then
    printf '.\n'
  elif [[ "$1" == "$module/"* ]]; then
    printf '%s\n' "${1#"$module/"}"
  else
    return 1
  fi
}

# entry_of REL: the longest matching entry; fails when none matches.
entry_of() {
  local e best=""
  for e in "${entries[@]}"; do
    if [[ "$1" == "$e" || ("$e" != . && "$1" == "$e/"*) ]] && ((${#e} > ${#best})); then
      best="$e"
    fi
  done
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# may_import FROM_ENTRY TO_ENTRY
may_import() {
  local a list
  [[ "$1" == "$2" ]] && return 0
  read -r -a list <<<"${allowed["$1"]}" # (an array: no globbing of "*")
  for a in "${list[@]}"; do
    case "$a" in
      '*') return 0 ;;
      */...) [[ "$2" == "${a%/...}" || "$2" == "${a%/...}/"* ]] && return 0 ;;
      *) [[ "$2" == "$a" ]] && return 0 ;;
    esac
  done
  return 1
}

violations=0
packages=0
while read -r pkg imports; do
  [[ -n "$pkg" ]] || continue
  from="$(rel "$pkg")" || continue
  packages=$((packages + 1))
  from_entry="$(entry_of "$from")" || continue # unconstrained
  [[ "${allowed["$from_entry"]}" == '*' ]] && continue
  for imp in $imports; do
    to="$(rel "$imp")" || continue # standard library or another module
    # A package outside every entry belongs to no layer; treat its path as
    # its own entry so only a rule that names it allows importing it.
    to_entry="$(entry_of "$to")" || to_entry="$to"
    if ! may_import "$from_entry" "$to_entry"; then
      echo "layering violation: $from imports $to ($from_entry may import only: ${allowed["$from_entry"]:-nothing internal})"
      violations=$((violations + 1))
    fi
  done
done <<<"$listing"

if ((violations > 0)); then
  echo "check-imports: $violations layering violation(s); the rules are in infra/testenv/check-imports.sh and docs/ARCHITECTURE.md" >&2
  exit 1
fi
echo "check-imports: $packages packages, no layering violations"
