//! BSON values as MongoDB sees them: the comparison order, decimal128 arithmetic for it,
//! dotted paths, and the order-preserving key encoding used by indexes.

pub mod collation;
pub mod compare;
pub mod decimal;
pub mod hash;
pub mod keyenc;
pub mod path;
pub mod size;

pub use collation::Collation;
pub use compare::{compare, compare_with, equal, equal_with, type_rank, Number};
