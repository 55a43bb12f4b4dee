-- Inbound media (images, videos, audio, documents, stickers) to download while the
-- provider still has it: Meta's media ids expire after 7 days. One row per inbound media
-- message, enqueued in the transaction that stores the message, claimed with a lease like
-- an outbound message and retried with backoff. A stored file is named by the SHA-256 of
-- its bytes (`sha256`, hex), so two messages with the same file share it. No foreign keys:
-- a contact merged into another (a changed number or user id) may move its conversations'
-- rows, and a download must never stand in the way.
create table media_downloads (
    id bigint generated always as identity primary key,
    sender_id bigint not null,
    conversation_id bigint not null,
    event_id bigint not null,
    provider_message_id text not null,
    -- image, video, audio, document, sticker
    kind text not null,
    -- where the provider keeps it: Meta's media id, or Twilio's MediaUrl
    media_id text,
    url text,
    -- what the webhook declared (Meta: base64 SHA-256 and MIME type)
    declared_mime_type text,
    declared_sha256 text,
    status text not null check (status in ('queued', 'stored', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    lease_owner text,
    lease_until timestamptz,
    error text,
    sha256 text,
    content_type text,
    size_bytes bigint,
    created_at timestamptz not null,
    stored_at timestamptz,
    updated_at timestamptz not null,
    unique (sender_id, provider_message_id)
);

-- the claim: only queued rows are in it
create index media_downloads_ready on media_downloads (next_attempt_at, id)
    where status = 'queued';
-- serving and retention: who references a file
create index media_downloads_sha256 on media_downloads (sha256) where sha256 is not null;
-- a message's media
create index media_downloads_event on media_downloads (event_id);
-- retention: the oldest rows first
create index media_downloads_created on media_downloads (created_at, id);
