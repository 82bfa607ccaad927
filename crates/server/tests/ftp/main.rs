//! Integration tests: the real server on port 0, driven by suppaftp and raw sockets,
//! and with `FERROFTP_INTEROP=1` by curl, lftp, tnftp and Python's ftplib.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod accounts;
mod attacks;
mod bad_input;
mod common;
mod ftps;
mod interop;
mod protocol;
mod transfers;
