//! What a `send` sends that is not text: one media file (an image, a video, an audio, a
//! document or a sticker) with its caption and filename, or a location.

use super::*;

/// The media file written under `key` (`image:`, `video:`, …), with what WhatsApp shows
/// beside it.
pub(super) fn media_file(
    map: &MarkedMappingNode,
    key: &str,
    kind: MediaKind,
    problems: &mut Problems,
) -> Option<ContentSpec> {
    let node = map.get_node(key)?;
    let url = yaml::as_str(node, &format!("`{key}`"), problems)?.to_string();
    check_url(&url, yaml::pos(node), problems);
    let caption = text(map, "caption", problems);
    if let Some(c) = &caption {
        if matches!(kind, MediaKind::Audio | MediaKind::Sticker) {
            problems.error(
                yaml::pos(map.get_node("caption")?),
                format!("WhatsApp does not show captions on {key} messages"),
                None,
            );
        }
        check_len(
            c,
            BODY_MAX,
            "the caption",
            yaml::pos(map.get_node("caption")?),
            problems,
        );
    }
    let filename = text(map, "filename", problems);
    if filename.is_some() && kind != MediaKind::Document {
        problems.error(
            yaml::pos(map.get_node("filename")?),
            "only documents have a `filename`",
            None,
        );
    }
    Some(ContentSpec::Media {
        media: kind,
        url,
        caption,
        filename,
    })
}

/// `location: { latitude, longitude, name, address }`, each coordinate in its range.
pub(super) fn location(
    node: &YamlNode,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
    let loc = yaml::as_map(node, "`location`", problems)?;
    blanks::check_keys(loc, &["name", "address"], ctx, problems);
    yaml::check_keys(
        loc,
        &["latitude", "longitude", "name", "address"],
        "a location",
        problems,
    );
    let coord = |key: &str, limit: f64, problems: &mut Problems| -> Option<f64> {
        let n = loc.get_node(key);
        let Some(n) = n else {
            problems.error(
                yaml::pos(node),
                format!("the location needs a `{key}`"),
                None,
            );
            return None;
        };
        let v = yaml::as_f64(n, &format!("`{key}`"), problems)?;
        if v.abs() > limit {
            problems.error(
                yaml::pos(n),
                format!("`{key}` must be between -{limit} and {limit}"),
                None,
            );
        }
        Some(v)
    };
    let latitude = coord("latitude", 90.0, problems);
    let longitude = coord("longitude", 180.0, problems);
    Some(ContentSpec::Location {
        latitude: latitude?,
        longitude: longitude?,
        name: text(loc, "name", problems),
        address: text(loc, "address", problems),
    })
}
