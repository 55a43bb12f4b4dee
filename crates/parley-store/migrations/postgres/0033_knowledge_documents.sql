-- Knowledge from the web (issue 59). `knowledge_sources`: each web page or sitemap the
-- loaded flows name, when it is due to be fetched, its last error, and the lease of the
-- process fetching it (so two processes never fetch one source at once).
-- `knowledge_documents`: the text of each page fetched for a source (a sitemap has many),
-- with what a conditional fetch sends back (ETag, Last-Modified).
create table knowledge_sources (
    source text primary key,
    used_by text not null,
    fetched_at timestamptz,
    next_fetch_at timestamptz not null,
    error text,
    failures integer not null default 0,
    lease_owner text,
    lease_until timestamptz
);
create table knowledge_documents (
    source text not null,
    url text not null,
    title text,
    kind text not null,
    body text not null,
    hash text not null,
    etag text,
    last_modified text,
    fetched_at timestamptz not null,
    primary key (source, url)
);
