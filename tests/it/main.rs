//! End-to-end tests through the public surface: real HTTP server on port 0, real database,
//! provider doubles (wiremock) on loopback, and the real binary for crash tests.

mod audience;
mod crash;
mod delivery;
mod flows;
mod helpers;
mod postgres;
mod schedules;
mod webhooks;
