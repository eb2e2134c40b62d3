//! ragkeys: the API Key management page of a RAG service as a terminal console, the key service
//! it talks to over HTTP, and commands for scripts. Three rooms that speak only [`wire`]:
//! [`server`] (the only one that knows SQL, through its store), [`console`] and [`cli`] (which
//! know HTTP only through [`client`]).

pub mod args;
pub mod charset;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod console;
pub mod credential;
pub mod narrowing;
pub mod policy;
pub mod sanitize;
pub mod server;
pub mod wire;
