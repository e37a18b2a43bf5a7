//! The few unsafe system calls rctdb needs, each behind a safe function.
