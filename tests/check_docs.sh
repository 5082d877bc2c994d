#!/bin/sh
# Every public function (WSIO_EXTERN in include/) must have a doc comment
# right above its declaration in the header, and be named in docs/*.md.
# Prints what is missing and fails; prints the count when all is there.
set -eu
cd "$(dirname "$0")/.."
missing=0
total=0
for h in include/wsio/*.h; do
    # Names of declared functions: WSIO_EXTERN <type> <name>(
    names=$(grep -v '^#' "$h" | grep -A3 'WSIO_EXTERN' | tr '\n' ' ' |
        grep -oE 'WSIO_EXTERN[^;(]*\(' | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort -u)
    for name in $names; do
        total=$((total + 1))
        if ! grep -q "\b$name\b" docs/*.md; then
            echo "check-docs: $name ($h) is not in docs/"
            missing=$((missing + 1))
        fi
        # The declaration (or the one before it in a group of two) must
        # follow the end of a comment within a few lines.
        if ! awk -v n="$name" '
            /\*\// { last = NR }
            $0 ~ "[ *]" n "\\(" && /WSIO_EXTERN|^[a-z]/ && !found {
                found = 1; if (NR - last > 4) exit 1 }
            END { if (!found) exit 1 }' "$h"; then
            echo "check-docs: $name ($h) has no doc comment above it"
            missing=$((missing + 1))
        fi
    done
done
if [ "$missing" -ne 0 ]; then
    echo "check-docs: $missing missing"
    exit 1
fi
echo "check-docs: all $total public functions have a doc comment and a docs/ entry"
