//! wsgen
