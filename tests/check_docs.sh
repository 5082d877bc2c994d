#!/bin/sh
# Every public function must be named in a layer's page in docs/ (the
# generated docs/api.md does not count: it names everything). The list of
# functions, and the doc-comment check, come from tools/gen_api_ref.py
# (make check-api), so the headers are parsed in one place only.
# Prints what is missing and fails; prints the count when all is there.
set -eu
cd "$(dirname "$0")/.."
names=$(python3 tools/gen_api_ref.py --functions)
pages=$(ls docs/*.md | grep -v '^docs/api\.md$')
missing=0
total=0
for name in $names; do
    total=$((total + 1))
    # shellcheck disable=SC2086
    if ! grep -q "\b$name\b" $pages; then
        echo "check-docs: $name is not in a docs/ page"
        missing=$((missing + 1))
    fi
done
if [ "$missing" -ne 0 ]; then
    echo "check-docs: $missing missing"
    exit 1
fi
echo "check-docs: all $total public functions are in a docs/ page"
