//! Boot: the entry code, reading what the boot loader gives, and building
//! the root task.
pub mod ap_start;
pub mod entry;
pub mod multiboot;
pub mod root_task;
