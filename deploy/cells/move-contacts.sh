#!/bin/sh
# Copies the contacts of one number's customers from the cell that has the number to the
# cell it moves to, through each cell's API (README.md, "Cells" > "Moving a number"):
#
#   FROM_KEY=… TO_KEY=… ./move-contacts.sh 2 https://cell-a.bot.example.com https://cell-b.bot.example.com
#
# SENDER_ID is the number's sender id (the same in both cells' configs). The customers are
# those with a conversation with that sender in the first cell (GET /api/conversations?
# sender_id=…); their contacts — phone or business-scoped user id, name, tags, opt-in and
# fields — are read from its export (GET /api/contacts/export?format=json) and imported
# into the second cell (POST /api/contacts/import), which merges them with contacts it
# already has. Messages, conversation state, waiting runs and timers do not move.
# FROM_KEY needs to read conversations and contacts, TO_KEY to import contacts. Needs
# curl and jq; keys are sent in headers and never printed.
set -eu

[ $# -eq 3 ] || {
	echo "usage: FROM_KEY=… TO_KEY=… $0 SENDER_ID FROM_CELL_URL TO_CELL_URL" >&2
	exit 2
}
sender=$1
from=${2%/}
to=${3%/}
: "${FROM_KEY:?set FROM_KEY to an API key of the cell the number leaves}"
: "${TO_KEY:?set TO_KEY to an API key of the cell the number moves to}"
case $sender in
'' | *[!0-9]*)
	echo "$sender: a sender id is a number (senders[].id)" >&2
	exit 2
	;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
get() {
	curl -sS --fail-with-body --max-time 300 -H "Authorization: Bearer $FROM_KEY" "$from$1"
}

# The keys of the sender's customers, one per line, 200 conversations a page.
before=
while :; do
	page=$(get "/api/conversations?sender_id=$sender&limit=200$before") || {
		echo "cannot list sender $sender's conversations at $from: $page" >&2
		exit 1
	}
	printf '%s' "$page" | jq -r '.conversations[].contact.key' >>"$work/keys"
	next=$(printf '%s' "$page" | jq -r '.next_before // empty')
	[ -n "$next" ] || break
	before="&before=$next"
done
sort -u "$work/keys" -o "$work/keys"
echo "sender $sender: $(wc -l <"$work/keys") customers at $from"

get "/api/contacts/export?format=json" >"$work/all.json" || {
	echo "cannot export the contacts of $from: $(cat "$work/all.json")" >&2
	exit 1
}
# A contact's key is its phone, or bsuid:<user id> for a customer who hides the number.
jq -c --rawfile keys "$work/keys" '
	(reduce ($keys | split("\n")[] | select(. != "")) as $key ({}; .[$key] = true)) as $k
	| map(select($k[.phone // ("bsuid:" + (.user_id // ""))]))
' "$work/all.json" >"$work/moving.json"

# Imports take at most 200,000 rows: send them 100,000 at a time.
total=$(jq length "$work/moving.json")
offset=0
while [ "$offset" -lt "$total" ]; do
	jq -c ".[$offset:$((offset + 100000))]" "$work/moving.json" >"$work/part.json"
	curl -sS --fail-with-body --max-time 600 -H "Authorization: Bearer $TO_KEY" \
		-H 'Content-Type: application/json' --data-binary @"$work/part.json" \
		"$to/api/contacts/import" || {
		echo "import into $to refused (above); nothing after row $offset was sent" >&2
		exit 1
	}
	echo
	offset=$((offset + 100000))
done
echo "sender $sender: $total contacts copied from $from to $to"
