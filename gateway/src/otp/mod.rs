//! OTP extraction; filled in by its own work item.
