//! The query language on single documents: filters, projections, sorts and update operators.
//! Pure functions of documents; the engine decides which documents to feed them.

pub mod filter;
pub mod projection;
pub mod sort;
pub mod update;

pub use filter::Filter;
pub use projection::Projection;
pub use sort::SortSpec;
pub use update::Update;
