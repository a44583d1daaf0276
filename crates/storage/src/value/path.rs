//! Dotted paths (`a.b.0.c`) and MongoDB's rules for walking them through documents and arrays.
