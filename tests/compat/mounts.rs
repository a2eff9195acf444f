//! (scenarios of this area go here)
