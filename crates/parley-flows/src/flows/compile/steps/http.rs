//! `http`: a request to the author's service, checked at load.

use super::*;

pub(super) fn http(
    b: &mut Builder<'_>,
    value: &YamlNode,
    index: usize,
    problems: &mut Problems,
) -> Option<HttpSpec> {
    let m = yaml::as_map(value, "`http`", problems)?;
    yaml::check_keys(m, HTTP_KEYS, "an `http` step", problems);
    let method = match m
        .get_node("method")
        .and_then(|n| yaml::as_str(n, "`method`", problems))
    {
        None => reqwest::Method::GET,
        Some(s) => match s.to_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            "DELETE" => reqwest::Method::DELETE,
            other => {
                problems.error(
                    yaml::pos(m.get_node("method")?),
                    format!("`{other}` is not an HTTP method"),
                    Some("use GET, POST, PUT, PATCH or DELETE".into()),
                );
                return None;
            }
        },
    };
    let Some(url) = m
        .get_node("url")
        .and_then(|n| yaml::as_str(n, "`url`", problems))
    else {
        problems.error(yaml::pos(value), "`http` needs `url:`", None);
        return None;
    };
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("{{")) {
        problems.error(
            yaml::pos(m.get_node("url")?),
            format!("`{url}` is not a web address"),
            Some("it must start with https:// or http://".into()),
        );
    }
    blanks::check_keys(m, &["url"], b.ctx, problems);
    private_url::check(url, m.get_node("url")?, b.ctx, problems);
    if let Some(body) = m.get_node("body") {
        blanks::check_all(body, b.ctx, problems);
    }
    let mut headers = Vec::new();
    if let Some(h) = m
        .get_node("headers")
        .and_then(|n| yaml::as_map(n, "`headers`", problems))
    {
        blanks::check_all(m.get_node("headers")?, b.ctx, problems);
        for (k, v) in h.iter() {
            if reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).is_err() {
                problems.error(
                    yaml::scalar_pos(k),
                    format!("`{}` is not a header name", k.as_str()),
                    Some(
                        "header names are one word of letters, digits and `-`, like `X-Api-Key`"
                            .into(),
                    ),
                );
            }
            if let Some(v) = yaml::as_str(v, &format!("header `{}`", k.as_str()), problems) {
                headers.push((k.as_str().to_string(), v.to_string()));
            }
        }
    }
    let body = m.get_node("body").map(to_json);
    let timeout = m
        .get_node("timeout")
        .and_then(|n| yaml::as_duration(n, "`timeout`", problems))
        .unwrap_or(Duration::from_secs(10));
    if timeout > Duration::from_secs(30) {
        problems.error(
            yaml::pos(m.get_node("timeout")?),
            "an `http` step may wait at most 30s",
            Some("the customer is waiting for the answer".into()),
        );
    } else if timeout.is_zero() {
        problems.error(
            yaml::pos(m.get_node("timeout")?),
            "an `http` step with a `timeout` of 0 never gets an answer",
            Some("leave it out for the default, 10s, or give a few seconds".into()),
        );
    }
    let save_as = m
        .get_node("save_as")
        .and_then(|n| yaml::as_str(n, "`save_as`", problems))
        .map(|s| s.strip_prefix("vars.").unwrap_or(s).to_string());
    if let (Some(name), Some(n)) = (&save_as, m.get_node("save_as")) {
        check_save_as(name, n, problems);
    }
    let on_error = m
        .get_node("on_error")
        .map(|n| b.branch(n, index, Slot::OnError, problems));
    Some(HttpSpec {
        method,
        url: url.to_string(),
        headers,
        body,
        timeout,
        save_as,
        on_error,
    })
}

/// YAML body → JSON, keeping numbers, booleans and nulls that were written plainly, by
/// the same rule as `set` (`plain_value`): a quoted value, or one a number would change
/// (`+34600000001`), is text.
pub(in crate::flows::compile) fn to_json(node: &YamlNode) -> serde_json::Value {
    match node {
        YamlNode::Scalar(s) => {
            if let Some(value) = plain_value(node) {
                return value;
            }
            if s.may_coerce() && matches!(s.as_str(), "null" | "~") {
                return serde_json::Value::Null;
            }
            s.as_str().into()
        }
        YamlNode::Sequence(seq) => seq.iter().map(to_json).collect(),
        YamlNode::Mapping(m) => m
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}
