//! ferry-backends integration tests, one binary (style.md §5): the behavior suite run against
//! every storage, the directory storage's own failure cases, and the layout vectors.

mod behavior;
mod directory;
mod fault_proxy;
mod faults;
mod gdrive;
mod gdrive_fake;
mod large;
mod layout_vectors;
mod servers;
