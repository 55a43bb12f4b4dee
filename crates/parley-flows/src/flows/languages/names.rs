//! Language codes (`en`, `pt_BR`) and each language's name in itself.

/// Whether `code` is a language code as flows write them: two or three small letters,
/// optionally `_` and a two-letter region in capitals (`en`, `fil`, `pt_BR`).
pub fn valid_code(code: &str) -> bool {
    let (lang, region) = match code.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (code, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

/// Code, name in itself, name in English.
const NAMES: &[(&str, &str, &str)] = &[
    ("af", "Afrikaans", "Afrikaans"),
    ("ar", "العربية", "Arabic"),
    ("bn", "বাংলা", "Bengali"),
    ("ca", "Català", "Catalan"),
    ("cs", "Čeština", "Czech"),
    ("da", "Dansk", "Danish"),
    ("de", "Deutsch", "German"),
    ("el", "Ελληνικά", "Greek"),
    ("en", "English", "English"),
    ("es", "Español", "Spanish"),
    ("fa", "فارسی", "Persian"),
    ("fi", "Suomi", "Finnish"),
    ("fil", "Filipino", "Filipino"),
    ("fr", "Français", "French"),
    ("gu", "ગુજરાતી", "Gujarati"),
    ("he", "עברית", "Hebrew"),
    ("hi", "हिन्दी", "Hindi"),
    ("hr", "Hrvatski", "Croatian"),
    ("hu", "Magyar", "Hungarian"),
    ("id", "Bahasa Indonesia", "Indonesian"),
    ("it", "Italiano", "Italian"),
    ("ja", "日本語", "Japanese"),
    ("kn", "ಕನ್ನಡ", "Kannada"),
    ("ko", "한국어", "Korean"),
    ("ml", "മലയാളം", "Malayalam"),
    ("mr", "मराठी", "Marathi"),
    ("ms", "Bahasa Melayu", "Malay"),
    ("nb", "Norsk bokmål", "Norwegian"),
    ("nl", "Nederlands", "Dutch"),
    ("pa", "ਪੰਜਾਬੀ", "Punjabi"),
    ("pl", "Polski", "Polish"),
    ("pt", "Português", "Portuguese"),
    ("pt_BR", "Português (Brasil)", "Brazilian Portuguese"),
    ("pt_PT", "Português (Portugal)", "European Portuguese"),
    ("ro", "Română", "Romanian"),
    ("ru", "Русский", "Russian"),
    ("sk", "Slovenčina", "Slovak"),
    ("sv", "Svenska", "Swedish"),
    ("sw", "Kiswahili", "Swahili"),
    ("ta", "தமிழ்", "Tamil"),
    ("te", "తెలుగు", "Telugu"),
    ("th", "ไทย", "Thai"),
    ("tr", "Türkçe", "Turkish"),
    ("uk", "Українська", "Ukrainian"),
    ("ur", "اردو", "Urdu"),
    ("vi", "Tiếng Việt", "Vietnamese"),
    ("zh", "中文", "Chinese"),
    ("zh_CN", "中文 (简体)", "Simplified Chinese"),
    ("zh_TW", "中文 (繁體)", "Traditional Chinese"),
];

/// The language's name in itself (`es` → `Español`), for ~50 common languages; a regional
/// code without its own entry takes its base language's (`es_MX` → `Español`).
pub fn native_name(code: &str) -> Option<&'static str> {
    entry(code).map(|e| e.1)
}

/// The language's name in English (`es` → `Spanish`), for authors' messages.
pub fn english_name(code: &str) -> Option<&'static str> {
    entry(code).map(|e| e.2)
}

fn entry(code: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let find = |c: &str| NAMES.iter().find(|e| e.0 == c);
    find(code).or_else(|| find(code.split('_').next()?))
}
