//! `parley broadcasts create|list|show|pause|resume|cancel`: the API's broadcasts on the
//! configured database directly. A broadcast created here is sent by the running daemon
//! (which picks it up within `broadcasts.poll_interval`); on SQLite the daemon holds the
//! database, so use the API while it runs.

use crate::config::Config;
use crate::domain::broadcast::BroadcastAction;
use crate::domain::{Clock, SystemClock};
use crate::store::{self, DynStore};
use crate::workers::broadcasts::plan::{self, AudienceSpec, CreateError, Request, TemplateRef};
use crate::workers::broadcasts::report;
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;

/// What `parley broadcasts create` was given.
#[derive(Debug, Clone, Default)]
pub struct CreateArgs {
    pub name: Option<String>,
    pub template: String,
    pub language: Option<String>,
    pub sender: Option<i64>,
    /// `1={{ contact.fields.first_name }}`.
    pub variables: Vec<String>,
    pub tags: Vec<String>,
    pub without_tags: Vec<String>,
    /// `plan=gold`.
    pub fields: Vec<String>,
    pub inactive_for: Option<String>,
    pub active_within: Option<String>,
    /// A file with one phone number a line.
    pub list: Option<std::path::PathBuf>,
    pub start_at: Option<String>,
    pub reply_flow: Option<String>,
    pub frequency_cap: Option<String>,
    /// Every contact, said out loud: without it, no audience and no list is an error.
    pub all: bool,
}

fn pairs(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| {
            i.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("{what} `{i}` is not NAME=VALUE"))
        })
        .collect()
}

fn duration(s: &Option<String>, what: &str) -> anyhow::Result<Option<std::time::Duration>> {
    s.as_deref()
        .map(|s| {
            crate::config::duration::parse(s).map_err(|e| match e {
                crate::config::duration::DurationError::TooLong => {
                    anyhow::anyhow!("{what} {}", e.describe(s))
                }
                _ => anyhow::anyhow!("{what} `{s}` is not a duration like 20h or 30d"),
            })
        })
        .transpose()
}

pub async fn create(config: &Config, args: CreateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let template = match (args.template.parse::<i64>(), &args.language) {
        (Ok(id), None) => TemplateRef::Id(id),
        (_, Some(language)) => TemplateRef::Name {
            name: args.template.clone(),
            language: language.clone(),
        },
        (Err(_), None) => anyhow::bail!(
            "--template `{}` is a name: give its --language too (or the template's id)",
            args.template
        ),
    };
    let audience_given = !args.tags.is_empty()
        || !args.without_tags.is_empty()
        || !args.fields.is_empty()
        || args.inactive_for.is_some()
        || args.active_within.is_some();
    let recipients = match &args.list {
        Some(path) => {
            let text = crate::config::regular_file::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
        }
        None => None,
    };
    if args.all && (audience_given || recipients.is_some()) {
        anyhow::bail!(
            "--all means every contact: remove it, or remove the audience options (--tag, \
             --without-tag, --field, --inactive-for, --active-within) and --list"
        );
    }
    if !audience_given && recipients.is_none() && !args.all {
        anyhow::bail!(
            "whom to send to: give an audience (--tag, --without-tag, --field, \
             --inactive-for, --active-within), a --list FILE of phone numbers, or --all for \
             every contact"
        );
    }
    let fields = pairs(&args.fields, "--field")?;
    let inactive_for = duration(&args.inactive_for, "--inactive-for")?;
    let active_within = duration(&args.active_within, "--active-within")?;
    let audience = (audience_given || recipients.is_none()).then(|| AudienceSpec {
        tags: args.tags.clone(),
        without_tags: args.without_tags.clone(),
        fields,
        inactive_for_secs: inactive_for.map(|d| d.as_secs()),
        active_within_secs: active_within.map(|d| d.as_secs()),
    });
    let start_at = args
        .start_at
        .as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    anyhow::anyhow!("--start-at `{s}` is not a time like 2026-12-01T09:00:00Z")
                })
        })
        .transpose()?;
    let req = Request {
        name: args.name.clone(),
        template: Some(template),
        sender_id: args.sender,
        variables: pairs(&args.variables, "--var")?,
        audience,
        recipients,
        start_at,
        reply_flow: args.reply_flow.clone(),
        frequency_cap: duration(&args.frequency_cap, "--frequency-cap")?,
    };
    let flows = crate::flows::load_configured(config);
    let known: Vec<String> = flows
        .set
        .as_ref()
        .map(|s| s.flows().iter().map(|f| f.id.clone()).collect())
        .unwrap_or_default();
    let exists = |id: &str| known.iter().any(|k| k == id);
    let store = open(config).await?;
    let created = plan::create(&store, config, &exists, req, SystemClock.now())
        .await
        .map_err(|e| match e {
            CreateError::Refused(r) => anyhow::anyhow!("{}: {}", r.field, r.message),
            CreateError::Store(e) => anyhow::anyhow!(e),
        })?;
    let detail = serde_json::json!({
        "recipients": created.recipients,
        "refused": created.refused.len(),
    });
    let id = created.id.to_string();
    super::audit::record(&store, "broadcasts.create", Some(&id), detail).await;
    writeln!(out, "broadcast {} created", created.id)?;
    if created.recipients > 0 {
        writeln!(out, "{} recipients listed", created.recipients)?;
    }
    for r in &created.refused {
        writeln!(out, "refused {}: {}", r.recipient, r.reason)?;
    }
    Ok(())
}

