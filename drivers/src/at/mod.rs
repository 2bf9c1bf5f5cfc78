//! See the crate map in lib.rs; filled in by its own work item.
