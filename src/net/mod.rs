//! Outbound HTTP that someone other than the operator points somewhere: `http` steps in
//! flows and the API's media checks. `address` says which IP addresses are internal,
//! `guard` keeps requests (and their redirects, and DNS answers) away from them, `body`
//! reads answers without letting a server decide how much memory Parley uses.

pub mod address;
pub mod body;
pub mod guard;

pub use address::{is_forbidden, is_metadata};
pub use body::{read_limited, BodyError};
pub use guard::{client_builder, refusal, refused_address, Guard, Refused, MAX_REDIRECTS};

/// The client files are downloaded with (inbound media, voice notes to transcribe): the
/// whole download within `timeout`, at most 3 redirects (reqwest drops credentials on a
/// redirect to another host).
pub fn media_client(timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
}
