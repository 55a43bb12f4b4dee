-- Reads of the public API: a sender's spend by period, a conversation's inbound messages.
create index outbound_messages_sender_created on outbound_messages (sender_id, created_at);
create index conversation_events_conversation on conversation_events (conversation_id, id)
    where kind = 'message';
