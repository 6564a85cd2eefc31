//! Docker Engine API wire types shared by every Berth crate: errors, API versions, filters, and
//! the JSON shapes of the system API.
//!
//! Nothing here knows about HTTP servers or containerd; it is the vocabulary the routers and the
//! engine speak to each other.

pub mod container;
mod error;
pub mod filters;
pub mod go_json;
pub mod image;
pub mod network;
pub mod params;
pub mod stdcopy;
pub mod system;
mod version;
pub mod volume;

pub use error::{Error, ErrorKind, Result, error_chain};
pub use filters::Filters;
pub use version::{ApiVersion, MAX_API_VERSION, MIN_API_VERSION};
