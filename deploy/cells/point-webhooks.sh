#!/bin/sh
# Points WhatsApp numbers' webhooks at a cell, with Meta's per-number webhook override
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override/):
#
#   META_ACCESS_TOKEN=… ./point-webhooks.sh https://cell-b.bot.example.com/webhooks/meta \
#       "$CELL_B_VERIFY_TOKEN" 220000000000003 220000000000004
#
# For each phone number id it sends what Meta documents,
#   POST /<PHONE_NUMBER_ID>
#   {"webhook_configuration": {"override_callback_uri": "<URL>", "verify_token": "<TOKEN>"}}
# and reads the result back (GET /<PHONE_NUMBER_ID>?fields=webhook_configuration). Meta
# checks the URL at once with the GET handshake (hub.verify_token=<TOKEN>), so the cell
# must be up and have a Meta sender whose verify_token is TOKEN. The number's messages and
# statuses go to that URL from then on; template and account webhooks keep going to the
# app's callback URL (Meta does not override them). Moving a number to another cell is the
# same call with the other cell's URL and token.
#
# GRAPH_API (default https://graph.facebook.com/v26.0) is the Graph API base. Needs curl
# and jq. The access token is sent in a header and never printed.
set -eu

usage() {
	echo "usage: META_ACCESS_TOKEN=… $0 CALLBACK_URL VERIFY_TOKEN PHONE_NUMBER_ID…" >&2
	exit 2
}
[ $# -ge 3 ] || usage
url=$1
token=$2
shift 2
graph=${GRAPH_API:-https://graph.facebook.com/v26.0}
: "${META_ACCESS_TOKEN:?set META_ACCESS_TOKEN to a system user token with whatsapp_business_management}"

case $url in
https://*/webhooks/meta) ;;
*)
	echo "$url: the callback must be a cell's https://…/webhooks/meta address" >&2
	exit 2
	;;
esac
if [ ${#url} -gt 200 ]; then
	echo "$url: Meta takes callback URLs of at most 200 characters" >&2
	exit 2
fi
[ -n "$token" ] || usage
for id in "$@"; do
	case $id in
	'' | *[!0-9]*)
		echo "$id: a phone number id is digits (WhatsApp Manager > Phone numbers)" >&2
		exit 2
		;;
	esac
done

body=$(jq -cn --arg uri "$url" --arg token "$token" \
	'{webhook_configuration: {override_callback_uri: $uri, verify_token: $token}}')
auth="Authorization: Bearer $META_ACCESS_TOKEN"
failed=0
for id in "$@"; do
	answer=$(curl -sS --max-time 30 -X POST -H "$auth" -H 'Content-Type: application/json' \
		--data "$body" "$graph/$id") || answer='{"error":{"message":"no answer from the Graph API"}}'
	if [ "$(printf '%s' "$answer" | jq -r '.success // false' 2>/dev/null)" != true ]; then
		echo "$id: not pointed at $url: $answer" >&2
		failed=1
		continue
	fi
	now=$(curl -sS --max-time 30 -H "$auth" "$graph/$id?fields=webhook_configuration" |
		jq -c '.webhook_configuration // {}' 2>/dev/null) || now='(could not read it back)'
	echo "$id: webhooks go to $url; webhook_configuration: $now"
done
exit $failed
