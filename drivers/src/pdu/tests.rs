//! Unit tests of the PDU codec.

use super::*;
