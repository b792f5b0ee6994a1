#!/usr/bin/env bash
# check-imports.sh enforces the package layering of docs/ARCHITECTURE.md by
# reading the rules from that document's table ("Packages and who may import
# whom"), so the table cannot drift from what is enforced.
#
# How the table is read:
#   - Each row names one package (or several, comma separated) in backquotes
#     in its first cell; "root `keyline`" is the module root package. The
#     last cell lists, in backquotes, the internal packages it may import;
#     "none" allows nothing internal, "anything" allows everything, and
#     "`X/*`" allows every package at or under X.
#   - Every package of the module must have its own row (a parent's row does
#     not cover it): a new package gets its place in the table before it is
#     allowed any internal import.
#   - A package may import packages of its own row plus those its row allows.
#   - Only non-test imports are checked: tests may use helpers such as
#     infra/testenv without that becoming a production dependency.
#
# Usage: check-imports.sh [MODULE_DIR]   (default: this repository's root)
# Prints each violation and exits 1 if there is any.
set -euo pipefail

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$dir"
doc=docs/ARCHITECTURE.md

module="$(go list -m)"

# The table's rows, without its header and separator.
rows="$(awk '/^## Packages and who may import whom/ { s = 1; next }
             s && /^## / { exit }
             s && /^\|/ { print }' "$doc" | tail -n +3)"
if [[ -z "$rows" ]]; then
  echo "check-imports: no package table under \"## Packages and who may import whom\" in $doc" >&2
  exit 1
fi

declare -A allowed=() # entry -> allowed list ("*" for anything)
entries=()
while IFS= read -r row; do
  first="$(awk -F'|' '{ print $2 }' <<<"$row")"
  last="$(awk -F'|' '{ print $(NF-1) }' <<<"$row")"
  if [[ "$last" == *anything* ]]; then
    allow='*'
  else
    allow="$(grep -o '`[^`]*`' <<<"$last" | tr -d '`' | sed 's#/\*$#/...#' | xargs || true)"
  fi
  if [[ "$first" == *root* ]]; then
    names=.
  else
    names="$(grep -o '`[^`]*`' <<<"$first" | tr -d '`' | xargs)"
  fi
  for name in $names; do
    entries+=("$name")
    allowed["$name"]="$allow"
  done
done <<<"$rows"

# -e: a package that does not compile yet still reports its imports, so the
# layering is checked even while code is half-written.
listing="$(go list -e -f '{{.ImportPath}} {{join .Imports " "}}' ./...)"

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

# entry_of REL: the row naming REL; fails when none does.
entry_of() {
  [[ -n "${allowed["$1"]+set}" ]] || return 1
  printf '%s\n' "$1"
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
  if ! from_entry="$(entry_of "$from")"; then
    echo "layering violation: $from has no row in $doc's package table"
    violations=$((violations + 1))
    continue
  fi
  [[ "${allowed["$from_entry"]}" == '*' ]] && continue
  for imp in $imports; do
    to="$(rel "$imp")" || continue # standard library or another module
    # A package outside every row is reported above; name it by its own path
    # here so that only a row naming it could allow importing it.
    to_entry="$(entry_of "$to")" || to_entry="$to"
    if ! may_import "$from_entry" "$to_entry"; then
      echo "layering violation: $from imports $to ($from_entry may import only: ${allowed["$from_entry"]:-nothing internal})"
      violations=$((violations + 1))
    fi
  done
done <<<"$listing"

if ((violations > 0)); then
  echo "check-imports: $violations layering violation(s); the rules are the package table of $doc" >&2
  exit 1
fi
echo "check-imports: $packages packages, no layering violations"
