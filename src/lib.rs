//! cordon: a sandbox launcher for local MCP servers.
//!
//! The order of operations for `cordon run` lives in [`app`]; everything
//! else is one concern per module, with dependencies pointing one way:
//! `cli → app → (profile, consent, launch, relay) → (sandbox, policy, sys)`.

pub mod app;
pub mod approval;
pub mod cli;
pub mod clock;
pub mod consent;
pub mod destination;
pub mod dirs;
pub mod doctor;
pub mod egress;
pub mod error;
pub mod exit;
pub mod explain;
pub mod files;
pub mod generate;
pub mod hostconfig;
pub mod launch;
pub mod learn;
pub mod logging;
mod manual;
pub mod mcp;
pub mod policy;
pub mod profile;
pub mod realpath;
pub mod relay;
pub mod sandbox;
pub mod session;
pub mod sockets;
pub mod store;
pub mod sys;
pub mod vet;
