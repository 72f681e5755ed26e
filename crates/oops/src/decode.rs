//! Decoding an oops' `Code:` window (placeholder, filled below).
