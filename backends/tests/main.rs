//! ferry-backends integration tests, one binary (style.md §5): the behavior suite run against
//! every storage, the directory storage's own failure cases, the layout vectors, and ferry's
//! encryption layer (`SealedBackend`) under attack.

mod behavior;
mod directory;
mod fault_proxy;
mod faults;
mod gdrive;
mod gdrive_fake;
mod large;
mod layout_vectors;
mod parallel_reads;
mod s3_multipart;
mod sealed;
mod servers;
