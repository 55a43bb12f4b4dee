//! End-to-end tests through the public surface: real HTTP server on port 0, real database,
//! provider doubles (wiremock) on loopback, and the real binary for crash tests.

mod api;
mod api_messages_v1;
mod api_props;
mod api_reads;
mod audience;
mod bad_input;
mod connections;
mod crash;
mod delivery;
mod exposure;
mod faults;
mod flow_limits;
mod flow_tests;
mod flows;
mod fuzz;
mod fuzz_flows;
mod fuzz_sandbox;
mod helpers;
mod layers;
mod outage;
mod ownership;
mod pages;
mod postgres;
mod reminders_and_waits;
mod sandbox;
mod sandbox_handoff;
mod sandbox_page;
mod schedules;
mod script_pool;
mod ssrf;
mod unknown_outcome;
mod webhook_batches;
mod webhooks;
