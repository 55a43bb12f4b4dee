//! What a project's flows are checked against beyond their own files: the deployment the
//! config describes. A leaf of `flows/`, read by the loader and the compiler alike.

/// What the running deployment offers flows, for the checks that need the config: which
/// senders a schedule can use, whether `http` steps may call private addresses.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub sender_ids: Vec<i64>,
    /// Twilio senders, on which some content cannot go out as written (a reaction) or
    /// at all (a `form`).
    pub twilio_sender_ids: Vec<i64>,
    pub allow_private_networks: bool,
    /// The names of the config's chat models (`models:` without `embeddings: true`), which
    /// `agent` steps and judges name.
    pub model_names: Vec<String>,
    /// The names of the config's embedding models (`embeddings: true`), which an agent's
    /// `retrieval: { embeddings: NAME }` names.
    pub embedding_models: Vec<String>,
    /// Those of them with no prices, on which a `cost` budget never stops anything.
    pub unpriced_models: Vec<String>,
}

impl Deployment {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            sender_ids: config.senders.iter().map(|s| s.id).collect(),
            twilio_sender_ids: config
                .senders
                .iter()
                .filter(|s| s.channel == crate::config::ChannelKind::Twilio)
                .map(|s| s.id)
                .collect(),
            allow_private_networks: config.flows.allow_private_networks,
            model_names: crate::config::chat_model_names(&config.models),
            embedding_models: crate::config::embedding_model_names(&config.models),
            unpriced_models: config
                .models
                .iter()
                .filter(|m| m.price_input <= 0.0 && m.price_output <= 0.0)
                .map(|m| m.name.clone())
                .collect(),
        }
    }
}
