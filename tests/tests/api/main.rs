//! End-to-end tests: the handlers against moto and the local OAuth server. One test binary
//! (one link of the SDK-heavy dependency tree); `TEST_LOG=1` shows the service's logs.

mod account_fields;
mod app_events;
mod beside;
mod completion;
mod contacts;
mod contract;
mod cors;
mod envelopes;
mod event_writes;
mod events;
mod flow;
mod gateway;
mod generated;
mod input;
mod isolation;
mod layers;
mod lifecycle;
mod logs;
mod moto_server;
mod operations;
mod provider_named;
mod providers;
mod rate_limits;
mod redirects;
mod scheduler;
mod secrets;
mod state;
mod sync;
mod sync_defaults;
