//! The reads both backends run with the same SQL (`sql`), written once: bind, fetch, and
//! decode into `rows`'s structs. `shared_reads!` stamps the same bodies out for SQLite's
//! reader pool (`for_sqlite`) and PostgreSQL's pool (`for_postgres`); each backend's trait
//! method is a call of its copy. Times are bound as `rows::Stamp`, which each backend
//! stores its own way. A leaf: it uses neither backend.

/// The shared reads over a `sqlx::Pool<$db>`.
macro_rules! shared_reads {
    ($db:ty) => {
        use crate::domain::{Contact, Conversation, LiveTemplate, MarketingState, StoredEvent};
        use crate::store::rows::{
            AudienceCols, CandidateCols, ContactCols, ConversationCols, ExchangeCols,
            InboundCols, LiveTemplateCols, MarketingCols, MediaCols, OutboundCols,
            SenderStopCols, Stamp, SummaryCols,
        };
        use crate::store::{
            insights, sql, AudienceRow, Candidate, ConversationSummary, CostEntry, CostGrouping,
            CostRow, Id, InsightSums, MediaRecord, ModelExchange, OutboundRecord,
            RecipientCount, RecipientRow, SenderStop, StepDelivery, StoreResult,
            MAX_INSIGHT_ROWS,
        };
        use chrono::{DateTime, Utc};

        type Pool = sqlx::Pool<$db>;

        /// `Inbox::conversation`.
        pub(crate) async fn conversation(pool: &Pool, id: Id) -> StoreResult<Option<Conversation>> {
            let sql = format!(
                "select {} from conversations where id = $1",
                sql::CONVERSATION_COLUMNS
            );
            let row: Option<ConversationCols> =
                sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?;
            Ok(row.map(Into::into))
        }

        /// `Inbox::find_conversation`.
        pub(crate) async fn find_conversation(
            pool: &Pool,
            sender_id: i64,
            key: &str,
        ) -> StoreResult<Option<Conversation>> {
            let row: Option<ConversationCols> = sqlx::query_as(sql::FIND_CONVERSATION)
                .bind(sender_id)
                .bind(key)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(Into::into))
        }

        /// `Inbox::contact`.
        pub(crate) async fn contact(pool: &Pool, id: Id) -> StoreResult<Option<Contact>> {
            let row: Option<ContactCols> = sqlx::query_as(sql::CONTACT)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(Into::into))
        }

        /// `Outbox::outbound`.
        pub(crate) async fn outbound(pool: &Pool, id: Id) -> StoreResult<Option<OutboundRecord>> {
            let sql = format!(
                "select {} from outbound_messages where id = $1",
                sql::OUTBOUND_COLUMNS
            );
            let row: Option<OutboundCols> =
                sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?;
            row.map(OutboundRecord::try_from).transpose()
        }

        /// `Outbox::conversation_outbound`.
        pub(crate) async fn conversation_outbound(
            pool: &Pool,
            conversation_id: Id,
            before: Option<Id>,
            limit: i64,
        ) -> StoreResult<Vec<OutboundRecord>> {
            let sql = format!(
                "select {} from outbound_messages
                 where conversation_id = $1 and (cast($2 as bigint) is null or id < $2)
                 order by id desc
                 limit $3",
                sql::OUTBOUND_COLUMNS
            );
            let rows: Vec<OutboundCols> = sqlx::query_as(&sql)
                .bind(conversation_id)
                .bind(before)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(OutboundRecord::try_from).collect()
        }

        /// `Outbox::outbox_depth`.
        pub(crate) async fn outbox_depth(pool: &Pool) -> StoreResult<i64> {
            Ok(
                sqlx::query_scalar("select count(*) from outbound_messages where status = 'queued'")
                    .fetch_one(pool)
                    .await?,
            )
        }

        /// `Outbox::broadcast_send_stop`; `opted_out` is the backend's expression of the
        /// contact's opt-out (`sql::broadcast_send_stop_sql`).
        pub(crate) async fn broadcast_send_stop(
            pool: &Pool,
            opted_out: &str,
            id: Id,
        ) -> StoreResult<Option<String>> {
            let found: Option<(bool, bool)> =
                sqlx::query_as(&sql::broadcast_send_stop_sql(opted_out))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            Ok(found.and_then(|(cancelled, opted_out)| {
                crate::store::broadcasts::broadcast_stop(cancelled, opted_out)
            }))
        }

        /// `Reads::conversations_page`.
        pub(crate) async fn conversations_page(
            pool: &Pool,
            sender_id: Option<i64>,
            before: Option<Id>,
            limit: i64,
        ) -> StoreResult<Vec<ConversationSummary>> {
            let rows: Vec<SummaryCols> = sqlx::query_as(sql::CONVERSATIONS_PAGE)
                .bind(sender_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `Reads::handoff_conversations`; `in_handoff` is the backend's test of `v.state`
        /// (`sql::handoff_conversations_sql`).
        pub(crate) async fn handoff_conversations(
            pool: &Pool,
            in_handoff: &str,
            limit: i64,
        ) -> StoreResult<Vec<ConversationSummary>> {
            let rows: Vec<SummaryCols> =
                sqlx::query_as(&sql::handoff_conversations_sql(in_handoff))
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `Reads::outbound_authors`.
        pub(crate) async fn outbound_authors(
            pool: &Pool,
            conversation_id: Id,
            from_id: Id,
            prefix: &str,
            limit: i64,
        ) -> StoreResult<Vec<(Id, String)>> {
            Ok(sqlx::query_as(sql::OUTBOUND_AUTHORS)
                .bind(conversation_id)
                .bind(from_id)
                .bind(prefix)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        }

        /// `Reads::conversation_inbound`.
        pub(crate) async fn conversation_inbound(
            pool: &Pool,
            conversation_id: Id,
            before: Option<Id>,
            limit: i64,
        ) -> StoreResult<Vec<StoredEvent>> {
            let rows: Vec<InboundCols> = sqlx::query_as(sql::CONVERSATION_INBOUND)
                .bind(conversation_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(|r| r.event(conversation_id)).collect())
        }

        /// `Insights::flow_insights`.
        pub(crate) async fn flow_insights(
            pool: &Pool,
            since_hour: i64,
            until_hour: i64,
            flow: Option<&str>,
        ) -> StoreResult<InsightSums> {
            let rows = sqlx::query_as(sql::FLOW_INSIGHTS)
                .bind(since_hour)
                .bind(until_hour)
                .bind(flow)
                .bind(MAX_INSIGHT_ROWS + 1)
                .fetch_all(pool)
                .await?;
            Ok(insights::sums(rows))
        }

        /// `Insights::step_deliveries`.
        pub(crate) async fn step_deliveries(
            pool: &Pool,
            since: DateTime<Utc>,
            until: DateTime<Utc>,
            flow: Option<&str>,
        ) -> StoreResult<Vec<StepDelivery>> {
            Ok(sqlx::query_as(sql::STEP_DELIVERIES)
                .bind(Stamp(since))
                .bind(Stamp(until))
                .bind(flow)
                .bind(MAX_INSIGHT_ROWS)
                .fetch_all(pool)
                .await?)
        }

        /// `Senders::stopped_senders`.
        pub(crate) async fn stopped_senders(pool: &Pool) -> StoreResult<Vec<SenderStop>> {
            let rows: Vec<SenderStopCols> = sqlx::query_as(sql::STOPPED_SENDERS)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `Senders::twilio_content_sid`.
        pub(crate) async fn twilio_content_sid(
            pool: &Pool,
            account_sid: &str,
            content_hash: &str,
        ) -> StoreResult<Option<String>> {
            Ok(sqlx::query_scalar(
                "select content_sid from twilio_contents where account_sid = $1 and content_hash = $2",
            )
            .bind(account_sid)
            .bind(content_hash)
            .fetch_optional(pool)
            .await?)
        }

        /// `Exchanges::conversation_exchanges`.
        pub(crate) async fn conversation_exchanges(
            pool: &Pool,
            conversation_id: Id,
            limit: i64,
        ) -> StoreResult<Vec<ModelExchange>> {
            let rows: Vec<ExchangeCols> = sqlx::query_as(sql::CONVERSATION_EXCHANGES)
                .bind(conversation_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `MediaDownloads::event_media`.
        pub(crate) async fn event_media(
            pool: &Pool,
            event_id: i64,
        ) -> StoreResult<Option<MediaRecord>> {
            let sql = format!(
                "select {} from media_downloads where event_id = $1",
                sql::MEDIA_COLUMNS
            );
            let row: Option<MediaCols> = sqlx::query_as(&sql)
                .bind(event_id)
                .fetch_optional(pool)
                .await?;
            row.map(MediaRecord::try_from).transpose()
        }

        /// `MediaDownloads::stored_media`.
        pub(crate) async fn stored_media(
            pool: &Pool,
            sha256: &str,
        ) -> StoreResult<Option<MediaRecord>> {
            let sql = format!(
                "select {} from media_downloads
                 where sha256 = $1 and status = 'stored' order by id desc limit 1",
                sql::MEDIA_COLUMNS
            );
            let row: Option<MediaCols> = sqlx::query_as(&sql)
                .bind(sha256)
                .fetch_optional(pool)
                .await?;
            row.map(MediaRecord::try_from).transpose()
        }

        /// `MediaDownloads::downloads_queued`.
        pub(crate) async fn downloads_queued(pool: &Pool) -> StoreResult<i64> {
            Ok(
                sqlx::query_scalar("select count(*) from media_downloads where status = 'queued'")
                    .fetch_one(pool)
                    .await?,
            )
        }

        /// `Costs::costs`; `day` is the backend's expression of a ledger row's UTC day
        /// (`sql::costs_sql`).
        pub(crate) async fn costs(
            pool: &Pool,
            by: CostGrouping,
            day: &str,
            since: DateTime<Utc>,
            until: DateTime<Utc>,
            limit: i64,
        ) -> StoreResult<Vec<CostRow>> {
            cost_rows(pool, &sql::costs_sql(by, day), since, until, limit).await
        }

        /// `Costs::costs_by_broadcast`.
        pub(crate) async fn costs_by_broadcast(
            pool: &Pool,
            since: DateTime<Utc>,
            until: DateTime<Utc>,
            limit: i64,
        ) -> StoreResult<Vec<CostRow>> {
            cost_rows(pool, &sql::costs_by_broadcast_sql(), since, until, limit).await
        }

        async fn cost_rows(
            pool: &Pool,
            sql: &str,
            since: DateTime<Utc>,
            until: DateTime<Utc>,
            limit: i64,
        ) -> StoreResult<Vec<CostRow>> {
            Ok(sqlx::query_as(sql)
                .bind(Stamp(since))
                .bind(Stamp(until))
                .bind(limit)
                .fetch_all(pool)
                .await?)
        }

        /// `Costs::predicted_spend`; `since` is bound as given, the backend's earliest
        /// time when the caller gave none.
        pub(crate) async fn predicted_spend<T>(
            pool: &Pool,
            sender_id: i64,
            since: T,
        ) -> StoreResult<i64>
        where
            T: for<'q> sqlx::Encode<'q, $db> + sqlx::Type<$db> + Send + 'static,
        {
            Ok(sqlx::query_scalar(sql::PREDICTED_SPEND)
                .bind(sender_id)
                .bind(since)
                .fetch_one(pool)
                .await?)
        }

        /// `Costs::cost_entry`.
        pub(crate) async fn cost_entry(
            pool: &Pool,
            outbound_id: Id,
        ) -> StoreResult<Option<CostEntry>> {
            Ok(sqlx::query_as(sql::COST_ENTRY)
                .bind(outbound_id)
                .fetch_optional(pool)
                .await?)
        }

        /// `Account::live_templates`.
        pub(crate) async fn live_templates(pool: &Pool) -> StoreResult<Vec<LiveTemplate>> {
            let rows: Vec<LiveTemplateCols> = sqlx::query_as(sql::LIVE_TEMPLATES)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `Account::live_template`.
        pub(crate) async fn live_template(
            pool: &Pool,
            name: &str,
            language: &str,
        ) -> StoreResult<Option<LiveTemplate>> {
            let row: Option<LiveTemplateCols> = sqlx::query_as(sql::LIVE_TEMPLATE)
                .bind(name)
                .bind(language)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(Into::into))
        }

        /// `Account::marketing_state`: none recorded when the conversation is unknown.
        pub(crate) async fn marketing_state(
            pool: &Pool,
            conversation_id: Id,
        ) -> StoreResult<MarketingState> {
            let row: Option<MarketingCols> = sqlx::query_as(sql::MARKETING_STATE)
                .bind(conversation_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(Into::into).unwrap_or_default())
        }

        /// `Schedules::audience_page`.
        pub(crate) async fn audience_page(
            pool: &Pool,
            sender_id: i64,
            after: Id,
            limit: i64,
        ) -> StoreResult<Vec<AudienceRow>> {
            let rows: Vec<AudienceCols> = sqlx::query_as(sql::AUDIENCE_PAGE)
                .bind(sender_id)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `Broadcasts::broadcast_counts`.
        pub(crate) async fn broadcast_counts(
            pool: &Pool,
            id: Id,
        ) -> StoreResult<Vec<RecipientCount>> {
            Ok(sqlx::query_as(sql::BROADCAST_COUNTS)
                .bind(id)
                .fetch_all(pool)
                .await?)
        }

        /// `Broadcasts::broadcast_recipients`.
        pub(crate) async fn broadcast_recipients(
            pool: &Pool,
            id: Id,
            after: Id,
            limit: i64,
        ) -> StoreResult<Vec<RecipientRow>> {
            Ok(sqlx::query_as(sql::BROADCAST_RECIPIENTS)
                .bind(id)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        }

        /// `Broadcasts::broadcast_candidates`.
        pub(crate) async fn broadcast_candidates(
            pool: &Pool,
            sender_id: i64,
            after: Id,
            limit: i64,
        ) -> StoreResult<Vec<Candidate>> {
            let rows: Vec<CandidateCols> = sqlx::query_as(sql::BROADCAST_CANDIDATES)
                .bind(sender_id)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Into::into).collect())
        }

        /// `Broadcasts::portfolio_reached`.
        pub(crate) async fn portfolio_reached(
            pool: &Pool,
            portfolio: &str,
            since: DateTime<Utc>,
        ) -> StoreResult<i64> {
            Ok(sqlx::query_scalar(
                "select count(*) from portfolio_reach where portfolio = $1 and reached_at > $2",
            )
            .bind(portfolio)
            .bind(Stamp(since))
            .fetch_one(pool)
            .await?)
        }
    };
}

/// The shared reads on SQLite's reader pool.
pub(crate) mod for_sqlite {
    shared_reads!(sqlx::Sqlite);
}

/// The shared reads on PostgreSQL's pool.
pub(crate) mod for_postgres {
    shared_reads!(sqlx::Postgres);
}