pub async fn list(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open(config).await?;
    for b in store.broadcasts(None, 200).await? {
        writeln!(
            out,
            "{}\t{}\t{}\t{} ({})",
            b.id,
            b.state.as_str(),
            b.name,
            b.template_name,
            b.template_language
        )?;
    }
    Ok(())
}

pub async fn show(config: &Config, id: i64, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open(config).await?;
    let b = store.broadcast(id).await?.ok_or_else(|| {
        anyhow::anyhow!("no broadcast has id {id}; `parley broadcasts list` shows them")
    })?;
    let counts = store.broadcast_counts(id).await?;
    let value = serde_json::json!({
        "broadcast": report::describe(&b),
        "progress": report::progress(&b, &counts),
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    Ok(())
}

pub async fn act(
    config: &Config,
    id: i64,
    action: BroadcastAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open(config).await?;
    match store
        .broadcast_action(id, action, SystemClock.now())
        .await?
    {
        None => anyhow::bail!("no broadcast has id {id}; `parley broadcasts list` shows them"),
        Some(Err(why)) => anyhow::bail!("broadcast {id}: {why}"),
        Some(Ok(state)) => {
            let action = format!("broadcasts.{}", action.as_str());
            let detail = serde_json::json!({ "state": state.as_str() });
            super::audit::record(&store, &action, Some(&id.to_string()), detail).await;
            writeln!(out, "broadcast {id} is {}", state.as_str())?
        }
    }
    Ok(())
}

async fn open(config: &Config) -> anyhow::Result<DynStore> {
    store::connect(&config.database)
        .await
        .with_context(|| format!("cannot open the database {}", config.database.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_without_an_audience_a_list_or_all_is_refused_before_anything_is_stored() {
        let config = Config::from_yaml("", "parley.yaml", &|_| None).unwrap();
        let args = CreateArgs {
            template: "45".into(),
            ..CreateArgs::default()
        };
        let mut out = Vec::new();
        let e = create(&config, args, &mut out)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("whom to send to:"), "{e}");
        assert!(e.contains("--all for every contact"), "{e}");
        assert!(out.is_empty());
        // `--all` with an audience option says two things: refused, not read as the tag.
        let args = CreateArgs {
            template: "45".into(),
            all: true,
            tags: vec!["vip".into()],
            ..CreateArgs::default()
        };
        let e = create(&config, args, &mut out)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--all means every contact"), "{e}");
        assert!(out.is_empty());
    }
}
