-- A contact's conversations (one per sender): an opt-out stops the queued sends of all of
-- them, and a merge of two contacts moves them. The unique (sender_id, contact_id) index
-- cannot find them by contact alone: each of those statements read every conversation.
create index conversations_contact on conversations (contact_id);
